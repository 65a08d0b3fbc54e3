#!/usr/bin/env bash
# The Debian packages as an admin gets them: unpacks every built .deb with
# `dpkg -x` into a temporary root, checks their metadata, conffiles and
# systemd units (systemd-analyze verify where present), then starts the
# services with their units' own ExecStart= lines and config files (paths
# moved into the temporary root), runs a job through the packaged Manager,
# Worker and CLI, asks the Worker to restart and checks it exits with the
# code its unit restarts on, then starts the Worker again as systemd would.
# Usage: package_test.sh BUILD_DIR DEB_VERSION
set -euo pipefail
BUILD=${1:?usage: package_test.sh BUILD_DIR DEB_VERSION}
VERSION=${2:?usage}
ARCH=$(dpkg --print-architecture)
TMP=$(mktemp -d)
ROOT=$TMP/root
STATE=$TMP/var/lib/duende
PIDS=()
cleanup() {
  # Newest first: workers sign off while their Manager is still there.
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill "${PIDS[i]}" 2>/dev/null && wait "${PIDS[i]}" 2>/dev/null
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
fail() {
  echo "package_test: FAIL: $*" >&2
  for log in "$TMP"/*.log; do
    [[ -f $log ]] && { echo "--- $log" >&2; tail -n 15 "$log" >&2; }
  done
  exit 1
}

deb() {
  local arch=$ARCH
  [[ $1 == common ]] && arch=all
  echo "$BUILD/packages/duende-${1}_${VERSION}_${arch}.deb"
}

# --- contents and metadata --------------------------------------------------
declare -A control  # "pkg Field" -> first line of the field
for pkg in common manager worker server cli; do
  f=$(deb "$pkg")
  [[ -f $f ]] || fail "$f is missing (run make package)"
  dpkg -x "$f" "$ROOT"
  while IFS= read -r line; do
    [[ $line =~ ^([A-Za-z-]+):\ (.*)$ ]] && control["$pkg ${BASH_REMATCH[1]}"]=${BASH_REMATCH[2]}
  done < <(dpkg-deb -f "$f")
  name=${control["$pkg Package"]}
  [[ $name == duende-$pkg ]] || fail "$f is package '$name'"
  [[ ${control["$pkg Maintainer"]} == "Duende project <"*">" ]] || fail "$name: Maintainer is not the project"
  [[ ${control["$pkg Version"]} == "$VERSION" ]] || fail "$name: Version is not $VERSION"
  for field in Description Section Priority; do
    [[ -n ${control["$pkg $field"]} ]] || fail "$name: no $field"
  done
  [[ -f $ROOT/usr/share/doc/$name/copyright ]] || fail "$name: no copyright file"
  gzip -t "$ROOT/usr/share/doc/$name/changelog.Debian.gz" || fail "$name: no changelog.Debian.gz"
done
grep -q "MIT License" "$ROOT/usr/share/doc/duende-common/LICENSE.vue" ||
  fail "duende-common: the bundled Vue's licence notice is missing"
for pkg in manager worker server; do
  depends=${control["$pkg Depends"]}
  [[ $depends == *"duende-common (= $VERSION)"* ]] || fail "duende-$pkg does not depend on duende-common: $depends"
  [[ $depends == *libc6* ]] || fail "duende-$pkg: Depends has no shared libraries: $depends"
done
[[ ${control["common Depends"]} == *adduser* ]] || fail "duende-common creates a user without adduser"
dpkg-deb --ctrl-tarfile "$(deb common)" | tar -xO ./postinst | grep -q 'adduser --system' ||
  fail "duende-common's postinst does not create the system user"
for bin in duende duende-manager duende-worker duende-server; do
  [[ -x $ROOT/usr/bin/$bin ]] || fail "usr/bin/$bin not in the packages"
done
[[ -f $ROOT/usr/share/duende/web/index.html ]] || fail "no dashboard in duende-common"
EXAMPLES=$ROOT/usr/share/doc/duende-manager/examples/job-types
[[ -f $EXAMPLES/frames-to-video.yaml ]] || fail "duende-manager ships no example job types"

# Every file under /etc is a conffile of its package.
declare -A conf=([manager]=manager.yaml [worker]=worker.env [server]=server.env)
for pkg in manager worker server; do
  f=$(deb "$pkg")
  listed=$(dpkg-deb --ctrl-tarfile "$f" | tar -xO ./conffiles)
  in_etc=$(dpkg-deb -c "$f" | awk '{print $6}' | sed -n 's|^\./etc/|/etc/|p' | grep -v '/$')
  [[ $listed == "$in_etc" && $listed == "/etc/duende/${conf[$pkg]}" ]] ||
    fail "duende-$pkg: conffiles [$listed] != files in /etc [$in_etc]"
  unit=$ROOT/lib/systemd/system/duende-$pkg.service
  [[ -f $unit ]] || fail "no duende-$pkg.service"
  grep -qx 'User=duende' "$unit" || fail "duende-$pkg.service does not run as duende"
  grep -qx "StateDirectory=duende/$pkg" "$unit" || fail "duende-$pkg.service keeps no state in /var/lib/duende/$pkg"
  grep -qx 'NoNewPrivileges=yes' "$unit" || fail "duende-$pkg.service is not hardened"
done

if command -v systemd-analyze >/dev/null; then
  # verify resolves the units' dependencies: give it the host's targets.
  mkdir -p "$TMP/verify"
  cp -a "$ROOT/." "$TMP/verify/"
  cp -n /lib/systemd/system/*.target "$TMP/verify/lib/systemd/system/" 2>/dev/null || true
  out=$(systemd-analyze verify --root="$TMP/verify" duende-manager.service duende-worker.service \
    duende-server.service 2>&1) || fail "systemd-analyze verify: $out"
  # Unknown keys and bad values are only warnings to it: none allowed.
  [[ -z $out ]] || fail "systemd-analyze verify: $out"
else
  echo "package_test: systemd-analyze not found, units not verified"
fi

# --- the services, started as their units start them -----------------------
# Prints the unit's ExecStart= as a bash array literal with the paths moved
# into $ROOT and $STATE: ${X} is one argument, $X is split at spaces (as
# systemd does); the caller evals it with the unit's environment set.
exec_start() {
  sed -n 's/^ExecStart=//p' "$ROOT/lib/systemd/system/$1" |
    sed -e "s|/usr/bin/|$ROOT/usr/bin/|g" -e "s|/etc/duende/|$ROOT/etc/duende/|g" \
      -e "s|/var/lib/duende/|$STATE/|g" -e 's/\${\([A-Z_]*\)}/"${\1}"/g'
}
wait_for_file() {
  for _ in $(seq 1 150); do
    [[ -s $1 ]] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# Manager: the packaged config as an admin edits it (a registration secret),
# on an ephemeral port.
echo "worker_registration_secret: package-test-secret" >>"$ROOT/etc/duende/manager.yaml"
mkdir -p "$STATE/manager" "$STATE/worker" "$STATE/server"
# An example job type installed as README.Debian says.
mkdir -p "$STATE/manager/job-types"
cp "$EXAMPLES/frames-to-video.yaml" "$STATE/manager/job-types/"
eval "cmd=($(exec_start duende-manager.service))"
"${cmd[@]}" --listen 127.0.0.1:0 >"$TMP/manager.log" 2>&1 &
PIDS+=($!)
wait_for_file "$STATE/manager/manager.url" "${PIDS[-1]}" || fail "the packaged manager did not start"
URL=$(head -n 1 "$STATE/manager/manager.url")
grep -q "web dashboard served from $ROOT/usr/share/duende/web" "$TMP/manager.log" ||
  fail "the manager does not serve duende-common's dashboard"
curl -fsS "$URL/" | grep -q '<div id="app">' || fail "GET / is not the dashboard"

# Worker: worker.env as shipped (empty task types and nickname: the
# defaults), the secret from the environment as the unit passes it.
start_worker() {
  (
    set -a
    # shellcheck source=/dev/null
    . "$ROOT/etc/duende/worker.env"
    DUENDE_MANAGER=$URL
    DUENDE_REGISTRATION_SECRET=package-test-secret
    DUENDE_WORKER_ARGS="--poll-interval 200ms --long-poll-wait 1s"
    set +a
    eval "cmd=($(exec_start duende-worker.service))"
    exec "${cmd[@]}"
  ) >>"$TMP/worker.log" 2>&1 &
  WORKER=$!
  PIDS+=("$WORKER")
}
start_worker

cli() { "$ROOT/usr/bin/duende" --manager "$URL" --token-file "$STATE/manager/admin-token" "$@"; }
run_job() {
  timeout 60 "$ROOT/usr/bin/duende" --manager "$URL" --token-file "$STATE/manager/admin-token" \
    submit sleep --name "$1" --set frames=1-4 --set chunk_size=2 --set time_in_seconds=0 --wait \
    >"$TMP/cli.log" 2>&1 || fail "job $1 did not complete: $(tail -n 3 "$TMP/cli.log")"
}
run_job package-test
cli job-types | grep -q frames-to-video || fail "the manager did not load the example job type from its job_types_dir"
# "ID NICKNAME" of the one worker the Manager knows.
the_worker() {
  cli --json workers | python3 -c 'import json,sys; w=json.load(sys.stdin)["workers"]; print(w[0]["_id"], w[0]["nickname"]) if len(w)==1 else None'
}
read -r WORKER_ID nickname <<<"$(the_worker)"
[[ -n $WORKER_ID ]] || fail "the manager does not list exactly one worker"
[[ $nickname == "$(uname -n)" ]] || fail "an empty DUENDE_NICKNAME did not mean the host name ($nickname)"

# A restart request: the worker exits with the code its unit restarts on.
force=$(sed -n 's/^RestartForceExitStatus=//p' "$ROOT/lib/systemd/system/duende-worker.service")
cli worker restart "$WORKER_ID" >/dev/null || fail "duende worker restart failed"
(sleep 20 && kill "$WORKER") 2>/dev/null &
timer=$!
rc=0
wait "$WORKER" || rc=$?
kill "$timer" 2>/dev/null || fail "the worker did not exit within 20 s of a restart request"
[[ -n $force && " $force " == *" $rc "* ]] ||
  fail "the worker exited with $rc after a restart request; its unit restarts on RestartForceExitStatus=$force"
# ... and systemd starts it again: same identity (state in /var/lib/duende/worker).
start_worker
run_job after-restart
read -r id _ <<<"$(the_worker)"
[[ $id == "$WORKER_ID" ]] || fail "the restarted worker did not keep its identity"

# Server: server.env as shipped, on an ephemeral port.
(
  set -a
  # shellcheck source=/dev/null
  . "$ROOT/etc/duende/server.env"
  [[ $DUENDE_SERVER_ARGS == *"--listen 127.0.0.1:8090"* ]] || { echo "server.env has no --listen 127.0.0.1:8090"; exit 3; }
  DUENDE_SERVER_ARGS=${DUENDE_SERVER_ARGS/127.0.0.1:8090/127.0.0.1:0}
  set +a
  eval "cmd=($(exec_start duende-server.service))"
  exec "${cmd[@]}"
) >"$TMP/server.log" 2>&1 &
PIDS+=($!)
wait_for_file "$STATE/server/server.url" "${PIDS[-1]}" || fail "the packaged server did not start"
SERVER=$(head -n 1 "$STATE/server/server.url")
curl -fsS "$SERVER/" | grep -q '<div id="app">' || fail "the server does not serve the dashboard"

echo "package_test: ok (packages $VERSION unpacked; jobs ran on $URL; worker restarted with exit code $rc)"
