#!/usr/bin/env bash
# CTest fixture of the package tests: builds the Debian packages with CPack
# into BUILD/packages unless they are there and newer than everything they
# are made of (the binaries, the dashboard, packaging/ and the CPack config).
# Usage: package_build.sh BUILD_DIR SOURCE_DIR DEB_VERSION
set -euo pipefail
BUILD=${1:?usage: package_build.sh BUILD_DIR SOURCE_DIR DEB_VERSION}
SRC=${2:?usage}
VERSION=${3:?usage}
ARCH=$(dpkg --print-architecture)

debs=()
for pkg in common manager worker server cli; do
  arch=$ARCH
  [[ $pkg == common ]] && arch=all
  debs+=("$BUILD/packages/duende-${pkg}_${VERSION}_${arch}.deb")
done
inputs=("$BUILD"/bin/duende "$BUILD"/bin/duende-manager "$BUILD"/bin/duende-worker "$BUILD"/bin/duende-server
  "$BUILD/CPackConfig.cmake" "$BUILD/packaging" "$SRC/packaging" "$SRC/web/dist")

fresh=1
for deb in "${debs[@]}"; do
  if [[ ! -f $deb ]] || [[ -n $(find "${inputs[@]}" -newer "$deb" -print -quit 2>/dev/null) ]]; then
    fresh=0
    break
  fi
done
if ((fresh)); then
  echo "package_build: packages are up to date in $BUILD/packages"
  exit 0
fi

log="$BUILD/packages-cpack.log"
if ! (cd "$BUILD" && cpack --config CPackConfig.cmake) >"$log" 2>&1; then
  echo "package_build: FAIL: cpack failed (log: $log)" >&2
  tail -n 30 "$log" >&2
  exit 1
fi
for deb in "${debs[@]}"; do
  [[ -f $deb ]] || { echo "package_build: FAIL: cpack did not make $deb" >&2; exit 1; }
done
echo "package_build: built ${#debs[@]} packages in $BUILD/packages"
