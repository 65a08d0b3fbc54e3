// Browser end-to-end tests of the dashboard: Debian's chromium, driven by
// playwright-core, against a real duende-manager with two real
// duende-worker processes on 127.0.0.1 (ephemeral port, temp directories).
//
// Environment (CTest sets these, see web/CMakeLists.txt):
//   DUENDE_BIN_DIR    directory with duende-manager and duende-worker
//   DUENDE_WEB_DIR    the built dashboard (web/dist)
//   DUENDE_ARTIFACTS  where screenshots go (default: a temp directory)
//   CHROMIUM          the browser (default /usr/bin/chromium)
// Run by hand: node web/tests/e2e.mjs [name-substring]
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = process.env.DUENDE_BIN_DIR || path.resolve(here, '../../build/bin');
const WEB = process.env.DUENDE_WEB_DIR || path.resolve(here, '../dist');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'duende-browser-'));
const ARTIFACTS = process.env.DUENDE_ARTIFACTS || path.join(os.tmpdir(), 'duende-browser-artifacts');
fs.mkdirSync(ARTIFACTS, { recursive: true });
const only = process.argv[2] || '';

const procs = [];
function start(name, argv, dir) {
  fs.mkdirSync(dir, { recursive: true });
  const out = fs.openSync(path.join(dir, `${name}.log`), 'a');
  const p = spawn(argv[0], argv.slice(1), { stdio: ['ignore', out, out] });
  procs.push({ name, p, log: path.join(dir, `${name}.log`) });
  return p;
}
function stopAll() {
  for (const { p } of procs) if (p.exitCode === null) p.kill('SIGTERM');
}
process.on('exit', stopAll);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitFor(what, fn, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}
function assert(cond, msg) {
  if (!cond) throw new Error('assertion failed: ' + msg);
}

