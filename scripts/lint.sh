#!/usr/bin/env bash
# Static checks: clang-format (no diff), cppcheck, clang-tidy (.clang-tidy).
# Needs a configured build/ for compile_commands.json.  Exit 1 on findings,
# 2 when a tool or the build directory is missing: a check that cannot run
# is an error, never a pass.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
for t in git clang-format cppcheck clang-tidy; do
	if ! command -v "$t" >/dev/null; then
		echo "lint: '$t' is not installed (scripts/setup.sh installs it)" >&2
		exit 2
	fi
done
if [ ! -f "$BUILD/compile_commands.json" ]; then
	echo "lint: no $BUILD/compile_commands.json (configure the build first: scripts/setup.sh)" >&2
	exit 2
fi
mapfile -t files < <(git ls-files '*.c' '*.h')
mapfile -t units < <(git ls-files 'src/*.c' 'tests/unit/*.c' 'tests/engine/*.c' 'tests/support/*.c')
if [ ${#files[@]} -eq 0 ] || [ ${#units[@]} -eq 0 ]; then
	echo "lint: git lists no C files here" >&2
	exit 2
fi
rc=0
for f in "${files[@]}"; do
	if ! clang-format "$f" | cmp -s - "$f"; then
		echo "lint: $f is not clang-formatted (run: clang-format -i $f)"
		rc=1
	fi
done
if ! cppcheck --enable=warning,performance,portability --inline-suppr --quiet --std=c11 \
	--error-exitcode=1 -I include src tests; then
	echo "lint: cppcheck found problems (above)"
	rc=1
fi
# clang-tidy's own failure (a file it cannot compile, a bad option) counts
# as much as a finding; "N warnings generated" lines about headers do not.
tidy=$(clang-tidy -p "$BUILD" --quiet "${units[@]}" 2>&1)
tidy_rc=$?
findings=$(grep -E '(warning|error):' <<<"$tidy")
if [ $tidy_rc -ne 0 ] || [ -n "$findings" ]; then
	echo "${findings:-$tidy}"
	echo "lint: clang-tidy failed (exit $tidy_rc)"
	rc=1
fi
[ $rc -eq 0 ] && echo "lint: clean (clang-format on ${#files[@]} files, cppcheck, clang-tidy on ${#units[@]} units)"
exit $rc
