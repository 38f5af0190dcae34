#!/usr/bin/env bash
# Builds (if needed) and runs the whole test suite, with a throw-away local
# PostgreSQL server for the tuning tests (ONESHOT_SKIP_POSTGRES=1 skips them).
# Usage: scripts/test.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}
[ -f "$BUILD_DIR/build.ninja" ] || scripts/setup.sh "$BUILD_DIR"
cmake --build "$BUILD_DIR" -j "$(nproc)"  # everything: the tests and benchmarks too (setup.sh builds only the CLI)

if [ -z "${ONESHOT_TEST_POSTGRES:-}" ] && [ -z "${ONESHOT_SKIP_POSTGRES:-}" ]; then
  export ONESHOT_PG_DIR=${ONESHOT_PG_DIR:-/tmp/oneshot-postgres-$$}
  eval "$(scripts/postgres-test-server.sh start)"
  trap 'scripts/postgres-test-server.sh stop' EXIT
fi
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)"
