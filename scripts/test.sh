#!/usr/bin/env bash
# Run the test suite (unit tests on tiny random models, plus integration tests on the default model), listing the
# 15 slowest tests at the end. Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not integration"`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest --durations=15 "$@"
