#!/usr/bin/env bash
# Issue 14 through the shim.  A program that writes a protected file and
# exits without closing it (return from main, exit(), the last thread
# ending) leaves it clean, so a bit flipped at rest afterwards is a
# mismatch at the next read (EIO), in check, and never re-sealed; _exit
# leaves it unclean, and a recovery at the next open still keeps the
# rotten block failing (no power cut in between).  A fork child exiting
# does not mark its parent's file clean.  O_DSYNC and RWF_DSYNC writes
# sync; RWF_APPEND appends; an unknown RWF flag fails with EOPNOTSUPP.
# Usage: trust_test.sh PATH/TO/csumshim PATH/TO/trust_prog
set -u
CS=$(readlink -f "${1:?usage: trust_test.sh CSUMSHIM TRUST_PROG}")
PROG=$(readlink -f "${2:?usage: trust_test.sh CSUMSHIM TRUST_PROG}")
T=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-trust.XXXXXX")
trap 'rm -rf "$T"' EXIT
mkdir "$T/p"
printf '[global]\nlog = %s/log\n\n[%s/p/*]\n' "$T" "$T" >"$T/conf"
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
run() { "$CS" run --config "$T/conf" -- "$@"; }
state() { "$CS" info "$1" | sed -n 's/^state: *//p'; }

# The 64 KiB the program writes, for comparison.
python3 -c 'import sys; sys.stdout.buffer.write(bytes((i*7+1)&255 for i in range(65536)))' >"$T/want"

for mode in return exit thread; do
	f=$T/p/$mode.img
	if run "$PROG" "$mode" "$f"; then ok; else bad "$mode: program failed"; fi
	st=$(state "$f")
	if [ "$st" = clean ]; then ok; else bad "$mode: state '$st' after a normal exit, want clean"; fi
	if "$CS" check "$f" >/dev/null; then ok; else bad "$mode: check before the flip"; fi
	"$CS" corrupt "$f" --offset 8192 --seed 7 >/dev/null || bad "$mode: corrupt"
	if run cat "$f" >"$T/out" 2>"$T/err"; then
		bad "$mode: the rotten file read back without an error"
	else
		ok
	fi
	if cmp -s <(head -c 8192 "$T/want") "$T/out"; then ok; else bad "$mode: verified prefix differs"; fi
	"$CS" check "$f" >"$T/out"
	rc=$?
	if [ $rc -eq 1 ] && grep -q '^block 2 (bytes 8192-12287): checksum mismatch$' "$T/out"; then ok; else
		bad "$mode: check exit $rc"; sed 's/^/    | /' "$T/out" >&2
	fi
done

# _exit: unclean; the next open recovers (same boot) and keeps the rotten
# block failing; check names it.
f=$T/p/quick.img
run "$PROG" _exit "$f" || bad "_exit: program failed"
st=$(state "$f")
if [ "$st" = unclean ]; then ok; else bad "_exit: state '$st', want unclean"; fi
"$CS" corrupt "$f" --offset 8192 --seed 7 >/dev/null || bad "_exit: corrupt"
if run cat "$f" >"$T/out" 2>"$T/err"; then bad "_exit: rotten block re-sealed by recovery"; else ok; fi
if grep -q "block 2 " "$T/log"; then ok; else bad "_exit: no log line for block 2"; fi
"$CS" check "$f" >"$T/out"
rc=$?
if [ $rc -eq 1 ] && grep -q '^block 2 (bytes 8192-12287): checksum mismatch$' "$T/out"; then ok; else
	bad "_exit: check exit $rc after recovery"; sed 's/^/    | /' "$T/out" >&2
fi

# A fork child's normal exit leaves its parent's file as the parent has it.
f=$T/p/fork.img
if run "$PROG" fork "$f"; then ok; else bad "fork: program failed"; fi
st=$(state "$f")
if [ "$st" = unclean ]; then ok; else bad "fork: state '$st' after the parent's _exit, want unclean"; fi
if "$CS" recover "$f" >/dev/null; then ok; else bad "fork: recover found damage"; fi

# O_DSYNC and RWF_DSYNC: a sync follows each write (counted against the
# same writes without them, on a file formatted beforehand).
if command -v strace >/dev/null; then
	for m in plain dsync; do
		"$CS" format "$T/p/$m.img" --size 1M >/dev/null || bad "$m: format"
		run strace -f -qq -e trace=fsync,fdatasync -o "$T/trace.$m" "$PROG" "$m" "$T/p/$m.img" ||
			bad "$m: program failed"
	done
	base=$(grep -cE '^[0-9]+ +f(data)?sync\(' "$T/trace.plain")
	n=$(grep -cE '^[0-9]+ +f(data)?sync\(' "$T/trace.dsync")
	if [ "$n" -ge $((base + 2)) ]; then ok; else
		bad "dsync: $n syncs for two synchronous writes, $base without"
	fi
else
	echo "note: no strace; O_DSYNC case skipped"
fi

# RWF_* flags.
if run "$PROG" rwf "$T/p/rwf.img"; then ok; else bad "rwf: program failed"; fi

echo "shim_trust: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
