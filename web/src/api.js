// Thin wrappers over the Manager's JSON API (api/openapi.yaml).

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function request(method, path, body) {
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
    throw new ApiError(resp.status, msg);
  }
  return data;
}

export const api = {
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
      throw new ApiError(resp.status, msg);
    }
    return {
      text: await resp.text(),
      size: Number(resp.headers.get('X-Log-Size') || 0),
      next: Number(resp.headers.get('X-Log-Next-Offset') || 0),
    };
  },
};
