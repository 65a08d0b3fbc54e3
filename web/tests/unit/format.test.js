import { describe, expect, it } from 'vitest';
import {
  absoluteTime,
  countBy,
  formatSize,
  jobActions,
  jobProgress,
  relativeTime,
  requestedStatusLabel,
  scheduleView,
  shortId,
  statusClass,
  statusLabel,
  sumTaskStatuses,
} from '../../src/format.js';

describe('statuses', () => {
  it('maps job, task and worker statuses to one palette', () => {
    expect(statusClass('completed')).toBe('status-completed');
    expect(statusClass('soft-failed')).toBe('status-soft-failed');
    expect(statusClass('awake')).toBe('status-active');
    expect(statusClass('asleep')).toBe('status-paused');
    expect(statusClass('claimed-by-manager')).toBe('status-queued');
    expect(statusClass('timeout')).toBe('status-soft-failed');
    expect(statusClass('no-such-status')).toBe('status-unknown');
    expect(statusClass(undefined)).toBe('status-unknown');
  });
  it('labels statuses readably', () => {
    expect(statusLabel('cancel-requested')).toBe('cancel requested');
    expect(statusLabel('')).toBe('—');
  });
  it('shows lazy and immediate requests differently', () => {
    expect(requestedStatusLabel('asleep', true)).toBe('⇢ asleep (after task)');
    expect(requestedStatusLabel('asleep', false)).toBe('→ asleep');
    expect(requestedStatusLabel('', true)).toBe('');
  });
});

describe('relative times', () => {
  const now = new Date('2026-11-27T12:00:00Z');
  it.each([
    ['2026-11-27T12:00:00Z', 'just now'],
    ['2026-11-27T11:59:58Z', 'just now'],
    ['2026-11-27T11:59:30Z', '30 s ago'],
    ['2026-11-27T11:57:00Z', '3 min ago'],
    ['2026-11-27T10:00:00Z', '2 h ago'],
    ['2026-11-26T11:00:00Z', '1 day ago'],
    ['2026-11-20T12:00:00Z', '7 days ago'],
    ['2026-11-27T12:05:00Z', 'in 5 min'],
  ])('%s is %s', (t, want) => {
    expect(relativeTime(t, now)).toBe(want);
  });
  it('says never for missing or invalid times', () => {
    expect(relativeTime(undefined, now)).toBe('never');
    expect(relativeTime('', now)).toBe('never');
    expect(relativeTime('garbage', now)).toBe('never');
  });
  it('formats absolute local times for tooltips', () => {
    const d = new Date(2026, 10, 27, 8, 5, 9);
    expect(absoluteTime(d)).toBe('2026-11-27 08:05:09');
    expect(absoluteTime(null)).toBe('');
  });
});

describe('sizes', () => {
  it.each([
    [0, '0 B'],
    [512, '512 B'],
    [1024, '1 KiB'],
    [1536, '1.5 KiB'],
    [10 * 1024 * 1024, '10 MiB'],
    [3.25 * 1024 ** 3, '3.3 GiB'],
  ])('%d bytes is %s', (n, want) => {
    expect(formatSize(n)).toBe(want);
  });
  it('handles missing sizes', () => {
    expect(formatSize(undefined)).toBe('—');
  });
});

describe('jobs and workers', () => {
  it('computes progress from tasks_status', () => {
    expect(jobProgress({ count: 4, completed: 1, active: 2 })).toEqual({ done: 1, total: 4, percent: 25 });
    expect(jobProgress(undefined)).toEqual({ done: 0, total: 0, percent: 0 });
  });
  it('shows the implied schedule defaults', () => {
    expect(scheduleView({ schedule_active: false, days_of_week: '', time_start: null, time_end: null })).toEqual({
      active: false,
      days: 'every day',
      start: '00:00',
      end: '24:00',
    });
    expect(scheduleView({ schedule_active: true, days_of_week: 'mo tu', time_start: '09:00', time_end: '18:00' })).toEqual({
      active: true,
      days: 'mo tu',
      start: '09:00',
      end: '18:00',
    });
    expect(scheduleView(undefined).days).toBe('every day');
  });
  it('counts and sums statuses for the farm header', () => {
    expect(countBy([{ status: 'awake' }, { status: 'awake' }, { status: '' }])).toEqual({ awake: 2, unknown: 1 });
    expect(
      sumTaskStatuses([{ tasks_status: { count: 3, queued: 2, completed: 1 } }, { tasks_status: { count: 1, queued: 1 } }]),
    ).toEqual({ queued: 3, completed: 1 });
  });
  it('offers only job actions that can apply', () => {
    expect(jobActions('completed')).toMatchObject({ cancel: false, requeue: true, pause: false, resume: false });
    expect(jobActions('active')).toMatchObject({ cancel: true, pause: true, resume: false });
    expect(jobActions('paused')).toMatchObject({ resume: true, pause: false });
  });
  it('shortens IDs to the last 4 characters', () => {
    expect(shortId('5f2a3b4c5d6e7f8091a2b3c4')).toBe('…b3c4');
    expect(shortId('')).toBe('');
  });
});
