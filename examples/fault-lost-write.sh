#!/usr/bin/env bash
# A lost write, caught: the storage acknowledges a write of block 1 and
# never stores it.  The program fsyncs, closes, reopens and reads: the
# read fails with EIO (instead of returning the stale block), and the log
# names the injected fault and the mismatch.
# Usage: examples/fault-lost-write.sh [PATH/TO/csumshim]
set -uo pipefail
CS=$(readlink -f "${1:-build/csumshim}")
D=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-lost.XXXXXX")
trap 'rm -rf "$D"' EXIT
cd "$D" || exit 1
printf '[global]\nlog = %s/log\n[%s/data/*]\n[faults]\ncontrol = yes\n' "$D" "$D" >conf
mkdir data
run() { "$CS" run --config conf -- "$@"; }

head -c 16384 /dev/zero | tr '\0' 'a' | run dd of=data/file status=none
"$CS" fault add data/file lost blocks=1 max=1
run python3 -c '
import os
fd = os.open("data/file", os.O_WRONLY)
os.pwrite(fd, b"b" * 4096, 4096)   # acknowledged...
os.fsync(fd)                       # ...and "durable"
os.close(fd)'
"$CS" fault list data/file
"$CS" fault clear data/file >/dev/null
run python3 -c '
import os, sys
fd = os.open("data/file", os.O_RDONLY)
try:
    data = os.pread(fd, 4096, 4096)
except OSError as e:
    print("reading block 1 after reopening:", e.strerror)
    sys.exit(0 if e.errno == 5 else 1)
print("reading block 1 after reopening returned", data[:8], "- NOT detected")
sys.exit(1)' || exit 1
echo "log:"
sed 's/^/  /' log
grep -q 'injected: lost write, block 1$' log && grep -q 'checksum mismatch in block 1 ' log
