// Pure formatting helpers: statuses, times, sizes, sleep schedules.
// Unit-tested in tests/unit/format.test.js.

// Status -> CSS class suffix; one palette for jobs, tasks and workers.
const STATUS_CLASS = {
  queued: 'queued',
  'claimed-by-manager': 'queued',
  active: 'active',
  awake: 'active',
  testing: 'active',
  starting: 'active',
  completed: 'completed',
  failed: 'failed',
  error: 'failed',
  'fail-requested': 'failed',
  'soft-failed': 'soft-failed',
  timeout: 'soft-failed',
  'cancel-requested': 'canceled',
  canceled: 'canceled',
  paused: 'paused',
  asleep: 'paused',
  'under-construction': 'paused',
  requeued: 'queued',
  offline: 'offline',
  shutdown: 'offline',
  restart: 'offline',
};

export function statusClass(status) {
  return 'status-' + (STATUS_CLASS[status] || 'unknown');
}

// "soft-failed" -> "soft failed"; empty -> "—".
export function statusLabel(status) {
  if (!status) return '—';
  return status.replace(/-/g, ' ');
}

// A worker's pending requested status: arrow style tells lazy from immediate
// (v2's dashboard did the same): "⇢ asleep (after task)" vs "→ asleep".
export function requestedStatusLabel(requested, lazy) {
  if (!requested) return '';
  return lazy ? `⇢ ${requested} (after task)` : `→ ${requested}`;
}

function toDate(t) {
  if (t === null || t === undefined || t === '') return null;
  const d = t instanceof Date ? t : new Date(t);
  return Number.isNaN(d.getTime()) ? null : d;
}

// "5 s ago", "3 min ago", "2 h ago", "4 days ago"; future times "in 5 min".
export function relativeTime(t, now = new Date()) {
  const d = toDate(t);
  if (!d) return 'never';
  const diff = Math.round((toDate(now).getTime() - d.getTime()) / 1000);
  const abs = Math.abs(diff);
  let text;
  if (abs < 5) return 'just now';
  if (abs < 60) text = `${abs} s`;
  else if (abs < 3600) text = `${Math.floor(abs / 60)} min`;
  else if (abs < 86400) text = `${Math.floor(abs / 3600)} h`;
  else {
    const days = Math.floor(abs / 86400);
    text = days === 1 ? '1 day' : `${days} days`;
  }
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

// Absolute local time for tooltips: "2026-11-27 18:30:00".
export function absoluteTime(t) {
  const d = toDate(t);
  if (!d) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

// Bytes, binary units: 0 B, 512 B, 1.5 KiB, 10 MiB.
export function formatSize(bytes) {
  if (bytes === null || bytes === undefined || Number.isNaN(Number(bytes))) return '—';
  let n = Number(bytes);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  if (i === 0) return `${n} B`;
  return `${n >= 10 ? Math.round(n) : Math.round(n * 10) / 10} ${units[i]}`;
}

// Job progress from tasks_status ({count, completed, ...}).
export function jobProgress(tasksStatus) {
  const total = (tasksStatus && tasksStatus.count) || 0;
  const done = (tasksStatus && tasksStatus.completed) || 0;
  return { done, total, percent: total ? Math.round((done * 100) / total) : 0 };
}

// Sleep schedule fields with the implied defaults shown (spec §9).
export function scheduleView(s) {
  const sched = s || {};
  return {
    active: !!sched.schedule_active,
    days: sched.days_of_week ? sched.days_of_week : 'every day',
    start: sched.time_start || '00:00',
    end: sched.time_end || '24:00',
  };
}

// Last 4 hex characters of an ObjectId, as v2's dashboard showed task IDs.
export function shortId(id) {
  return id ? '…' + id.slice(-4) : '';
}

// Counts items by a key: [{status:'a'},{status:'a'}] -> {a: 2}.
export function countBy(items, key = 'status') {
  const out = {};
  for (const it of items) {
    const k = it[key] || 'unknown';
    out[k] = (out[k] || 0) + 1;
  }
  return out;
}

// Sums tasks_status over jobs: tasks by status for the whole farm.
export function sumTaskStatuses(jobs) {
  const out = {};
  for (const j of jobs) {
    for (const [k, v] of Object.entries(j.tasks_status || {})) {
      if (k === 'count') continue;
      out[k] = (out[k] || 0) + v;
    }
  }
  return out;
}

// Which job actions apply to a job status (the API decides; this only
// greys out buttons that would certainly be refused).
export function jobActions(status) {
  const ended = ['completed', 'canceled', 'failed'].includes(status);
  return {
    cancel: !ended && status !== 'cancel-requested',
    requeue: ended || status === 'paused' || status === 'active' || status === 'queued',
    pause: ['queued', 'active'].includes(status),
    resume: status === 'paused',
  };
}
