#!/usr/bin/env bash
# CI of the web console (clients/console): the TypeScript SDK it depends on
# built if needed, a clean install from the lock file, the committed dist/
# checked to be exactly a fresh build of the sources (the server embeds
# dist/ when it is compiled), then the unit tests and the browser tests
# (Debian's chromium, headless, against a server this script's caller
# built; screenshots in test-artifacts/).
#
#   SETTLED_BIN=target/debug/settled clients/console/ci.sh
#
# SETTLED_BIN is the settled binary the browser tests start (default: the
# repository's debug build); it is resolved from the caller's directory.
# Needs /usr/bin/chromium (`apt-get install -y chromium`).
set -euo pipefail
SETTLED_BIN="${SETTLED_BIN:-$(dirname "$0")/../../target/debug/settled}"
if [ ! -x "$SETTLED_BIN" ]; then
    echo "ci.sh: no settled binary at $SETTLED_BIN (set SETTLED_BIN)" >&2
    exit 1
fi
SETTLED_BIN="$(cd "$(dirname "$SETTLED_BIN")" && pwd)/$(basename "$SETTLED_BIN")"
export SETTLED_BIN
if [ ! -x "${CHROMIUM_BIN:-/usr/bin/chromium}" ]; then
    echo "ci.sh: no chromium at ${CHROMIUM_BIN:-/usr/bin/chromium} (apt-get install -y chromium, or set CHROMIUM_BIN)" >&2
    exit 1
fi
cd "$(dirname "$0")"
# The SDK (a file: dependency) as its own CI builds it: when it was never
# built, or was built from another version of the protocol.
if [ ! -f ../typescript/dist/verify.js ] || ! diff -rq ../typescript/proto/settled ../../proto/settled >/dev/null 2>&1; then
    (cd ../typescript && npm ci --no-audit --no-fund && npm run build)
fi
npm ci --no-audit --no-fund
npm run check-dist
npm test
