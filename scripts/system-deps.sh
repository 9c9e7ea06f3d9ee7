#!/usr/bin/env bash
# Debian packages the tests and benchmarks use: PostgreSQL server, Chromium's headless shell (browser
# tests, tests/support/browser.py), wrk (load).
# Installs only what is missing; needs root (CI and dev machines run as root).
set -euo pipefail
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/bin/chromium-headless-shell ] || need+=(chromium-headless-shell)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${need[*]} (run as root: apt-get install ${need[*]})" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts a cluster on install; the tests run their own servers, so stop it.
service postgresql stop >/dev/null 2>&1 || true
