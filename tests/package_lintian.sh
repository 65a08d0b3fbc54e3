#!/usr/bin/env bash
# lintian on the built Debian packages: no errors (warnings are printed and
# allowed). Usage: package_lintian.sh BUILD_DIR
set -euo pipefail
BUILD=${1:?usage: package_lintian.sh BUILD_DIR}
command -v lintian >/dev/null || { echo "package_lintian: FAIL: lintian is not installed (make setup)" >&2; exit 1; }
shopt -s nullglob
debs=("$BUILD"/packages/*.deb)
((${#debs[@]})) || { echo "package_lintian: FAIL: no packages in $BUILD/packages" >&2; exit 1; }

# lintian exits non-zero on errors; its tags are E: (error), W:, I:, ...
out=$(lintian --tag-display-limit 0 "${debs[@]}" 2>&1) && rc=0 || rc=$?
echo "$out"
errors=$(grep -c '^E: ' <<<"$out" || true)
if ((errors)) || ((rc)); then
  echo "package_lintian: FAIL: $errors error(s), lintian exit code $rc" >&2
  exit 1
fi
echo "package_lintian: ok (${#debs[@]} packages, $(grep -c '^W: ' <<<"$out" || true) warnings)"
