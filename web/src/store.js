// The dashboard's live state. Tables load once (and every 30 s as a safety
// net); afterwards the Manager's event stream (GET /api/events) names the
// entities that changed and only those are fetched again.
import { reactive } from 'vue';
import { api, ApiError, setUnauthorizedHandler } from './api.js';

export const state = reactive({
  manager: {},
  jobs: {}, // id -> job
  workers: {}, // id -> worker
  tasks: {}, // id -> task, for the open job only
  openJob: '',
  live: false,
  error: '',
  lastRefresh: null,
  // Bumped when blacklists changed without a request (expired lines purged).
  blacklistGeneration: 0,
  // Who is logged in: checked = the session was asked about; user '' = not
  // logged in (the login page shows, with loginMessage).
  auth: { checked: false, user: '', role: '' },
  loginMessage: '',
});

// Served by duende-server: jobs only; workers belong to the sites' Managers.
export function isServer() {
  return state.manager.mode === 'server';
}

// Served by a Manager. What only a Manager has (workers, blacklists, task
// logs) shows once GET /api/manager said so: on a Server it never shows,
// not even while that first answer is on its way.
export function isManager() {
  return !!state.manager.mode && !isServer();
}

// May this role do operator things (job and worker actions)?
export function canOperate() {
  return state.auth.role === 'operator' || state.auth.role === 'admin';
}

// Why 30 s: events carry every change; the full reload only repairs what a
// dropped connection may have missed.
const SAFETY_REFRESH_MS = 30000;

export function showError(e) {
  if (e instanceof ApiError && e.status === 401) return; // the login page says it
  state.error = e instanceof Error ? e.message : String(e);
}

export async function loadAll() {
  try {
    if (!state.manager.mode) state.manager = await api.manager();
    const [jobs, workers] = await Promise.all([api.jobs(), isManager() ? api.workers() : []]);
    state.jobs = Object.fromEntries(jobs.map((j) => [j._id, j]));
    state.workers = Object.fromEntries(workers.map((w) => [w._id, w]));
    if (state.openJob) await loadJobTasks(state.openJob);
    state.lastRefresh = new Date();
  } catch (e) {
    showError(e);
  }
}

export async function loadJobTasks(jobId) {
  const tasks = await api.jobTasks(jobId);
  if (state.openJob !== jobId) return;
  state.tasks = Object.fromEntries(tasks.map((t) => [t._id, t]));
}

// One fetch per entity at a time; an event during a fetch fetches again after.
const inflight = new Map();
function refetch(key, fn) {
  if (inflight.has(key)) {
    inflight.set(key, true);
    return;
  }
  inflight.set(key, false);
  fn()
    .catch((e) => {
      if (!(e instanceof ApiError && e.status === 404)) showError(e);
    })
    .finally(() => {
      const again = inflight.get(key);
      inflight.delete(key);
      if (again) refetch(key, fn);
    });
}

function refetchJob(id) {
  refetch('job:' + id, async () => {
    try {
      state.jobs[id] = await api.job(id);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) delete state.jobs[id];
      throw e;
    }
  });
}

function refetchWorker(id) {
  refetch('worker:' + id, async () => {
    try {
      state.workers[id] = await api.worker(id);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) delete state.workers[id];
      throw e;
    }
  });
}

function refetchTask(id) {
  refetch('task:' + id, async () => {
    const t = await api.task(id);
    if (t.job === state.openJob) state.tasks[id] = t;
  });
}

// Reloads the worker list (a timer changed workers: timeouts, cleanup,
// sleep schedules).
function refetchWorkers() {
  refetch('workers', async () => {
    const workers = await api.workers();
    state.workers = Object.fromEntries(workers.map((w) => [w._id, w]));
  });
}

export function handleEvent(type, data) {
  if (type === 'workers') refetchWorkers();
  else if (type === 'blacklist') state.blacklistGeneration++;
  else if (type === 'job') refetchJob(data.id);
  else if (type === 'worker') refetchWorker(data.id);
  else if (type === 'task') {
    const known = state.tasks[data.id];
    if (known && data.status) known.status = data.status;
    if (known || (data.job && data.job === state.openJob)) refetchTask(data.id);
    if (data.job) refetchJob(data.job);
    for (const w of Object.values(state.workers)) if (w.current_task === data.id) refetchWorker(w._id);
  }
}

let source = null;
let timer = null;

export function connect() {
  if (source) return;
  source = new EventSource('/api/events');
  source.onopen = () => {
    state.live = true;
    loadAll(); // catch up on what happened while disconnected
  };
  source.onerror = () => {
    state.live = false; // EventSource reconnects by itself
  };
  for (const type of ['job', 'task', 'worker', 'workers', 'blacklist']) {
    source.addEventListener(type, (ev) => {
      try {
        handleEvent(type, JSON.parse(ev.data));
      } catch (e) {
        showError(e);
      }
    });
  }
  timer = setInterval(loadAll, SAFETY_REFRESH_MS);
  api.manager().then((m) => (state.manager = m), showError);
}

export function disconnect() {
  if (source) source.close();
  source = null;
  clearInterval(timer);
}

// --- login ------------------------------------------------------------------

function loggedIn(who) {
  state.auth = { checked: true, user: who.user, role: who.role };
  state.loginMessage = '';
  state.error = '';
  loadAll();
  connect();
}

setUnauthorizedHandler((err) => {
  if (!state.auth.user) return;
  disconnect();
  state.live = false;
  state.auth = { checked: true, user: '', role: '' };
  state.loginMessage = err.message;
});

// A "#token=..." URL (what `make demo` prints) logs in with that token and
// removes it from the address bar and history; otherwise an existing
// session cookie is used, else the login page shows.
export async function startSession() {
  const m = window.location.hash.match(/^#token=([^&]+)/);
  if (m) {
    window.history.replaceState(null, '', window.location.pathname + window.location.search + '#/jobs');
    if (await login({ token: decodeURIComponent(m[1]) })) return;
  }
  try {
    loggedIn(await api.session());
  } catch (e) {
    state.auth = { checked: true, user: '', role: '' };
    if (!(e instanceof ApiError && e.status === 401)) state.loginMessage = e.message;
  }
}

// Returns true when logged in; otherwise loginMessage says why not.
export async function login(credentials) {
  try {
    loggedIn(await api.login(credentials));
    return true;
  } catch (e) {
    state.auth = { checked: true, user: '', role: '' };
    state.loginMessage = e.message;
    return false;
  }
}

export async function logout() {
  disconnect();
  try {
    await api.logout();
  } catch (e) {
    showError(e);
  }
  state.auth = { checked: true, user: '', role: '' };
  state.loginMessage = 'Logged out.';
  state.jobs = {};
  state.workers = {};
  state.tasks = {};
}
