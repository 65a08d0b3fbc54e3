import { afterEach, describe, expect, it } from 'vitest';
import { isManager, isServer, state } from '../../src/store.js';

describe('who serves the dashboard', () => {
  afterEach(() => {
    state.manager = {};
  });

  it('shows nothing of a Manager until GET /api/manager said which', () => {
    state.manager = {};
    expect(isManager()).toBe(false);
    expect(isServer()).toBe(false);
  });

  it('knows a Server', () => {
    state.manager = { mode: 'server' };
    expect(isServer()).toBe(true);
    expect(isManager()).toBe(false);
  });

  it("knows a Manager (its config's mode)", () => {
    for (const mode of ['production', 'develop']) {
      state.manager = { mode };
      expect(isManager()).toBe(true);
      expect(isServer()).toBe(false);
    }
  });
});
