// The dashboard's live state. Tables load once (and every 30 s as a safety
// net); afterwards the Manager's event stream (GET /api/events) names the
// entities that changed and only those are fetched again.
import { reactive } from 'vue';
import { api, ApiError } from './api.js';

export const state = reactive({
  manager: {},
  jobs: {}, // id -> job
  workers: {}, // id -> worker
  tasks: {}, // id -> task, for the open job only
  openJob: '',
  live: false,
  error: '',
  lastRefresh: null,
});

// Why 30 s: events carry every change; the full reload only repairs what a
// dropped connection may have missed.
const SAFETY_REFRESH_MS = 30000;

export function showError(e) {
  state.error = e instanceof Error ? e.message : String(e);
}

export async function loadAll() {
  try {
    const [jobs, workers] = await Promise.all([api.jobs(), api.workers()]);
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

export function handleEvent(type, data) {
  if (type === 'job') refetchJob(data.id);
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
  for (const type of ['job', 'task', 'worker']) {
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
