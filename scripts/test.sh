#!/usr/bin/env bash
# The whole test suite: lint (ruff check + format check) and pytest (core, graph, interfaces).
# Sets the environment up first if it is missing or stale. Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
./scripts/setup.sh --check || ./scripts/setup.sh
# shellcheck disable=SC1091
source scripts/env.sh
echo "[test] ruff check + format check"
ruff check .
ruff format --check .
echo "[test] pytest (ROS_DOMAIN_ID chosen per session in tests/conftest.py)"
set +e
python -m pytest "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "[test] error: pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
