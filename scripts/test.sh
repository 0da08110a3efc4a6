#!/usr/bin/env bash
# Set up, build and run the whole test suite: unit, engine (also under
# ASan+UBSan) and integration tests, then the fuzzers for a fixed budget.
#   scripts/test.sh            everything
#   scripts/test.sh -L unit    extra arguments go to ctest
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
cd build
ctest --output-on-failure -j"$(nproc)" "$@"
