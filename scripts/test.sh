#!/usr/bin/env bash
# Set up, build and run the whole test suite: unit, engine (also under
# ASan+UBSan) and integration tests, then the static checks (scripts/lint.sh)
# and the libFuzzer targets (a clang build in build-fuzz/) for a fixed budget.
#   scripts/test.sh              everything but the long stresses
#   scripts/test.sh -L unit      extra arguments go to the main ctest run
#   scripts/test.sh -L long      the long stresses (label long) alone
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
# ctest-junit.xml records each test's status and output: .ci/run reads the
# skips from it.
# The long stresses (label long: longer runs of tests whose short default
# is in the suite) only on request, to keep the suite near 20 minutes.
args=("$@")
[ $# -gt 0 ] || args=(-LE long)
(cd build && ctest --output-on-failure --output-junit ctest-junit.xml -j"$(nproc)" "${args[@]}")
if [ $# -eq 0 ]; then
	scripts/lint.sh build
	CC=clang cmake -S . -B build-fuzz -DCSUMSHIM_FUZZ=ON -DCSUMSHIM_SANITIZED_TESTS=OFF \
		-DCSUMSHIM_WERROR=ON >/dev/null
	cmake --build build-fuzz -j"$(nproc)" >/dev/null
	(cd build-fuzz && ctest --output-on-failure --output-junit ctest-junit.xml -j"$(nproc)" -L fuzz)
fi
