#!/usr/bin/env bash
# The shim built with ASan+UBSan, preloaded after the ASan runtime, under
# the per-name test and the fork/thread stress.  Leak checking is off: a
# program that exits with files open leaves their engines allocated.
# Usage: run_san.sh PATH/TO/libcsumshim_san.so PATH/TO/test_calls SRC_DIR
set -u
LIB=$(readlink -f "$1") BIN=$(readlink -f "$2") SRC=$(readlink -f "$3")
ASAN=$(gcc -print-file-name=libasan.so)
T=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-san.XXXXXX")
trap 'rm -rf "$T"' EXIT
mkdir "$T/p" "$T/s"
printf '[global]\nlog = %s/log\n\n[%s/p/*]\n\n[%s/s/*.dat]\nlayout = separate\n' "$T" "$T" "$T" >"$T/conf"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
rc=0
CSUMSHIM_CONFIG=$T/conf LD_PRELOAD="$ASAN $LIB" "$BIN" "$T" || rc=1
CSUMSHIM_CONFIG=$T/conf LD_PRELOAD="$ASAN $LIB" timeout 600 python3 "$SRC/tests/shim/fork_locks.py" --quiesce "$T/p/fl.img" || rc=1
CSUMSHIM_CONFIG=$T/conf LD_PRELOAD="$ASAN $LIB" sh -c "cat '$SRC/README.md' > '$T/p/r.img' && cmp '$SRC/README.md' '$T/p/r.img'" || rc=1
echo "shim under ASan+UBSan: $([ $rc = 0 ] && echo '3 passed, 0 failed' || echo 'failures above')"
exit $rc
