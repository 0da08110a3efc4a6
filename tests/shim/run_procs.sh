#!/usr/bin/env bash
# Runs test_procs under the shim with a config protecting DIR/p/*, after
# flipping a stored bit of block 5 of DIR/p/bad.img and at 1.5 MiB in
# DIR/p/bigbad.img; then every other file under DIR/p/ must check clean
# (but empty_raw.img, which the test writes without csumshim).
# Usage: run_procs.sh PATH/TO/csumshim PATH/TO/test_procs
set -u
CS=$(readlink -f "$1"); BIN=$(readlink -f "$2")
T=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-procs.XXXXXX")
trap 'rm -rf "$T"' EXIT
mkdir "$T/p"
printf '[global]\nlog = %s/log\n\n[%s/p/*]\n' "$T" "$T" >"$T/conf"
"$CS" run --config "$T/conf" -- "$BIN" prepare "$T" || { echo "prepare failed"; exit 1; }
"$CS" corrupt "$T/p/bad.img" --offset 20480 --seed 1 >/dev/null || exit 1
"$CS" corrupt "$T/p/bigbad.img" --offset 1572864 --seed 1 >/dev/null || exit 1
rc=0
"$CS" run --config "$T/conf" -- "$BIN" run "$T" || rc=1
for f in "$T"/p/*; do
	case $f in */bad.img | */bigbad.img | */empty_raw.img) continue ;; esac
	if ! "$CS" check "$f" >"$T/check.out" 2>&1; then
		echo "FAIL: check $f"; sed 's/^/    | /' "$T/check.out"; rc=1
	fi
done
grep -q "bad.img: checksum mismatch in block 5 " "$T/log" || { echo "FAIL: no log line for block 5"; rc=1; }
grep -q "empty_raw.img: written by another process since it was opened empty, and cannot be opened now" "$T/log" ||
	{ echo "FAIL: no log line for empty_raw.img"; rc=1; }
exit $rc
