#!/usr/bin/env bash
# Installs the Debian 12 packages spanline needs to build, test and run its demo.
# Idempotent: installs only what is missing, and runs apt-get update at most once.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl python3 openssl
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libsimdjson-dev libconcurrentqueue-dev libzstd-dev libssl-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev libtomlplusplus-dev libcli11-dev libjemalloc-dev
  libprotobuf-dev protobuf-compiler
  # packaging and its tests (tests/packaging), and the example clients' tests (examples/)
  dpkg-dev fakeroot lintian systemd man-db python3-yaml golang-go
  clang libclang-rt-14-dev  # libFuzzer (scripts/fuzz.sh)
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

# Node.js runs the OpenTelemetry JS SDK in the OTLP end-to-end test (tests/otel). A node
# installed another way (e.g. NodeSource, which bundles npm) is fine: only install Debian's
# when there is none.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then sudo="sudo"; else
    echo "install-deps: missing packages (${missing[*]}) and not root; run as root or install them" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
