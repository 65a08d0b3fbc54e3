#!/usr/bin/env bash
# The Manager's HTTP serving next to the machine's limit (issue 6, §3): the
# same wrk load against
#   - duende-manager's cheapest authenticated endpoint, GET /status-change
#     (HTTP Basic worker auth and a read of the worker; its last-seen time
#     is noted in memory and written in batches), and
#   - nginx (Debian nginx-light) answering `return 204` from memory,
# one after the other in the same run. Prints one JSON line.
#
# usage: bench/http_ratio.sh [BUILD] [SECONDS] [CONNECTIONS]
# Needs nginx and wrk (scripts/setup.sh installs them with BENCH=1).
set -euo pipefail
build=${1:-build}
seconds=${2:-10}
conns=${3:-64}
for tool in nginx wrk curl; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "http_ratio: $tool is not installed" >&2; exit 2; }
done
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
tmp=$(mktemp -d /tmp/duende-http-ratio-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# --- nginx: return 204, as many workers as cores, keep-alive like wrk wants.
nginx_port=$(free_port)
mkdir -p "$tmp/nginx"
cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $tmp/nginx;
  proxy_temp_path $tmp/nginx;
  fastcgi_temp_path $tmp/nginx;
  uwsgi_temp_path $tmp/nginx;
  scgi_temp_path $tmp/nginx;
  server {
    listen 127.0.0.1:$nginx_port;
    location / { return 204; }
  }
}
EOF
"$nginx_bin" -c "$tmp/nginx/nginx.conf" -p "$tmp/nginx" &
pids+=($!)

# --- duende-manager with one registered, signed-on worker.
mgr_port=$(free_port)
"$build/bin/duende-manager" --listen "127.0.0.1:$mgr_port" --data-dir "$tmp/manager" --log-level warn \
  >"$tmp/manager.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$mgr_port/api/health" >/dev/null && curl -s -o /dev/null "http://127.0.0.1:$nginx_port/" && break
  sleep 0.1
done
worker_id=$(curl -sf -X POST -H 'Content-Type: application/json' \
  -d '{"secret":"bench-secret","platform":"linux","supported_task_types":["sleep"],"nickname":"bench"}' \
  "http://127.0.0.1:$mgr_port/register-worker" | python3 -c 'import json,sys; print(json.load(sys.stdin)["_id"])')
auth=$(printf '%s:%s' "$worker_id" bench-secret | base64 -w0)
curl -sf -X POST -H "Authorization: Basic $auth" -H 'Content-Type: application/json' -d '{}' \
  "http://127.0.0.1:$mgr_port/sign-on" >/dev/null
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Basic $auth" "http://127.0.0.1:$mgr_port/status-change")
[ "$code" = 204 ] || { echo "http_ratio: GET /status-change answered $code, not 204" >&2; exit 1; }

# wrk prints "Requests/sec: N" and, with --latency, "99% X" (us/ms/s).
run_wrk() {
  wrk -t2 -c"$conns" -d"${seconds}s" --latency "$@"
}
parse() {
  python3 - "$1" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
def ms(label):
    m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % label, text, re.M)
    v, unit = float(m.group(1)), m.group(2)
    return round(v / 1000 if unit == "us" else v * 1000 if unit == "s" else v, 3)
non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
print(rps, ms("50"), ms("99"), non2xx.group(1) if non2xx else 0)
EOF
}
run_wrk -H "Authorization: Basic $auth" "http://127.0.0.1:$mgr_port/status-change" >"$tmp/mgr.txt"
run_wrk "http://127.0.0.1:$nginx_port/" >"$tmp/nginx.txt"
read -r m_rps m_p50 m_p99 m_bad < <(parse "$tmp/mgr.txt")
read -r n_rps n_p50 n_p99 n_bad < <(parse "$tmp/nginx.txt")
python3 - <<EOF
import json
print(json.dumps({"scenario": "http_ratio", "seconds": $seconds, "connections": $conns,
                  "manager_endpoint": "GET /status-change (Basic worker auth, worker read, last-seen noted in memory)",
                  "manager_rps": $m_rps, "manager_p50_ms": $m_p50, "manager_p99_ms": $m_p99,
                  "manager_non_2xx": $m_bad,
                  "nginx_rps": $n_rps, "nginx_p50_ms": $n_p50, "nginx_p99_ms": $n_p99,
                  "manager_over_nginx": round($m_rps / $n_rps, 3)}, sort_keys=True))
EOF
