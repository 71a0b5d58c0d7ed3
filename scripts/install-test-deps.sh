#!/usr/bin/env bash
# Installs what the tests need beyond Go modules, idempotently and cached:
# the npm packages of the interop tests (test/interop/js).
set -euo pipefail
cd "$(dirname "$0")/.."
js=test/interop/js
if [ -f "$js/package.json" ]; then
  if [ ! -d "$js/node_modules" ] || [ "$js/package-lock.json" -nt "$js/node_modules/.installed" ]; then
    (cd "$js" && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed)
  fi
fi
