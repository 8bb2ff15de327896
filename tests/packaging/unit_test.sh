#!/usr/bin/env bash
# The systemd unit keeps its hardening: every directive below is present, and, where
# systemd-analyze can score a unit file offline, the exposure stays at or below 2.5.
# Usage: unit_test.sh UNIT_FILE
set -euo pipefail
unit="$1"
fail() { echo "FAIL: $*" >&2; exit 1; }

for directive in Type=notify NotifyAccess=main User=spanline Group=spanline \
  'SystemCallFilter=@system-service' SystemCallArchitectures=native ProtectClock=yes ProtectKernelLogs=yes \
  ProtectHostname=yes RestrictRealtime=yes RestrictSUIDSGID=yes ProtectProc=invisible RemoveIPC=yes \
  UMask=0077 StateDirectory=spanline StateDirectoryMode=0700 RuntimeDirectory=spanline \
  NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes \
  'CapabilityBoundingSet=' 'Documentation=man:spanlined(8)'; do
  grep -qxF "$directive" <(sed 's/ https:.*//' "$unit") || fail "$unit lacks $directive"
done

if ! command -v systemd-analyze >/dev/null; then
  echo "systemd-analyze not installed: exposure score not checked"
  exit 0
fi
report="$(systemd-analyze security --offline=yes "$unit" 2>&1)" || true
score="$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$report")"
if [ -z "$score" ]; then
  echo "this systemd-analyze cannot score unit files offline: exposure score not checked"
  exit 0
fi
awk -v s="$score" 'BEGIN { exit !(s <= 2.5) }' || fail "exposure $score > 2.5:
$(grep '✗' <<<"$report")"
echo "unit hardening OK (exposure $score)"
