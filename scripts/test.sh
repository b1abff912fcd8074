#!/usr/bin/env bash
# Run the test suite (unit tests on tiny random models, plus integration tests on the default model).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not integration"`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest "$@"
