#!/usr/bin/env bash
# Runs test_maps under the shim with a config protecting DIR/p/, then
# checks the file it mapped; then alloc_unmaps (an allocator calling
# munmap/madvise from free) must not hang.
# Usage: run_maps.sh PATH/TO/csumshim PATH/TO/test_maps [PATH/TO/alloc_unmaps]
set -u
CS=$(readlink -f "$1"); BIN=$(readlink -f "$2")
T=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-maps.XXXXXX")
trap 'rm -rf "$T"' EXIT
mkdir "$T/p"
printf '[global]\nlog = %s/log\n\n[%s/p/*]\n' "$T" "$T" >"$T/conf"
"$CS" run --config "$T/conf" -- "$BIN" "$T" || exit 1
"$CS" check "$T/p/map.img" >/dev/null || { echo "FAIL: check map.img"; exit 1; }
grep -q "open for writing refused (ETXTBSY)" "$T/log" &&
	grep -q "shared mmap refused (ENODEV)" "$T/log" &&
	grep -q "mprotect(PROT_WRITE) of a shared mapping refused" "$T/log" ||
	{ echo "FAIL: refusals not logged"; cat "$T/log"; exit 1; }
echo "maps log: 1 passed, 0 failed"
if [ $# -ge 3 ]; then
	timeout 60 "$CS" run --config "$T/conf" -- "$(readlink -f "$3")" "$T" ||
		{ echo "FAIL: alloc_unmaps (hung or failed)"; exit 1; }
fi
