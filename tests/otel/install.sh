#!/usr/bin/env bash
# Installs the pinned OpenTelemetry JS SDK (package-lock.json) for the OTLP end-to-end test
# (tests/agent/otlp_e2e_test.cpp). Called by scripts/test.sh; needs node and npm.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if ! command -v npm >/dev/null; then
  echo "tests/otel/install.sh: npm not found (apt-get install nodejs npm)" >&2
  exit 1
fi
npm ci --no-audit --no-fund --loglevel=error
