#!/usr/bin/env bash
# Runs a complete little render farm on this machine and renders the demo
# scene with it: one duende-manager, two duende-workers, one blender-render
# job of 24 frames in chunks of 4, ending in a video.
#
# Usage: scripts/demo.sh BUILD_DIR
#
# Everything lives under ./var (of the current directory):
#   var/demo.blend              the scene (made by scripts/make_demo_scene.py)
#   var/manager/                the manager's database and task logs
#   var/worker-1/, worker-2/    the workers' credentials and outboxes
#   var/render/demo/            the rendered frames and video
#   var/*.log                   logs of the manager, the workers, blender
#
# Environment: DUENDE_DEMO_PORT (default 8080), BLENDER (default blender).
# Ctrl-C stops the job watch, the workers and the manager (the job itself
# stays in the manager's database).
set -euo pipefail

die() {
  echo "demo: $*" >&2
  exit 1
}

[[ $# -eq 1 ]] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
[[ -d "$1" ]] || die "build directory '$1' does not exist"
BUILD=$(cd "$1" && pwd)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MANAGER_BIN="$BUILD/bin/duende-manager"
WORKER_BIN="$BUILD/bin/duende-worker"
CLI_BIN="$BUILD/bin/duende"
BLENDER=${BLENDER:-blender}
PORT=${DUENDE_DEMO_PORT:-8080}
URL="http://127.0.0.1:$PORT"
VAR="$PWD/var"
BLEND="$VAR/demo.blend"
# Seconds to wait for the manager to answer /api/health, and for a stopped
# process to exit before it is killed.
STARTUP_TIMEOUT_S=30
STOP_TIMEOUT_S=20

for bin in "$MANAGER_BIN" "$WORKER_BIN" "$CLI_BIN"; do
  [[ -x "$bin" ]] || die "$bin not found; build first (cmake --build $BUILD)"
done
command -v "$BLENDER" >/dev/null || die "blender not found (set BLENDER=/path/to/blender)"
command -v curl >/dev/null || die "curl not found"
if curl -fsS -o /dev/null --max-time 2 "$URL/api/health" 2>/dev/null; then
  die "something already answers on $URL; stop it or set DUENDE_DEMO_PORT"
fi

mkdir -p "$VAR/manager" "$VAR/worker-1" "$VAR/worker-2" "$VAR/render"

# --- stopping everything, however the script ends ---------------------------

MANAGER_PID=""
WORKER_PIDS=()

# Sends SIGTERM and waits for the process to exit (SIGKILL after
# STOP_TIMEOUT_S, so a wedged process cannot hang the script).
stop_process() {
  local pid=$1 name=$2
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  local waited=0
  while kill -0 "$pid" 2>/dev/null; do
    if ((waited >= STOP_TIMEOUT_S * 10)); then
      echo "demo: $name (pid $pid) did not stop in ${STOP_TIMEOUT_S}s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # Workers first, so they sign off while the manager still listens.
  local pid
  for pid in "${WORKER_PIDS[@]}"; do stop_process "$pid" worker; done
  [[ -n "$MANAGER_PID" ]] && stop_process "$MANAGER_PID" manager
  if ((${#WORKER_PIDS[@]} > 0)) || [[ -n "$MANAGER_PID" ]]; then
    echo "demo: farm stopped (logs in $VAR/*.log)" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the scene ------------------------------------------------------------------

if [[ ! -f "$BLEND" ]]; then
  echo "demo: making the demo scene $BLEND"
  "$BLENDER" -b --factory-startup --python "$ROOT/scripts/make_demo_scene.py" -- "$BLEND" \
    >"$VAR/blender-scene.log" 2>&1 || die "making the scene failed; see $VAR/blender-scene.log"
  [[ -f "$BLEND" ]] || die "blender did not write $BLEND; see $VAR/blender-scene.log"
fi

# --- the farm ---------------------------------------------------------------------

# The farm runs in its own sessions (setsid) so a Ctrl-C in the terminal
# reaches only this script and the CLI; cleanup() then stops the workers
# before the manager, letting them sign off and flush their task updates.
echo "demo: starting the manager on $URL"
setsid "$MANAGER_BIN" --listen "127.0.0.1:$PORT" --data-dir "$VAR/manager" >"$VAR/manager.log" 2>&1 &
MANAGER_PID=$!

deadline=$((SECONDS + STARTUP_TIMEOUT_S))
until curl -fsS -o /dev/null --max-time 2 "$URL/api/health" 2>/dev/null; do
  if ! kill -0 "$MANAGER_PID" 2>/dev/null; then
    tail -n 20 "$VAR/manager.log" >&2 || true
    die "the manager exited during startup; see $VAR/manager.log"
  fi
  ((SECONDS < deadline)) || die "the manager did not answer $URL/api/health within ${STARTUP_TIMEOUT_S}s"
  sleep 0.2
done

# Without configured users the manager keeps an admin API token here (mode
# 0600); the URL below logs the browser in with it.
TOKEN_FILE="$VAR/manager/admin-token"
[[ -r "$TOKEN_FILE" ]] || die "the manager did not write its admin token to $TOKEN_FILE"
LOGIN_URL="$URL/#token=$(head -n 1 "$TOKEN_FILE")"
export DUENDE_TOKEN_FILE="$TOKEN_FILE"

for n in 1 2; do
  echo "demo: starting demo-worker-$n"
  setsid "$WORKER_BIN" --manager "$URL" --data-dir "$VAR/worker-$n" --nickname "demo-worker-$n" \
    >"$VAR/worker-$n.log" 2>&1 &
  WORKER_PIDS+=($!)
done

# --- the job ------------------------------------------------------------------------

echo "demo: submitting the render job; watch it in a browser (this URL logs in as admin):"
echo "demo:   $LOGIN_URL"
set +e
"$CLI_BIN" --manager "$URL" submit blender-render --name demo \
  --set "filepath=$BLEND" \
  --set "render_output=$VAR/render/demo/frame-######" \
  --set frames=1-24 --set chunk_size=4 --set fps=24 --set format=PNG \
  --set images_or_video=images --set output_file_extension=.png \
  --wait
rc=$?
set -e
if ((rc != 0)); then
  echo "demo: the job did not complete (duende exited $rc); logs are in $VAR/*.log" >&2
  exit "$rc"
fi

video=$(find "$VAR/render" -name '*.mkv' -type f -printf '%T@ %p\n' 2>/dev/null | sort -nr | head -n 1 | cut -d' ' -f2-)
if [[ -z "$video" ]]; then
  die "the job completed but no video (*.mkv) was found under $VAR/render"
fi
echo "demo: frames in $(dirname "$video")"
echo "demo: video: $video"
