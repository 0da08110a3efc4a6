#!/usr/bin/env bash
# A test harness that injects corruption and expects the software under test
# to see EIO.  Here the software under test is a small Python reader; swap in
# your own command.  `csumshim corrupt` is deterministic with --seed, and
# running it again with the same arguments undoes the damage.
# Usage: examples/harness.sh [PATH/TO/csumshim]
set -uo pipefail
CS=$(readlink -f "${1:-build/csumshim}")
D=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-harness.XXXXXX")
trap 'rm -rf "$D"' EXIT
cd "$D"
mkdir data
printf '[%s/data/*]\n[global]\nlog = %s/csumshim.log\n' "$D" "$D" >csumshim.conf
run() { "$CS" run --config csumshim.conf -- "$@"; }
under_test() { run python3 -c 'import sys; open(sys.argv[1], "rb").read()' "$1"; }

head -c 1M /dev/urandom | run dd of=data/blob status=none
failures=0
for off in 0 4095 4096 500000 1048575; do
	"$CS" corrupt data/blob --offset "$off" --bits 3 --seed "$off" >/dev/null
	if under_test data/blob 2>err.txt; then
		echo "offset $off: NOT detected"; failures=$((failures + 1))
	elif grep -q "Errno 5" err.txt; then
		echo "offset $off: EIO, as expected"
	else
		echo "offset $off: failed, but not with EIO"; failures=$((failures + 1))
	fi
	"$CS" corrupt data/blob --offset "$off" --bits 3 --seed "$off" >/dev/null # undo
done
if under_test data/blob; then
	echo "after undoing: reads clean"
else
	echo "after undoing: still failing"; failures=$((failures + 1))
fi
echo "log:"; sed 's/^/  /' csumshim.log
# one logged mismatch per injection, naming its block
for off in 0 4095 4096 500000 1048575; do
	grep -q "data/blob: checksum mismatch in block $((off / 4096)) " csumshim.log || {
		echo "offset $off: block $((off / 4096)) not in the log"; failures=$((failures + 1))
	}
done
echo "harness: $failures failures"
[ "$failures" -eq 0 ]
