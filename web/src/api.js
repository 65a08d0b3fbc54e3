// Thin wrappers over the Manager's JSON API (api/openapi.yaml).

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Called with the ApiError of every 401 (session expired, logged out
// elsewhere): the app shows the login page.
let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

// The session is an HttpOnly cookie set by POST /api/auth/login: the
// browser sends it with fetch() and with EventSource (which cannot send an
// Authorization header), and page scripts cannot read it.
async function request(method, path, body, { quiet401 = false } = {}) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  if (resp.status === 204) return null;
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!resp.ok) {
    const msg = data && data.message ? data.message : `${method} ${path}: HTTP ${resp.status}`;
    const err = new ApiError(resp.status, msg);
    if (resp.status === 401 && !quiet401) onUnauthorized(err);
    throw err;
  }
  return data;
}

export const api = {
  // {token} or {user, password} -> {user, role}; sets the session cookie.
  login: (credentials) => request('POST', '/api/auth/login', credentials, { quiet401: true }),
  logout: () => request('POST', '/api/auth/logout'),
  session: () => request('GET', '/api/auth/session', undefined, { quiet401: true }),
  manager: () => request('GET', '/api/manager'),
  jobs: () => request('GET', '/api/jobs').then((d) => d.jobs),
  job: (id) => request('GET', `/api/jobs/${id}`),
  jobTasks: (id) => request('GET', `/api/jobs/${id}/tasks`).then((d) => d.tasks),
  setJobStatus: (id, status) => request('POST', `/api/jobs/${id}/status`, { status, reason: 'from the dashboard' }),
  setJobPriority: (id, priority) => request('POST', `/api/jobs/${id}/priority`, { priority }),
  task: (id) => request('GET', `/api/tasks/${id}`),
  workers: () => request('GET', '/api/workers').then((d) => d.workers),
  worker: (id) => request('GET', `/api/workers/${id}`),
  requestWorkerStatus: (ids, status, lazy) => request('POST', '/api/workers/status', { workers: ids, status, lazy }),
  ackTimeout: (id) => request('POST', `/api/workers/${id}/ack-timeout`),
  forgetWorker: (id) => request('POST', `/api/workers/${id}/forget`),
  setSchedule: (id, schedule) => request('PUT', `/api/workers/${id}/sleep-schedule`, schedule),
  blacklist: (query) => request('GET', '/api/blacklist?' + new URLSearchParams(query)).then((d) => d.blacklist),
  forgetBlacklist: (e) =>
    request('POST', '/api/blacklist/forget', { worker_id: e.worker_id, job_id: e.job_id, task_type: e.task_type }),
  // A byte range of a task log: offset < 0 counts from the end.
  async taskLog(id, offset, length) {
    const resp = await fetch(`/api/tasks/${id}/log?offset=${offset}&length=${length}`);
    if (!resp.ok) {
      let msg = `HTTP ${resp.status}`;
      try {
        msg = (await resp.json()).message || msg;
      } catch {
        /* not JSON */
      }
      const err = new ApiError(resp.status, msg);
      if (resp.status === 401) onUnauthorized(err);
      throw err;
    }
    return {
      text: await resp.text(),
      size: Number(resp.headers.get('X-Log-Size') || 0),
      next: Number(resp.headers.get('X-Log-Next-Offset') || 0),
    };
  },
};
