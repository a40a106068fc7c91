#!/usr/bin/env bash
# Set up (first run only) and run every test tier: unit, fault, gateway integration, browser and packaging.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/unit -q`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'

# The browser tier drives the playground page in the distribution's Chromium through Playwright (whose own
# browser downloads are never used). Installed here when missing on a Debian-like system run as root, as CI
# is; elsewhere the tier is skipped with the reason (and fails when CI is set).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
  else
    echo "scripts/test.sh: chromium is not installed: the browser tier will be skipped" >&2
  fi
fi

# The real open-source Portkey gateway, pinned in tests/gateway/package-lock.json; reinstalled only
# when the lock file is newer than the installed tree (npm ci wipes node_modules and takes ~10 s).
if command -v npm >/dev/null 2>&1 && [ -f tests/gateway/package-lock.json ]; then
  if [ ! tests/gateway/node_modules/.package-lock.json -nt tests/gateway/package-lock.json ]; then
    (cd tests/gateway && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
fi

exec .venv/bin/python -m pytest "$@"
