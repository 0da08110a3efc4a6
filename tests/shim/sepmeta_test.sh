#!/usr/bin/env bash
# Issue 14 for the separate layout: a metadata file that is missing, cut
# short, punched, another file's, or of the other layout is an error, never
# zeros and never adopted (docs/DESIGN.md "Separate layout: the pair").
# Each case goes through the shim (the errno of the open or the read, the
# one log line) and `csumshim check` (exit status, what it names), and a
# refusal must leave the data file and the metadata file byte for byte as
# they were.  Legitimate operations on the pair (a new or empty file, mv of
# both, cp of both, export and import) must keep working.
# Usage: sepmeta_test.sh PATH/TO/csumshim
set -u
CS=$(readlink -f "${1:?usage: sepmeta_test.sh PATH/TO/csumshim}")
command -v python3 >/dev/null || { echo "SKIP: python3 is not installed"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-sepmeta.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 2
mkdir s
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { # NAME COMMAND...: the command must succeed
	local name=$1
	shift
	if "$@"; then ok; else bad "$name"; fi
}
# 512-byte blocks with crc32c: 108 blocks (55296 bytes) per group.
printf '[global]\nlog = %s\n[%s]\nlayout = separate\nblock_size = 512\n' \
	"$T/shim.log" "$T/s/*.dat" >conf
R() { "$CS" run --config "$T/conf" -- "$@"; }
sum() { if [ -e "$1" ]; then sha256sum <"$1" | cut -c1-64; else echo absent; fi; }
# What opening and reading a range gives, under the shim:
# "open ERRNO", or "read ERRNO", or "read N" (bytes read).
cat >op.py <<'PY'
import os, sys
path, mode = sys.argv[1], sys.argv[2]
off = int(sys.argv[3]) if len(sys.argv) > 3 else 0
n = int(sys.argv[4]) if len(sys.argv) > 4 else 1 << 20
fl = {"rw": os.O_RDWR, "ro": os.O_RDONLY, "creat": os.O_RDWR | os.O_CREAT,
      "trunc": os.O_RDWR | os.O_TRUNC}[mode]
try:
    fd = os.open(path, fl, 0o644)
except OSError as e:
    print("open", e.errno)
    sys.exit(0)
try:
    print("read", len(os.pread(fd, n, off)))
except OSError as e:
    print("read", e.errno)
PY
op() { R python3 "$T/op.py" "$@" 2>/dev/null; }
EIO=5 EMEDIUMTYPE=124 EUCLEAN=117
# logged COUNT TEXT: TEXT (fixed) is on exactly COUNT lines of the log
# written since the last `: >shim.log`.
logged() { [ "$(grep -cF -- "$2" shim.log)" = "$1" ] || { echo "log was:" >&2; cat shim.log >&2; false; }; }
N=150000 # three groups: 0-107, 108-215, 216-292 (the last partial)
head -c $N /dev/urandom >src
head -c $N /dev/urandom >src2
# new NAME [SRC]: a protected file written through the shim.
new() { R cp "${2:-src}" "s/$1.dat" || bad "cannot write s/$1.dat"; }
# same NAME: neither the data file nor the metadata file changed since
# snap NAME.
snap() { echo "$(sum "s/$1.dat") $(sum "s/$1.dat.csum")" >"$1.snap"; }
same() { [ "$(sum "s/$1.dat") $(sum "s/$1.dat.csum")" = "$(cat "$1.snap")" ]; }

# --- 1. missing metadata file ------------------------------------------------
new m
rm s/m.dat.csum
snap m
: >shim.log
for mode in rw ro creat; do
	check "missing, $mode: the open fails with EMEDIUMTYPE" [ "$(op s/m.dat $mode)" = "open $EMEDIUMTYPE" ]
done
check "missing: one line per open naming both files" logged 3 \
	"$T/s/m.dat: not a csumshim file: no metadata file $T/s/m.dat.csum (lost, or never made); refused, never adopted"
R sh -c 'echo more >>s/m.dat' 2>/dev/null
check "missing, append: refused" [ $? != 0 ]
check "missing: no metadata file made, the data unchanged" same m
"$CS" check s/m.dat >out 2>&1
check "missing: check exits 2" [ $? = 2 ]
check "missing: check names the metadata file" grep -qF "no metadata file s/m.dat.csum" out
# Renamed away: the same, and the renamed file is left alone.
new r
mv s/r.dat.csum r.csum.away
cp r.csum.away r.csum.before
snap r
check "renamed away: refused" [ "$(op s/r.dat rw)" = "open $EMEDIUMTYPE" ]
check "renamed away: nothing changed" same r
check "renamed away: the moved file untouched" cmp -s r.csum.away r.csum.before
# A new file, and an empty one, get a fresh metadata file as always.
check "new file: made" [ "$(op s/n.dat creat)" = "read 0" ]
check "new file: a metadata file with it" [ -s s/n.dat.csum ]
: >s/e.dat
check "empty file: opened" [ "$(op s/e.dat rw)" = "read 0" ]
check "empty file: a metadata file with it" [ -s s/e.dat.csum ]
# O_TRUNC throws the content away: a fresh metadata file is no laundering.
check "missing, O_TRUNC: opened empty" [ "$(op s/m.dat trunc)" = "read 0" ]
check "missing, O_TRUNC: a fresh metadata file" [ -s s/m.dat.csum ] && [ ! -s s/m.dat ]

# --- 2. metadata file cut short or punched --------------------------------------
new z
truncate -s 0 s/z.dat.csum
snap z
: >shim.log
check "metadata emptied: rw open fails with EIO" [ "$(op s/z.dat rw)" = "open $EIO" ]
check "metadata emptied: ro open fails with EIO" [ "$(op s/z.dat ro)" = "open $EIO" ]
check "metadata emptied: logged" logged 2 \
	"$T/s/z.dat: holds $N bytes but its metadata file $T/s/z.dat.csum is empty (its checksums are lost); refused, never adopted"
check "metadata emptied: nothing changed" same z
"$CS" check s/z.dat >out 2>&1
check "metadata emptied: check exits 2 naming it" [ $? = 2 ] && grep -qF "s/z.dat.csum: not a csumshim file" out
new h
truncate -s 100 s/h.dat.csum
snap h
: >shim.log
check "superblock cut: refused with EUCLEAN" [ "$(op s/h.dat rw)" = "open $EUCLEAN" ]
check "superblock cut: logged" logged 1 "$T/s/h.dat.csum: superblock truncated"
check "superblock cut: nothing changed" same h
"$CS" check s/h.dat >out 2>&1
check "superblock cut: check exits 2" [ $? = 2 ] && grep -qF "superblock truncated" out
# Cut inside group 1's pair: groups 1 and 2 are missing, group 0 reads.
new t
truncate -s $((4096 + 2 * 512 + 100)) s/t.dat.csum
snap t
: >shim.log
check "metadata tail cut: group 0 reads" [ "$(op s/t.dat ro 0 55296)" = "read 55296" ]
check "metadata tail cut: group 1 fails with EIO" [ "$(op s/t.dat rw 55296 512)" = "read $EIO" ]
check "metadata tail cut: group 2 fails with EIO" [ "$(op s/t.dat ro 140000 512)" = "read $EIO" ]
check "metadata tail cut: group 1 logged as missing" logged 1 "$T/s/t.dat: group 1: missing: stored past the end of the file (lost tail)"
check "metadata tail cut: group 2 logged as missing" logged 1 "$T/s/t.dat: group 2: missing: stored past the end of the file (lost tail)"
check "metadata tail cut: nothing changed" same t
"$CS" check s/t.dat >out 2>&1
check "metadata tail cut: check exits 1" [ $? = 1 ]
check "metadata tail cut: check names the range" \
	grep -qF "s/t.dat: lost tail: 185 blocks (bytes 55296-149999) are missing from the stored file" out
# Group 1's pair punched while its data is there.
new p
fallocate -p -o $((4096 + 2 * 512)) -l 1024 s/p.dat.csum
snap p
: >shim.log
check "punched pair: group 0 reads" [ "$(op s/p.dat rw 0 55296)" = "read 55296" ]
check "punched pair: group 2 reads" [ "$(op s/p.dat ro 110592 512)" = "read 512" ]
check "punched pair: group 1 fails with EIO" [ "$(op s/p.dat ro 60000 10)" = "read $EIO" ]
check "punched pair: logged" logged 1 "$T/s/p.dat: never-written block is not zero in block 117"
check "punched pair: nothing changed" same p
"$CS" check s/p.dat >out 2>&1
check "punched pair: check exits 1" [ $? = 1 ]
check "punched pair: check names every block of group 1" \
	[ "$(grep -c "never-written block is not zero" out)" = 108 ]

# --- 3. another file's metadata file --------------------------------------------
new a
new b src2
cp s/b.dat.csum s/a.dat.csum
snap a
: >shim.log
check "foreign, same size: rw open fails with EIO" [ "$(op s/a.dat rw)" = "open $EIO" ]
check "foreign, same size: ro open fails with EIO" [ "$(op s/a.dat ro)" = "open $EIO" ]
check "foreign, same size: logged" logged 2 \
	"$T/s/a.dat.csum: the metadata file does not describe this data file: its first and last blocks (0 and 292) both fail verification (the metadata of another file, or the data file replaced); refused (metadata file of $T/s/a.dat)"
check "foreign, same size: nothing changed" same a
"$CS" check s/a.dat >out 2>&1
check "foreign, same size: check exits 1" [ $? = 1 ]
head -c 5000 /dev/urandom >small
new c small
cp s/c.dat.csum s/a.dat.csum
snap a
: >shim.log
check "foreign, smaller: refused with EIO" [ "$(op s/a.dat ro)" = "open $EIO" ]
check "foreign, smaller: logged" logged 1 \
	"$T/s/a.dat.csum: the data file holds $N bytes but its metadata file describes 5000: the metadata of another file, or data written without csumshim; refused (metadata file of $T/s/a.dat)"
check "foreign, smaller: nothing changed" same a
"$CS" check s/a.dat >out 2>&1
check "foreign, smaller: check exits 1" [ $? = 1 ]
check "foreign, smaller: check says so" grep -qF "s/a.dat: the data file holds $N bytes but its metadata file describes 5000" out
# Data appended without csumshim: the same.
new w
printf 'tail' >>s/w.dat
snap w
check "appended raw: refused with EIO" [ "$(op s/w.dat rw)" = "open $EIO" ]
check "appended raw: nothing changed" same w
check "appended raw: check exits 1" test "$("$CS" check s/w.dat >/dev/null 2>&1; echo $?)" = 1
# Zeros past a clean file's size: what a growth whose size write failed
# left before the last one out cut it back (an older csumshim marked such
# a file clean as it was).  Nothing of another file: opened, not refused.
new y
truncate -s $((N + 3000)) s/y.dat
check "zeros past a clean size: check agrees" "$CS" check s/y.dat
check "zeros past a clean size: opens and reads" [ "$(op s/y.dat rw)" = "read $N" ]
check "zeros past a clean size: read-only too" [ "$(op s/y.dat ro)" = "read $N" ]
# An older copy of this file's own metadata file, taken while the file was
# open (unclean), put back after the file grew: its first and last blocks
# still verify, and recovery would have cut the data file back to the old
# size, the appended data gone without an error.  Refused, nothing changed.
head -c 150016 /dev/urandom >src3 # a whole number of blocks
new u src3
R python3 -c '
import os, time
fd = os.open("s/u.dat", os.O_RDWR)
os.pwrite(fd, b"x" * 10, 600)
open("u.ready", "w").close()
time.sleep(2)
' &
holder=$!
for _ in $(seq 100); do [ -e u.ready ] && break; sleep 0.05; done
cp s/u.dat.csum u.old.csum
wait $holder
R sh -c 'cat src2 >>s/u.dat' || bad "cannot append to s/u.dat"
cp u.old.csum s/u.dat.csum
snap u
: >shim.log
check "older unclean copy, grown: rw open fails with EIO" [ "$(op s/u.dat rw)" = "open $EIO" ]
check "older unclean copy, grown: ro open fails with EIO" [ "$(op s/u.dat ro)" = "open $EIO" ]
check "older unclean copy, grown: logged" logged 2 \
	"$T/s/u.dat.csum: the data file holds $((150016 + N)) bytes, data past the 150016 its metadata file describes"
check "older unclean copy, grown: nothing changed (not cut)" same u
# A write cut short by kill -9 after the data file grew but before the size
# did: past the size only zeros, which the next open takes (and cuts).
new g
"$CS" info s/g.dat >/dev/null 2>&1 || bad "info s/g.dat"
R python3 -c '
import os
fd = os.open("s/g.dat", os.O_RDWR)
os.pwrite(fd, b"y", 0)
os.kill(os.getpid(), 9)
'
truncate -s $((N + 70000)) s/g.dat # what extend_stores leaves
check "grown, size not stored: opens and reads" [ "$(op s/g.dat rw)" = "read $N" ]
check "grown, size not stored: the data file cut back" [ "$(stat -c %s s/g.dat)" = $N ]
# Rolled back with the same size and other middle blocks: not caught at open
# (blocks 0 and 292 verify), but every changed block fails its read.
new v
cp s/v.dat.csum v.old.csum
R dd if=src2 of=s/v.dat bs=512 seek=100 skip=100 count=50 conv=notrunc status=none ||
	bad "cannot rewrite s/v.dat"
cp v.old.csum s/v.dat.csum
check "rolled back, same size: opens" [ "$(op s/v.dat ro 0 512)" = "read 512" ]
check "rolled back, same size: a changed block fails with EIO" [ "$(op s/v.dat ro 51200 512)" = "read $EIO" ]
check "rolled back, same size: the last changed block fails with EIO" \
	[ "$(op s/v.dat ro $((149 * 512)) 512)" = "read $EIO" ]
check "rolled back, same size: an unchanged block reads" [ "$(op s/v.dat ro $((150 * 512)) 512)" = "read 512" ]
# Left unclean by kill -9, with rot in the last (partial) block: recovery's
# rewrite of the zeros past the size verified that block first and failed,
# every writable open refused for one block.  Now: it opens, that block
# fails its reads, the rest reads.
new q
R python3 -c '
import os
fd = os.open("s/q.dat", os.O_RDWR)
os.pwrite(fd, b"z", 600)
os.kill(os.getpid(), 9)
'
printf '\x55' | dd of=s/q.dat bs=1 seek=$((N - 200)) conv=notrunc status=none
check "unclean, rot in the last block: opens read-write" [ "$(op s/q.dat rw 0 1000)" = "read 1000" ]
check "unclean, rot in the last block: that block fails with EIO" [ "$(op s/q.dat rw $((292 * 512)) 512)" = "read $EIO" ]
check "unclean, rot in the last block: the block before reads" [ "$(op s/q.dat ro $((291 * 512)) 512)" = "read 512" ]
# One rotten block is a mismatch, not another file.
new o
printf '\x55' | dd of=s/o.dat bs=1 seek=100 conv=notrunc status=none
check "rot in block 0: opens, block 0 fails with EIO" [ "$(op s/o.dat rw 0 512)" = "read $EIO" ]
check "rot in block 0: the rest reads" [ "$(op s/o.dat ro 512 100000)" = "read 100000" ]
# What moves the pair together keeps it: mv, cp of both, export/import.
new k
check "mv of both" R mv s/k.dat s/k2.dat
check "mv of both: reads" [ "$(op s/k2.dat ro)" = "read $N" ]
cp s/k2.dat s/k3.dat && cp s/k2.dat.csum s/k3.dat.csum
check "cp of both: reads" [ "$(op s/k3.dat rw)" = "read $N" ]
check "export" "$CS" export s/k3.dat exported >/dev/null 2>&1
check "import" "$CS" import exported s/k4.dat --layout separate --metadata s/k4.dat.csum \
	--block-size 512 >/dev/null 2>&1
check "import: reads" [ "$(op s/k4.dat ro)" = "read $N" ] && cmp -s exported src

# --- 4. the metadata file of the other layout -----------------------------------
new i
"$CS" format il.img --size $N >/dev/null 2>&1 || bad "cannot format il.img"
cp il.img s/i.dat.csum
snap i
: >shim.log
check "interleaved metadata: rw open fails with EUCLEAN" [ "$(op s/i.dat rw)" = "open $EUCLEAN" ]
check "interleaved metadata: ro open fails with EUCLEAN" [ "$(op s/i.dat ro)" = "open $EUCLEAN" ]
check "interleaved metadata: O_TRUNC fails with EUCLEAN" [ "$(op s/i.dat trunc)" = "open $EUCLEAN" ]
check "interleaved metadata: logged" logged 3 \
	"$T/s/i.dat.csum: the metadata file's superblock says the layout is interleaved (one file), not separate; refused (data file $T/s/i.dat)"
check "interleaved metadata: nothing changed" same i
"$CS" check s/i.dat >out 2>&1
check "interleaved metadata: check exits 2 naming it" [ $? = 2 ] &&
	grep -qF "s/i.dat.csum: the metadata file's superblock says the layout is interleaved" out

echo "sepmeta_test: $pass passed, $fail failed"
[ "$fail" = 0 ]
