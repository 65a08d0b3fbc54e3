#!/usr/bin/env bash
# Installs the build into a temporary prefix and checks that the installed
# duende-manager, started without --web-dir, serves the installed dashboard
# (PREFIX/share/duende/web) and that the binaries are there.
# Usage: install_test.sh BUILD_DIR
set -euo pipefail
BUILD=${1:?usage: install_test.sh BUILD_DIR}
TMP=$(mktemp -d)
PID=
cleanup() {
  [[ -n "$PID" ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
fail() {
  echo "install_test: FAIL: $*" >&2
  [[ -f "$TMP/manager.log" ]] && tail -n 20 "$TMP/manager.log" >&2
  exit 1
}

cmake --install "$BUILD" --prefix "$TMP/prefix" >/dev/null
for bin in duende-manager duende-worker duende-server duende; do
  [[ -x "$TMP/prefix/bin/$bin" ]] || fail "bin/$bin not installed"
done
[[ -f "$TMP/prefix/share/duende/web/index.html" ]] || fail "share/duende/web/index.html not installed"
ls "$TMP/prefix/share/duende/web/assets/"*.js >/dev/null 2>&1 || fail "no dashboard assets installed"

"$TMP/prefix/bin/duende-manager" --listen 127.0.0.1:0 --data-dir "$TMP/data" >"$TMP/manager.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
  [[ -s "$TMP/data/manager.url" ]] && break
  kill -0 "$PID" 2>/dev/null || fail "the installed manager exited"
  sleep 0.1
done
URL=$(head -n 1 "$TMP/data/manager.url" 2>/dev/null) || fail "no manager.url"
grep -q "web dashboard served from .*/prefix/share/duende/web" "$TMP/manager.log" ||
  fail "the installed manager does not serve the installed dashboard"
curl -fsS "$URL/" | grep -q '<div id="app">' || fail "GET / is not the dashboard"
asset=$(curl -fsS "$URL/" | grep -o '/assets/[^"]*\.js' | head -n 1)
curl -fsS -o /dev/null "$URL$asset" || fail "GET $asset failed"
echo "install_test: ok ($URL serves $TMP/prefix/share/duende/web)"
