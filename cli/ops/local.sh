#!/usr/bin/env bash
# Entry of `npm run local` / `npm run local:down`: installs the project's npm dependencies when they
# are missing or stale (node_modules older than package-lock.json), then runs the TypeScript
# orchestration (cli/ops/cli.ts), which checks the other tools and says what is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "installing npm dependencies (npm ci)"
    npm ci --no-audit --no-fund
fi
exec node_modules/.bin/ts-node --transpile-only cli/ops/cli.ts "$@"