// --- the farm -------------------------------------------------------------
// People: an operator and a viewer with passwords, an admin with a token,
// hashed by the Manager's own commands. A blacklist threshold of 1 makes a
// failing task blacklist its worker at once (the blacklist test).
const mgrDir = path.join(TMP, 'manager');
fs.mkdirSync(mgrDir, { recursive: true });
function managerTool(args, input) {
  const r = spawnSync(path.join(BIN, 'duende-manager'), args, { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`duende-manager ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const PASSWORDS = { olga: 'olga-pass-1', vic: 'vic-pass-1' };
const newToken = Object.fromEntries(managerTool(['--new-token']).trim().split('\n').map((l) => l.split(': ')));
const ADMIN_TOKEN = newToken.token;
fs.writeFileSync(
  path.join(mgrDir, 'manager.yaml'),
  [
    'blacklist_threshold: 1',
    'users:',
    `  - {name: olga, role: operator, password_hash: "${managerTool(['--hash-password'], PASSWORDS.olga + '\n').trim()}"}`,
    `  - {name: vic, role: viewer, password_hash: "${managerTool(['--hash-password'], PASSWORDS.vic + '\n').trim()}"}`,
    `  - {name: root, role: admin, token_hash: "${newToken.token_hash}"}`,
    '',
  ].join('\n'),
);
start('manager', [path.join(BIN, 'duende-manager'), '--listen', '127.0.0.1:0', '--data-dir', mgrDir, '--web-dir', WEB,
  '--config', path.join(mgrDir, 'manager.yaml')], mgrDir);
const url = await waitFor('manager.url', () => {
  try {
    return fs.readFileSync(path.join(mgrDir, 'manager.url'), 'utf8').trim();
  } catch {
    return '';
  }
});

const AUTH = { Authorization: `Bearer ${ADMIN_TOKEN}` };
async function apiGet(p) {
  const r = await fetch(url + p, { headers: AUTH });
  if (!r.ok) throw new Error(`GET ${p}: ${r.status}`);
  return r.json();
}
async function apiPost(p, body) {
  const r = await fetch(url + p, { method: 'POST', headers: { 'Content-Type': 'application/json', ...AUTH }, body: JSON.stringify(body) });
  const text = await r.text();
  if (!r.ok) throw new Error(`POST ${p}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}
// A raw GET, so the path reaches the server exactly as written.
function rawGet(p, headers = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    http
      .get({ host: u.hostname, port: u.port, path: p, headers }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}

const fastWorker = ['--task-types', 'sleep debug', '--poll-interval', '200ms', '--may-i-run-interval', '500ms',
  '--sleep-poll-interval', '500ms', '--push-log-interval', '300ms', '--push-activity-interval', '300ms'];
for (const nick of ['w1', 'w2']) {
  const dir = path.join(TMP, nick);
  start(nick, [path.join(BIN, 'duende-worker'), '--manager', url, '--data-dir', dir, '--nickname', nick, ...fastWorker], dir);
}
await waitFor('two awake workers', async () => (await apiGet('/api/workers')).workers.filter((w) => w.status === 'awake').length === 2);
const workerId = async (nick) => (await apiGet('/api/workers')).workers.find((w) => w.nickname === nick)._id;

// --- the browser ----------------------------------------------------------
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const page = await context.newPage();
const consoleErrors = [];
page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
page.on('pageerror', (e) => consoleErrors.push(e.message));
page.setDefaultTimeout(20000);
const shot = (name) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });

async function submit(job) {
  return apiPost('/api/jobs', { submitter: 'browser-test', priority: 50, ...job });
}

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

test('serves the dashboard with caching headers and refuses path traversal', async () => {
  const index = await rawGet('/');
  assert(index.status === 200 && index.body.includes('<div id="app">'), 'index.html at /');
  assert(index.headers['cache-control'] === 'no-cache', 'index.html is no-cache, got ' + index.headers['cache-control']);
  const asset = index.body.match(/\/assets\/[^"]+\.js/)[0];
  const a = await rawGet(asset);
  assert(a.status === 200 && a.headers['content-type'].startsWith('text/javascript'), 'asset served as JS');
  assert(a.headers['cache-control'] === 'public, max-age=31536000, immutable', 'asset immutable, got ' + a.headers['cache-control']);
  for (const bad of ['/%2e%2e/%2e%2e/etc/passwd', '/assets/..%2f..%2f..%2fetc/passwd', '/assets/..%5c..%5cetc%5cpasswd', '/assets/..']) {
    const r = await rawGet(bad);
    assert((r.status === 400 || r.status === 404) && !r.body.includes('root:'), `${bad} refused, got ${r.status}`);
  }
  assert((await rawGet('/assets/..')).status === 400, '/assets/.. is 400');
  assert((await rawGet('/assets/nope.js')).status === 404, 'missing asset is 404');
  const apiMissing = await rawGet('/api/nope');
  assert(apiMissing.status === 404 && apiMissing.headers['content-type'].startsWith('application/json'), 'API 404 stays JSON');
  // The data needs a login; the health check does not.
  const anon = await rawGet('/api/jobs');
  assert(anon.status === 401 && JSON.parse(anon.body).message.startsWith('authentication required'), 'anonymous /api/jobs is 401 JSON, got ' + anon.status);
  assert((await rawGet('/api/health')).status === 200, 'health is public');
});

test('a wrong password shows a clear message on the login page', async () => {
  await page.goto(url + '/#/jobs');
  const form = page.getByTestId('login-form');
  await form.waitFor();
  await form.getByLabel('User').fill('olga');
  await form.getByLabel('Password').fill('not-her-password');
  await form.getByRole('button', { name: 'Log in' }).click();
  const msg = page.getByTestId('login-message');
  await msg.waitFor();
  assert((await msg.textContent()).trim() === 'wrong user name or password', 'message: ' + (await msg.textContent()));
  assert((await page.getByTestId('jobs-table').count()) === 0, 'no data shown');
  await shot('login-wrong-password');
});

test('log in with user and password, keyboard only', async () => {
  await page.goto(url + '/#/jobs');
  await page.getByTestId('login-form').waitFor();
  await page.getByLabel('User').fill(''); // the page may still hold the last attempt
  await page.getByLabel('User').focus();
  await page.keyboard.type('olga');
  await page.keyboard.press('Tab');
  await page.keyboard.type(PASSWORDS.olga);
  await page.keyboard.press('Enter');
  await page.getByTestId('jobs-table').waitFor();
  assert((await page.getByTestId('who').textContent()).includes('olga (operator)'), 'logged in as olga');
  // The session is an HttpOnly cookie: page scripts cannot read it.
  assert(!(await page.evaluate(() => document.cookie)).includes('duende_session'), 'cookie is HttpOnly');
  await page.getByText('live', { exact: true }).waitFor();
  await shot('login-jobs');
});

test('the #token= URL logs in and leaves no token behind; a viewer may not act', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const p2 = await ctx.newPage();
  await p2.goto(url + '/#token=' + encodeURIComponent(ADMIN_TOKEN));
  await p2.getByTestId('jobs-table').waitFor();
  assert((await p2.getByTestId('who').textContent()).includes('root (admin)'), 'logged in as root');
  assert(!p2.url().includes(ADMIN_TOKEN), 'token removed from the address bar: ' + p2.url());
  await p2.getByRole('button', { name: 'Log out' }).click();
  await p2.getByTestId('login-form').waitFor();
  // A viewer sees the farm, and the Manager refuses an action with a message.
  await p2.getByLabel('User').fill('vic');
  await p2.getByLabel('Password').fill(PASSWORDS.vic);
  await p2.getByRole('button', { name: 'Log in' }).click();
  await p2.getByTestId('jobs-table').waitFor();
  const status = await p2.evaluate(async () => (await fetch('/api/workers/status', { method: 'POST', body: '{}' })).status);
  assert(status === 403, 'viewer action refused with 403, got ' + status);
  await ctx.close();
});

test('worker rows render inside the table body', async () => {
  await page.goto(url + '/#/workers');
  const rows = page.locator('[data-testid=workers-table] > tbody > tr.worker-row');
  await rows.first().waitFor();
  await waitFor('two rows', async () => (await rows.count()) === 2);
  const placement = await page.evaluate(() =>
    [...document.querySelectorAll('.worker-row')].map((r) => ({
      parent: r.parentElement.tagName,
      inTable: r.closest('table')?.dataset.testid,
    })),
  );
  assert(placement.length === 2, 'two worker rows in the document');
  for (const p of placement) assert(p.parent === 'TBODY' && p.inTable === 'workers-table', 'row inside the tbody: ' + JSON.stringify(p));
  // Defaults of an unset schedule are shown.
  const w1 = page.locator('tr.worker-row', { hasText: 'w1' });
  assert((await w1.getByTestId('schedule-text').textContent()).trim() === 'every day, 00:00–24:00', 'schedule defaults');
  await page.getByText('live', { exact: true }).waitFor();
  await shot('workers');
});

test('edit a sleep schedule inline and see it saved', async () => {
  await page.goto(url + '/#/workers');
  const row = page.locator('tr.worker-row', { hasText: 'w2' });
  await row.getByRole('button', { name: 'Edit sleep schedule of w2' }).click();
  const form = row.locator('form.sched-form');
  await form.getByLabel('active').uncheck(); // inactive: the scheduler leaves w2 awake
  await form.locator('input[name=days_of_week]').fill('mo tu');
  await form.locator('input[name=time_start]').fill('09:00');
  await form.locator('input[name=time_end]').fill('17:00');
  await shot('schedule-editing');
  await form.getByRole('button', { name: 'Save' }).click();
  await waitFor('saved schedule shown', async () => (await row.getByTestId('schedule-text').textContent()).trim() === 'mo tu, 09:00–17:00');
  const saved = await apiGet(`/api/workers/${await workerId('w2')}/sleep-schedule`);
  assert(saved.days_of_week === 'mo tu' && saved.time_start === '09:00' && saved.time_end === '17:00', 'stored: ' + JSON.stringify(saved));
  assert(saved.schedule_active === false, 'stored inactive');
  // The details show ID and the (empty) blacklist.
  await row.getByRole('button', { name: 'Details of w2' }).click();
  await page.locator('tr.worker-details').getByText('Not blacklisted anywhere.').waitFor();
  await shot('worker-details');
});

test('watch a job go from queued to completed in the jobs table', async () => {
  await page.goto(url + '/#/jobs');
  await page.getByTestId('jobs-table').waitFor();
  const job = await submit({
    name: 'browser-sleep', job_type: 'sleep', start_paused: true,
    settings: { frames: '1-2', chunk_size: 1, time_in_seconds: 1 },
  });
  const row = page.locator(`tr[data-job-id="${job._id}"]`);
  await row.waitFor(); // arrives through /api/events, no reload
  assert((await row.getAttribute('data-status')) === 'paused', 'submitted paused');
  // Record every status the row shows from now on.
  await page.evaluate((id) => {
    window.__seen = [];
    const el = () => document.querySelector(`tr[data-job-id="${id}"]`);
    const note = () => {
      const s = el()?.dataset.status;
      if (s && window.__seen[window.__seen.length - 1] !== s) window.__seen.push(s);
    };
    new MutationObserver(note).observe(document.querySelector('[data-testid=jobs-table] tbody'), {
      subtree: true, attributes: true, childList: true,
    });
  }, job._id);
  await row.getByRole('button', { name: 'Resume browser-sleep' }).click();
  await waitFor('job completed in the table', async () => (await row.getAttribute('data-status')) === 'completed', 30000);
  const seen = await page.evaluate(() => window.__seen);
  const queuedAt = seen.indexOf('queued');
  assert(queuedAt >= 0 && !seen.slice(queuedAt).includes('paused') && seen.at(-1) === 'completed',
    'statuses seen: ' + seen.join(' → '));
  assert((await row.locator('.progress-text').textContent()).trim() === '2 / 2', 'progress 2 / 2');
  await shot('jobs');
});

test("open a task's log and see lines arrive live", async () => {
  // The task prints six lines, then waits for the test to have seen them
  // before printing six more: lines arrive while the page watches, however
  // slowly the page came up on a busy machine.
  const gate = path.join(TMP, 'log-gate');
  const job = await submit({
    name: 'browser-log', job_type: 'exec-command',
    settings: {
      cmd: `sh -c 'for i in 1 2 3 4 5 6; do echo live-line-$i; sleep 0.2; done; ` +
        `while [ ! -e ${gate} ]; do sleep 0.1; done; ` +
        `for i in 7 8 9 10 11 12; do echo live-line-$i; sleep 0.2; done'`,
    },
  });
  const tasks = (await apiGet(`/api/jobs/${job._id}/tasks`)).tasks;
  const task = tasks[0];
  await waitFor('task active', async () => (await apiGet(`/api/tasks/${task._id}`)).status === 'active');
  await page.goto(url + `/#/jobs/${job._id}/tasks/${task._id}`);
  const log = page.getByTestId('task-log');
  await log.waitFor();
  if (!(await page.getByTestId('log-following').isVisible())) await page.getByTestId('log-follow').click();
  await page.getByTestId('log-following').waitFor();
  const text = page.getByTestId('log-text');
  await waitFor('first lines', async () => (await text.textContent()).includes('live-line-2'));
  const before = (await text.textContent()).match(/live-line-\d+/g).length;
  fs.writeFileSync(gate, '');
  await waitFor('later lines', async () => (await text.textContent()).includes('live-line-12'), 20000);
  const after = (await text.textContent()).match(/live-line-\d+/g).length;
  assert(before < 12 && after === 12, `lines grew while watching: ${before} → ${after}`);
  await log.getByText('task ended: completed').waitFor();
  // The tasks table followed the task to completed, and its "updated" cell
  // shows when (the task's _updated, as a relative time with the absolute
  // one on hover).
  const row = page.locator(`tr[data-task-id="${task._id}"][data-status=completed]`);
  await row.waitFor();
  await waitFor('updated cell shows the task\'s _updated', async () => {
    const updated = (await apiGet(`/api/tasks/${task._id}`))._updated;
    return updated && (await row.locator(`time[datetime="${updated}"]`).count()) === 1;
  });
  const href = await log.getByRole('link', { name: 'Download whole log' }).getAttribute('href');
  const whole = await rawGet(href, AUTH);
  assert(whole.status === 200 && whole.body.includes('live-line-12'), 'whole log downloads');
  await shot('job-detail-log');
});

test('forget a blacklist line', async () => {
  const job = await submit({ name: 'browser-blacklist', job_type: 'exec-command', settings: { cmd: "sh -c 'exit 3'" } });
  const entries = await waitFor('a worker blacklisted', async () => {
    const b = (await apiGet(`/api/blacklist?job=${job._id}`)).blacklist;
    return b.length ? b : null;
  });
  await page.goto(url + `/#/jobs/${job._id}`);
  const table = page.getByTestId('job-blacklist');
  const nick = (await apiGet(`/api/workers/${entries[0].worker_id}`)).nickname;
  const forget = table.getByRole('button', { name: `Forget blacklisting of ${nick} for ${entries[0].task_type}` });
  await forget.waitFor();
  await shot('job-blacklist');
  await forget.click();
  await waitFor('line gone from the table', async () => (await forget.count()) === 0);
  const left = (await apiGet(`/api/blacklist?job=${job._id}`)).blacklist;
  assert(!left.some((e) => e.worker_id === entries[0].worker_id), 'forgotten on the Manager: ' + JSON.stringify(left));
  // Out of the way of the next tests (it may have failed already).
  await apiPost(`/api/jobs/${job._id}/status`, { status: 'cancel-requested' }).catch(() => {});
});

test('put a worker to sleep lazily and see the lazy marker, then asleep', async () => {
  const job = await submit({ name: 'browser-lazy', job_type: 'sleep', settings: { frames: '1', chunk_size: 1, time_in_seconds: 3 } });
  const busy = await waitFor('a worker running the task', async () =>
    (await apiGet('/api/workers')).workers.find((w) => w.current_task_status === 'active' && w.status === 'awake'),
  );
  await page.goto(url + '/#/workers');
  const row = page.locator(`tr.worker-row[data-worker-id="${busy._id}"]`);
  await row.getByRole('checkbox').check();
  await page.getByTestId('sleep-lazy').click();
  const marker = row.getByTestId('requested-lazy');
  await marker.waitFor();
  assert((await marker.textContent()).trim() === '⇢ asleep (after task)', 'lazy marker text');
  assert((await row.getAttribute('data-status')) === 'awake', 'still awake while its task runs');
  await shot('worker-lazy-sleep');
  await waitFor('worker asleep after its task', async () => (await row.getAttribute('data-status')) === 'asleep', 30000);
  assert((await row.getByTestId('requested-lazy').count()) === 0, 'request cleared once applied');
  assert((await apiGet(`/api/jobs/${job._id}`)).status === 'completed', 'the task finished first');
  await shot('worker-asleep');
  await page.setViewportSize({ width: 420, height: 800 });
  await shot('workers-narrow');
  // Narrow: the page itself does not scroll sideways (tables scroll in their box).
  const overflow = await page.evaluate(() => {
    const wide = [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('.table-wrap'))
      .map((e) => e.tagName + '.' + e.className);
    return { by: document.documentElement.scrollWidth - window.innerWidth, wide: wide.slice(0, 5) };
  });
  assert(overflow.by <= 0, `page wider than a narrow screen by ${overflow.by}px: ${overflow.wide.join(', ')}`);
  await page.goto(url + '/#/jobs');
  await page.getByTestId('jobs-table').waitFor();
  await shot('jobs-narrow');
  await page.setViewportSize({ width: 1280, height: 800 });
});

test('duende-server: the job page follows a linked site live, jobs only', async () => {
  // A Server, one linked Manager (no web dashboard of its own) and a worker.
  const srvDir = path.join(TMP, 'server');
  start('server', [path.join(BIN, 'duende-server'), '--listen', '127.0.0.1:0', '--data-dir', srvDir, '--web-dir', WEB], srvDir);
  const srv = await waitFor('server.url', () => {
    try {
      return fs.readFileSync(path.join(srvDir, 'server.url'), 'utf8').trim();
    } catch {
      return '';
    }
  });
  const token = fs.readFileSync(path.join(srvDir, 'admin-token'), 'utf8').trim();
  const srvAuth = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
  const site = await (await fetch(srv + '/api/managers', { method: 'POST', headers: srvAuth, body: JSON.stringify({ name: 'site-a' }) })).json();
  const siteDir = path.join(TMP, 'site-a');
  fs.mkdirSync(siteDir, { recursive: true });
  fs.writeFileSync(path.join(siteDir, 'manager.yaml'), [`flamenco: ${srv}`, `manager_id: ${site._id}`, `manager_secret: ${site.token}`,
    'download_task_sleep: 1s', 'download_task_recheck_throttle: 200ms', 'task_update_push_max_interval: 300ms', ''].join('\n'));
  start('site-a', [path.join(BIN, 'duende-manager'), '--listen', '127.0.0.1:0', '--data-dir', siteDir, '--config',
    path.join(siteDir, 'manager.yaml')], siteDir);
  const siteUrl = await waitFor('site-a manager.url', () => {
    try {
      return fs.readFileSync(path.join(siteDir, 'manager.url'), 'utf8').trim();
    } catch {
      return '';
    }
  });
  start('site-a-w', [path.join(BIN, 'duende-worker'), '--manager', siteUrl, '--data-dir', path.join(TMP, 'site-a-w'),
    '--nickname', 'site-a-w', ...fastWorker], path.join(TMP, 'site-a-w'));

  // The Server's own login (its admin token), in a context of its own.
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const p2 = await ctx.newPage();
  p2.on('pageerror', (e) => consoleErrors.push(e.message));
  p2.setDefaultTimeout(20000);
  await p2.goto(srv + '/#/jobs');
  await p2.getByTestId('login-form').waitFor();
  await p2.getByRole('button', { name: 'API token' }).click();
  await p2.getByLabel('API token').fill(token);
  await p2.getByRole('button', { name: 'Log in' }).click();
  await p2.getByTestId('jobs-table').waitFor();
  assert((await p2.getByRole('link', { name: 'Workers' }).count()) === 0, 'no Workers page on the Server');
  assert((await p2.getByTestId('worker-counts').count()) === 0, 'no worker counts on the Server');

  const job = await (await fetch(srv + '/api/jobs', { method: 'POST', headers: srvAuth, body: JSON.stringify({
    name: 'at the site', job_type: 'sleep', priority: 50, settings: { frames: '1-3', chunk_size: 1, time_in_seconds: 0.5 } }) })).json();
  await p2.goto(`${srv}/#/jobs/${job._id}`);
  await p2.getByTestId('tasks-table').waitFor();
  // Live: well within the 30 s safety reload, every row turns completed.
  await waitFor('all tasks completed on the Server page', async () => {
    const statuses = await p2.locator('[data-testid=tasks-table] tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.status));
    return statuses.length === 3 && statuses.every((st) => st === 'completed');
  }, 25000);
  await p2.locator('#job-title .badge[data-status=completed]').waitFor();
  const first = await p2.locator('[data-testid=tasks-table] tbody tr').first().getAttribute('data-task-id');
  await p2.goto(`${srv}/#/jobs/${job._id}/tasks/${first}`);
  await p2.getByTestId('server-log-note').waitFor();
  await p2.screenshot({ path: path.join(ARTIFACTS, 'server-job-completed.png'), fullPage: true });
  await ctx.close();
});

// --- run ------------------------------------------------------------------
let failed = 0;
// A single test run by name starts logged in (the page's cookie jar is the
// request context's).
if (only) {
  const r = await page.request.post(url + '/api/auth/login', { data: { user: 'olga', password: PASSWORDS.olga } });
  assert(r.ok(), 'login for a single test: ' + r.status());
}
for (const t of tests) {
  if (only && !t.name.includes(only)) continue;
  const t0 = Date.now();
  try {
    await t.fn();
    console.log(`ok   ${t.name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${t.name}: ${e.stack || e}`);
    await shot('FAILED-' + t.name.replace(/\W+/g, '-')).catch(() => {});
  }
}
if (consoleErrors.length) console.log('browser console errors:\n  ' + consoleErrors.join('\n  '));
await browser.close();
stopAll();
if (failed) {
  for (const { name, log } of procs) {
    const text = fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '';
    console.log(`--- last lines of ${name}.log\n` + text.split('\n').slice(-25).join('\n'));
  }
}
console.log(`screenshots in ${ARTIFACTS}`);
if (!failed) fs.rmSync(TMP, { recursive: true, force: true, maxRetries: 3 });
process.exit(failed ? 1 : 0);
