#!/usr/bin/env bash
# Static checks: clang-format (no diff), cppcheck, clang-tidy (.clang-tidy).
# Needs a configured build/ for compile_commands.json.  Exit 1 on findings.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
mapfile -t files < <(git ls-files '*.c' '*.h')
mapfile -t units < <(git ls-files 'src/*.c' 'tests/unit/*.c' 'tests/engine/*.c' 'tests/support/*.c')
rc=0
for f in "${files[@]}"; do
	if ! clang-format "$f" | cmp -s - "$f"; then
		echo "lint: $f is not clang-formatted (run: clang-format -i $f)"
		rc=1
	fi
done
if ! cppcheck --enable=warning,performance,portability --inline-suppr --quiet --std=c11 \
	--error-exitcode=1 -I include src tests; then
	rc=1
fi
out=$(clang-tidy -p "$BUILD" --quiet "${units[@]}" 2>/dev/null | grep -E '(warning|error):')
if [ -n "$out" ]; then
	echo "$out"
	rc=1
fi
[ $rc -eq 0 ] && echo "lint: clean (clang-format, cppcheck, clang-tidy)"
exit $rc
