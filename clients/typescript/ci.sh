#!/usr/bin/env bash
# CI of the TypeScript SDK (@settled/client): a clean install from the lock
# file, the build, then every test (the protocol's vectors, end-to-end tests
# against a development server, the README's examples in a fresh project).
#
#   SETTLED_BIN=target/debug/settled clients/typescript/ci.sh
#
# SETTLED_BIN is the settled binary the tests start (default: the
# repository's debug build); it is resolved from the caller's directory.
set -euo pipefail
SETTLED_BIN="${SETTLED_BIN:-$(dirname "$0")/../../target/debug/settled}"
if [ ! -x "$SETTLED_BIN" ]; then
    echo "ci.sh: no settled binary at $SETTLED_BIN (set SETTLED_BIN)" >&2
    exit 1
fi
SETTLED_BIN="$(cd "$(dirname "$SETTLED_BIN")" && pwd)/$(basename "$SETTLED_BIN")"
export SETTLED_BIN
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
npm run build
npm test
