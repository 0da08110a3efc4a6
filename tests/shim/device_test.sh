#!/usr/bin/env bash
# A protected block device written the way users type it: `dd if=data
# of=/dev/loopN bs=1M` (O_CREAT and O_TRUNC, which mean nothing for a
# device) must work, read back verified, and check clean.  Needs root and
# loop devices; skipped (77) otherwise.  Only the loop device set up here
# is detached.  Usage: device_test.sh PATH/TO/csumshim
set -u
CS=$(readlink -f "${1:?usage: device_test.sh PATH/TO/csumshim}")
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root for a loop device"; exit 77; }
command -v losetup >/dev/null || { echo "SKIP: losetup not installed"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-dev.XXXXXX")
DEV=
trap '[ -n "$DEV" ] && losetup -d "$DEV"; rm -rf "$T"' EXIT
truncate -s 64M "$T/backing"
DEV=$(losetup -f --show "$T/backing" 2>/dev/null) || {
	DEV=
	echo "SKIP: no loop device available"
	exit 77
}
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
printf '[global]\nlog = %s/shim.log\n\n[%s]\n' "$T" "$DEV" >"$T/conf"
R() { "$CS" run --config "$T/conf" -- "$@"; }
"$CS" format "$DEV" --force >/dev/null && ok || bad "format $DEV"
head -c $((20 << 20)) /dev/urandom >"$T/data"
for round in 1 2; do
	R dd if="$T/data" of="$DEV" bs=1M status=none 2>"$T/dd.err" && ok ||
		bad "dd of=$DEV (round $round): $(cat "$T/dd.err")"
	R dd if="$DEV" bs=1M count=20 status=none 2>/dev/null | cmp -s - "$T/data" && ok ||
		bad "read back (round $round)"
done
"$CS" check "$DEV" >/dev/null && ok || bad "check $DEV"
# The stored bytes are not the data: the device holds a csumshim image.
head -c 8 "$DEV" | grep -q CSUMSHIM && ok || bad "$DEV has no superblock"
echo "device: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
