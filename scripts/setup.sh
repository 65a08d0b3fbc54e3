#!/usr/bin/env bash
# Installs the Debian packages Duende needs to build, test and run the demo.
# Idempotent: only missing packages are installed. Needs root (or sudo).
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost-dev nlohmann-json3-dev libsqlite3-dev sqlite3 libyaml-cpp-dev
  libspdlog-dev libfmt-dev libcli11-dev libcurl4-openssl-dev zlib1g-dev libsodium-dev
  # The daemons' allocator (CMakeLists.txt, DUENDE_JEMALLOC).
  libjemalloc-dev
  # HTTPS for the Manager and the Server; the TLS tests make certificates with openssl.
  libssl-dev openssl ca-certificates
  libgtest-dev libgmock-dev libbenchmark-dev
  libhowardhinnant-date-dev tzdata
  # duende-server on PostgreSQL; the tests run its store suites on both.
  postgresql libpqxx-dev
  blender ffmpeg python3 curl procps
  chromium
  # `make bench`: the HTTP ratio against nginx under the same wrk load.
  nginx-light wrk
  # `make fuzz`: libFuzzer with ASan/UBSan (libclang-rt-19-dev). Clang 19,
  # not bookworm's default 14: clang before 19 does not define
  # __cpp_concepts 202002, so libstdc++ 12 hides std::expected from it.
  clang-19 libclang-rt-19-dev
  # `make package` and its tests: lintian on the .deb files,
  # systemd-analyze verify on the units.
  lintian systemd
)
# The web dashboard needs Node.js >= 18 and npm. A machine that already has
# them (e.g. from NodeSource) keeps its own; otherwise Debian's are used.
if ! command -v node >/dev/null 2>&1; then packages+=(nodejs); fi
if ! command -v npm >/dev/null 2>&1; then packages+=(npm); fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  if [ "$(id -u)" != 0 ]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present"
fi

# The store test suites run on PostgreSQL too: start it.
bash "$(dirname "$0")/postgres.sh"
