#!/usr/bin/env bash
# CI of the Python SDK: a fresh venv in clients/python/.venv, the pinned
# dependencies of requirements.lock, the package itself, then pytest against
# a real server.
#
#   SETTLED_BIN=/path/to/settled bash clients/python/ci.sh [pytest args...]
#
# SETTLED_BIN is a built `settled` binary (default: target/debug/settled of
# the repository). Needs python3 with its venv module (Debian: python3-venv).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# Absolute, as the tests run from another directory.
SETTLED_BIN="$(realpath -m "${SETTLED_BIN:-$here/../../target/debug/settled}")"
export SETTLED_BIN
cd "$here"
if [ ! -x "$SETTLED_BIN" ]; then
    echo "ci.sh: no settled binary at $SETTLED_BIN (set SETTLED_BIN)" >&2
    exit 1
fi
# A stale build/ would install modules deleted since.
rm -rf .venv build settled_client.egg-info
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-build-isolation --no-deps .
# Run from the tests directory so that the installed package, not the
# source tree, is what the tests import.
cd tests
exec ../.venv/bin/python -m pytest -p no:cacheprovider "$@"
