#!/usr/bin/env bash
# Set up (first run only) and run every test tier: unit, fault, gateway integration and packaging.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/unit -q`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'

# The real open-source Portkey gateway, pinned in tests/gateway/package-lock.json; reinstalled only
# when the lock file is newer than the installed tree (npm ci wipes node_modules and takes ~10 s).
if command -v npm >/dev/null 2>&1 && [ -f tests/gateway/package-lock.json ]; then
  if [ ! tests/gateway/node_modules/.package-lock.json -nt tests/gateway/package-lock.json ]; then
    (cd tests/gateway && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
fi

exec .venv/bin/python -m pytest "$@"
