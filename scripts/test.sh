#!/usr/bin/env bash
# Install everything, then run the test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Two worker processes (pytest-xdist), each test file kept on one worker so module fixtures
# are built once: on 2 shared cores the full suite took 867 s against 1,089 s in one process.
# CNNLAB_TEST_WORKERS=0 runs in this process (pdb; the -m "not slow" loop is no faster with 2).
exec .venv/bin/python -m pytest -n "${CNNLAB_TEST_WORKERS:-2}" --dist loadfile "$@"
