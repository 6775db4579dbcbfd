#!/usr/bin/env bash
# Installs the Debian 12 packages roomcast needs to build, test and benchmark.
# Idempotent: when everything is present it only checks and returns.
# Usage: tools/install-deps.sh   (as root, or with sudo available)
set -euo pipefail

PACKAGES=(
  # build
  cmake ninja-build g++ ccache pkg-config
  # libraries (DESIGN: Debian packages only)
  protobuf-compiler libprotobuf-dev librocksdb-dev libabsl-dev
  libcurl4-openssl-dev libboost1.81-dev libssl-dev zlib1g-dev libzstd-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # real caches and references for tests and benchmarks
  nginx varnish libnginx-mod-nchan wrk curl
  # edge tokens and purges in the reference caches (DESIGN §11, §12)
  libnginx-mod-http-js libnginx-mod-http-cache-purge varnish-modules varnish-vmod-digest
  # cluster mode (DESIGN §13)
  nats-server libnats-dev
  # fuzzing: clang's libFuzzer and its sanitizer runtimes
  clang libclang-rt-14-dev
  # the browser test: Debian's Chromium driven by playwright-core (npm)
  chromium
)
# Node.js and npm may come from elsewhere (the image's own build); only when
# missing, take Debian's.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  PACKAGES+=(nodejs npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -q
# Packages such as nginx and varnish start a system service when installed;
# tests start their own instances on loopback ports, so that is not needed.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
