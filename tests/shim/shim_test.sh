#!/usr/bin/env bash
# The shim with real programs under `csumshim run`.  Every result is checked
# byte for byte (sha256) against the same operations on a plain mirror file,
# and a flipped stored bit must make the program fail with an I/O error.
# PART picks the programs: core (coreutils, shells, python), sqlite, fio,
# e2fs, qemu, loop (a loop device); a part whose program (or, for loop,
# root and a loop device) is missing exits 77, skipped, with the reason.
# The data comes from CSM_SEED (default 1), printed for replay.
# Usage: shim_test.sh PATH/TO/csumshim [PART]
set -u
CS=$(readlink -f "${1:?usage: shim_test.sh PATH/TO/csumshim [PART]}")
PART=${2:-core}
SEED=${CSM_SEED:-1}
need() { # PROGRAM...: skip the part unless each is installed
	local t
	for t in "$@"; do
		PATH=$PATH:/usr/sbin:/sbin command -v "$t" >/dev/null && continue
		echo "SKIP: shim_test $PART: '$t' is not installed"
		exit 77
	done
}
case $PART in
core) need python3 ;;
sqlite) need sqlite3 ;;
fio) need fio ;;
e2fs) need mke2fs debugfs e2fsck ;;
qemu) need qemu-img ;;
loop)
	need losetup blockdev blkdiscard python3
	if [ "$(id -u)" != 0 ] || ! losetup -f >/dev/null 2>&1; then
		echo "SKIP: shim_test loop: no loop devices here (needs root and a free /dev/loopN)"
		exit 77
	fi
	;;
*) echo "shim_test: unknown part '$PART'" >&2; exit 2 ;;
esac
echo "shim_test $PART: seed $SEED (replay with CSM_SEED=$SEED)"
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-shim.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 2
mkdir p s m db
pass=0 fail=0
ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

cat >conf <<CONF
[global]
log = $T/shim.log

[$T/p/*]

[$T/s/*.dat]
layout = separate
checksum = xxh3
block_size = 1024

[$T/s/*.dat-journal]
layout = separate

[$T/db/*.db]
[$T/db/*.db-journal]
[$T/db/*.db-wal]
CONF

R() { "$CS" run --config "$T/conf" -- "$@"; }
sum() { sha256sum <"$1" | cut -c1-64; }            # unshimmed: raw bytes
rsum() { R sh -c 'sha256sum < "$1"' sh "$1" | cut -c1-64; }  # through the shim
same() { # NAME: the shimmed file's logical content equals the mirror's
	local a b; a=$(rsum "p/$1"); b=$(sum "m/$1")
	if [ "$a" = "$b" ]; then ok; else bad "$1: content differs from its mirror"; fi
}
expect_rc() { local want=$1; shift; "$@" >out 2>err; local got=$?
	if [ "$got" = "$want" ]; then ok; else bad "exit $got, want $want: $*"; sed 's/^/    | /' err >&2; fi; }
expect_eio() { # CMD...: fails, saying Input/output error
	"$@" >out 2>err
	local rc=$?
	if [ "$rc" -ne 0 ] && grep -q "Input/output error\|I/O error" err out; then ok; else
		bad "no I/O error (exit $rc) from: $*"; sed 's/^/    | /' err >&2; fi
}
# corrupt_and_expect FILE OFFSET BLOCK_SIZE CMD...: flip a stored bit, expect
# EIO from CMD and a log line naming the block, flip it back, expect success.
corrupt_and_expect() {
	local f=$1 off=$2 bs=$3; shift 3
	"$CS" corrupt "$f" --offset "$off" --seed 5 >/dev/null || bad "corrupt $f"
	expect_eio "$@"
	grep -q "$(basename "$f"): checksum mismatch in block $((off / bs)) " shim.log && ok ||
		bad "log lacks block $((off / bs)) of $f"
	"$CS" corrupt "$f" --offset "$off" --seed 5 >/dev/null
	expect_rc 0 "$@"
}

# N bytes from SEED (the same data on every run with that seed) into FILE.
seeded_bytes() {
	python3 -c 'import random, sys
r = random.Random(int(sys.argv[1]))
open(sys.argv[3], "wb").write(r.randbytes(int(sys.argv[2])))' "$@"
}
seeded_bytes "$SEED" 3000000 src
seeded_bytes "$((SEED + 1))" 50000 src2

core_part() {
# --- dd: plain, seek/skip, conv=notrunc, oflag=direct ----------------------
expect_rc 0 R dd if=src of=p/a.img bs=64k status=none
dd if=src of=m/a.img bs=64k status=none
same a.img
expect_rc 0 R dd if=src2 of=p/a.img bs=4k seek=10 count=5 conv=notrunc status=none
dd if=src2 of=m/a.img bs=4k seek=10 count=5 conv=notrunc status=none
same a.img
expect_rc 0 R dd if=src2 of=p/a.img bs=1000 seek=3 skip=7 count=9 status=none
dd if=src2 of=m/a.img bs=1000 seek=3 skip=7 count=9 status=none
same a.img
a=$(R dd if=p/a.img bs=777 skip=11 count=13 status=none | sha256sum | cut -c1-64)
b=$(dd if=m/a.img bs=777 skip=11 count=13 status=none | sha256sum | cut -c1-64)
[ "$a" = "$b" ] && ok || bad "dd skip= read differs"
expect_rc 0 R dd if=src of=p/direct.img bs=4096 count=100 oflag=direct status=none
dd if=src of=m/direct.img bs=4096 count=100 status=none
same direct.img
corrupt_and_expect p/a.img 5000 4096 R dd if=p/a.img of=/dev/null bs=64k status=none

# --- cp both ways, cat, cmp, head, tail, wc, sha256sum -----------------------
expect_rc 0 R cp src p/c.img
expect_rc 0 R cp p/c.img out.bin
cmp -s src out.bin && ok || bad "cp out of a configured path"
expect_rc 0 R cmp src p/c.img
[ "$(R cat p/c.img | sum /dev/stdin)" = "$(sum src)" ] && ok || bad "cat"
[ "$(R head -c 12345 p/c.img | sha256sum)" = "$(head -c 12345 src | sha256sum)" ] && ok || bad "head"
[ "$(R tail -c 54321 p/c.img | sha256sum)" = "$(tail -c 54321 src | sha256sum)" ] && ok || bad "tail"
[ "$(R wc -c <p/c.img)" = "3000000" ] || [ "$(R sh -c 'wc -c < p/c.img')" = "3000000" ] && ok || bad "wc -c"
[ "$(R stat -c %s p/c.img)" = 3000000 ] && ok || bad "stat size"
[ "$(R sha256sum p/c.img | cut -c1-64)" = "$(sum src)" ] && ok || bad "sha256sum (fopen)"
[ "$(R md5sum p/c.img | cut -c1-32)" = "$(md5sum <src | cut -c1-32)" ] && ok || bad "md5sum"
corrupt_and_expect p/c.img 2000000 4096 R cp p/c.img out3.bin
rm -f out3.bin
corrupt_and_expect p/c.img 5 4096 R sha256sum p/c.img
corrupt_and_expect p/c.img 2999999 4096 R cat p/c.img

# --- shell redirections, truncate -------------------------------------------
expect_rc 0 R sh -c 'cat src2 > p/r.img; echo appended >> p/r.img; printf "%s" more >> p/r.img'
{ cat src2; echo appended; printf "%s" more; } >m/r.img
same r.img
expect_rc 0 R truncate -s 12345 p/r.img
truncate -s 12345 m/r.img
same r.img
expect_rc 0 R truncate -s 70000 p/r.img
truncate -s 70000 m/r.img
same r.img
printf 'abcdefghijklmnop\n' >m/t.img
expect_rc 0 R sh -c 'cat m/t.img > p/t.img'
expect_rc 0 R bash -c 'exec 3<>p/t.img; read -r -n 5 x <&3; echo "[$x]" >&3; exec 3>&-'
bash -c 'exec 3<>m/t.img; read -r -n 5 x <&3; echo "[$x]" >&3; exec 3>&-'
same t.img

# --- python file I/O, mmap ------------------------------------------------------
expect_rc 0 R python3 - <<'PY'
import os
data = open("src", "rb").read()
with open("p/py.img", "wb") as f:
    f.write(data[:100000]); f.seek(500000); f.write(b"x" * 777)
with open("p/py.img", "r+b") as f:
    f.seek(123); f.write(b"hello"); f.seek(0, 2); assert f.tell() == 500777
PY
python3 - <<'PY'
data = open("src", "rb").read()
with open("m/py.img", "wb") as f:
    f.write(data[:100000]); f.seek(500000); f.write(b"x" * 777)
with open("m/py.img", "r+b") as f:
    f.seek(123); f.write(b"hello")
PY
same py.img
expect_rc 0 R python3 -c '
import mmap, hashlib
with open("p/py.img", "rb") as f:
    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    assert hashlib.sha256(m[:]).hexdigest() == hashlib.sha256(open("m/py.img","rb").read()).hexdigest()
'
expect_rc 0 R python3 -c '
import mmap
with open("p/py.img", "r+b") as f:
    try:
        mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_WRITE)
        raise SystemExit("a shared writable mapping was allowed")
    except OSError as e:
        assert e.errno == 19, e
'
grep -q "shared writable mmap refused" shim.log && ok || bad "mmap refusal not logged"

# --- separate layout: the data file is the plain content ------------------------
expect_rc 0 R cp src s/x.dat
cmp -s src s/x.dat && ok || bad "separate layout data file is not the plain content"
[ -s s/x.dat.csum ] && ok || bad "no metadata file"
expect_rc 0 "$CS" check s/x.dat
"$CS" corrupt s/x.dat --offset 777777 --seed 1 >/dev/null
expect_eio R cat s/x.dat

# --- separate layout: the metadata file follows its data file -------------------
expect_rc 0 R cp src s/m.dat
expect_rc 0 R cp src2 s/o.dat
expect_rc 0 R mv s/m.dat s/n.dat # rename within the glob
[ ! -e s/m.dat.csum ] && [ -s s/n.dat.csum ] && ok || bad "mv: the metadata file stayed behind"
[ "$(rsum s/n.dat)" = "$(sum src)" ] && ok || bad "mv: content after rename"
expect_rc 0 "$CS" check s/n.dat
expect_rc 0 R mv s/o.dat s/n.dat # over another csumshim file: its metadata is replaced
[ ! -e s/o.dat.csum ] && [ "$(rsum s/n.dat)" = "$(sum src2)" ] && ok || bad "mv over a file"
expect_rc 0 R mv s/n.dat out.dat # out of the glob: the pair stays together
[ -s out.dat.csum ] && [ ! -e s/n.dat.csum ] && ok || bad "mv out: metadata file"
expect_rc 0 R mv out.dat s/back.dat # and back in
[ -s s/back.dat.csum ] && [ ! -e out.dat.csum ] && [ "$(rsum s/back.dat)" = "$(sum src2)" ] && ok ||
	bad "mv back in"
expect_rc 0 R cp src s/x.dat
expect_rc 0 R python3 -c 'import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
sys.exit(libc.renameat2(-100, b"s/x.dat", -100, b"s/back.dat", 2))' # RENAME_EXCHANGE
[ "$(rsum s/x.dat)" = "$(sum src2)" ] && [ "$(rsum s/back.dat)" = "$(sum src)" ] && ok ||
	bad "renameat2 RENAME_EXCHANGE: metadata files not exchanged"
cp src2 plain.dat # unshimmed: no metadata
expect_rc 0 R mv plain.dat s/back.dat # a plain file replaces one: refused, not mismatched
[ ! -e s/back.dat.csum ] && ok || bad "replaced file's metadata file left behind"
expect_rc 1 R cat s/back.dat
grep -q "Wrong medium type" err && ok || bad "plain file moved in not refused"
expect_rc 0 R rm s/back.dat
expect_rc 0 R python3 -c 'import os; os.unlink("s/x.dat")'
ls s | grep -q "back.dat\|x.dat" && bad "rm: files left: $(ls s)" || ok
expect_rc 0 R cp src2 s/q.dat
rm s/q.dat # unshimmed: the metadata file stays; the next create replaces it
expect_rc 0 R cp src s/q.dat
[ "$(rsum s/q.dat)" = "$(sum src)" ] && ok || bad "create over a stale metadata file"
grep -q "s/q.dat: stale metadata file" shim.log && ok || bad "stale metadata file not logged"

# --- refusals -----------------------------------------------------------------
cp src p/plain.img # unshimmed: no superblock
expect_rc 1 R cat p/plain.img
grep -q "Wrong medium type" err && ok || bad "plain file not refused with EMEDIUMTYPE"
grep -q "p/plain.img: not a csumshim file.*csumshim import" shim.log && ok || bad "refusal not logged"
cmp -s src p/plain.img && ok || bad "refused file was modified"

# --- threads and fork: each thread and the child see verified data ----------------
cat >fork.py <<'PY'
import os, sys, threading, hashlib
path = sys.argv[1]
data = os.urandom(1 << 20)
with open(path, "wb") as f:
    f.write(data)
fd = os.open(path, os.O_RDWR)
errors = []
def worker(i):
    try:
        for k in range(200):
            off = ((i * 7919 + k * 104729) % 250) * 4096
            if os.pread(fd, 4096, off) != data[off:off + 4096]:
                errors.append("thread %d: wrong data" % i)
    except OSError as e:
        errors.append(str(e))
threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
for t in threads: t.start()
pid = os.fork()  # while the threads are reading
if pid == 0:
    os.lseek(fd, 4096, os.SEEK_SET)
    ok = os.read(fd, 100) == data[4096:4196] and os.pwrite(fd, b"child", 255 * 4096) == 5
    os._exit(0 if ok else 1)
for t in threads: t.join()
_, status = os.waitpid(pid, 0)
assert status == 0, "child failed"
assert os.lseek(fd, 0, os.SEEK_CUR) == 4196, "position not shared with the child"
assert os.pread(fd, 5, 255 * 4096) == b"child", "the child's write is not visible"
assert not errors, errors
PY
expect_rc 0 R python3 fork.py p/fork.img
expect_rc 0 "$CS" check p/fork.img
expect_rc 0 timeout 300 "$CS" run --config "$T/conf" -- python3 "$HERE/fork_locks.py" p/forklocks.img
expect_rc 0 R python3 "$HERE/fork_trunc.py" p/forktrunc.img
}

sqlite_part() {
# --- sqlite3, separate layout: deletes and recreates its journal every transaction
expect_rc 0 R sqlite3 s/j.dat "PRAGMA journal_mode=delete; CREATE TABLE t(k, v);
	INSERT INTO t VALUES (1, 'a'); INSERT INTO t VALUES (2, 'b'); INSERT INTO t VALUES (3, 'c');
	UPDATE t SET v = v || v; DELETE FROM t WHERE k = 2;"
[ "$(R sqlite3 s/j.dat 'SELECT group_concat(v) FROM t')" = "aa,cc" ] && ok || bad "sqlite3, separate layout"
[ ! -e s/j.dat-journal.csum ] && ok || bad "sqlite3 journal's metadata file left behind"

# --- sqlite3: rollback journal and WAL ------------------------------------------
for mode in delete wal; do
	db=db/$mode.db
	expect_rc 0 R sqlite3 "$db" "PRAGMA journal_mode=$mode; CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT);
		WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 20000)
		INSERT INTO t SELECT x, hex(randomblob(40)) FROM c; CREATE INDEX iv ON t(v);
		UPDATE t SET v = 'u' || v WHERE k % 7 = 0; DELETE FROM t WHERE k % 11 = 0;"
	[ "$(R sqlite3 "$db" 'PRAGMA integrity_check')" = ok ] && ok || bad "sqlite $mode integrity"
	[ "$(R sqlite3 "$db" 'SELECT count(*) FROM t')" = 18182 ] && ok || bad "sqlite $mode count"
	if [ "$mode" = wal ]; then
		# Pages still in the WAL would be read from there, not from the
		# block corrupted below: checkpoint them into the database first.
		[ -e "$db-wal" ] && R sqlite3 "$db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
		{ [ ! -e "$db-wal" ] || [ "$(R stat -c %s "$db-wal")" = 0 ]; } && ok ||
			bad "sqlite wal: the WAL still holds $(R stat -c %s "$db-wal") bytes"
	fi
	"$CS" corrupt "$db" --offset 40000 --seed 3 >/dev/null
	# sqlite >= 3.37 reports EIO on a read as SQLITE_IOERR_CORRUPTFS,
	# "database disk image is malformed"; either way it must fail.
	R sqlite3 "$db" 'SELECT sum(length(v)) FROM t' >out 2>err
	rc=$?
	[ $rc -ne 0 ] && grep -qiE "disk I/O error|malformed" err && ok ||
		bad "sqlite $mode: corruption not reported (exit $rc)"
	grep -q "$mode.db: checksum mismatch in block 9 " shim.log && ok || bad "sqlite $mode: not logged"
	"$CS" corrupt "$db" --offset 40000 --seed 3 >/dev/null
	[ "$(R sqlite3 "$db" 'PRAGMA integrity_check')" = ok ] && ok || bad "sqlite $mode after repair"
done
}

fio_part() {
# --- fio (psync, sync, pvsync, pvsync2; two jobs), verify=crc32c ------------------
for eng in psync sync pvsync pvsync2; do
	expect_rc 0 R fio --name=v --directory=p --filename_format='fio.$jobnum.img' --size=4M \
		--bs=4k --rw=randwrite --ioengine=$eng --numjobs=2 --verify=crc32c \
		--do_verify=1 --verify_fatal=1 --output=fio.out
	grep -q "err= 0" fio.out && ! grep -qi "verify.*bad\|crc32c: verify failed" fio.out && ok ||
		bad "fio $eng"
	rm -f p/fio.*
done
# write, flip a stored bit, verify only: fio must see the I/O error
expect_rc 0 R fio --name=c --filename=p/fioc.img --size=2M --bs=4k --rw=write --ioengine=psync \
	--verify=crc32c --do_verify=0 --output=fio.out
"$CS" corrupt p/fioc.img --offset 1000000 --seed 6 >/dev/null
R fio --name=c --filename=p/fioc.img --size=2M --bs=4k --rw=write --ioengine=psync \
	--verify=crc32c --verify_only --output=fio.out >/dev/null 2>&1
rc=$?
[ $rc -ne 0 ] && grep -qi "input/output error\|err= *5" fio.out && ok || bad "fio verify on a corrupt file (exit $rc)"
}

e2fs_part() {
# --- e2fsprogs on a configured image ------------------------------------------------
expect_rc 0 R truncate -s 64M p/fs.img
expect_rc 0 R mke2fs -q -F -t ext4 p/fs.img
expect_rc 0 R debugfs -w -R "write src2 /f" p/fs.img
expect_rc 0 R e2fsck -fn p/fs.img
R debugfs -R "dump /f $T/f.out" p/fs.img >/dev/null 2>&1
cmp -s src2 f.out && ok || bad "debugfs dump differs"
expect_rc 0 "$CS" check p/fs.img
# a flipped bit in the file system's first block group: e2fsck gets EIO
"$CS" corrupt p/fs.img --offset 4096 --seed 8 >/dev/null
R e2fsck -fn p/fs.img >out 2>err
rc=$?
[ $rc -ne 0 ] && grep -q "Input/output error" out err && ok || bad "e2fsck on a corrupt image (exit $rc)"
}

qemu_part() {
# --- qemu-img convert in and out -----------------------------------------------------
expect_rc 0 R qemu-img convert -f raw -O raw src p/q.img
expect_rc 0 R qemu-img convert -f raw -O raw p/q.img q.out
qemu-img convert -f raw -O raw src q.plain # qemu rounds raw images to 512 bytes
cmp -s q.plain q.out && ok || bad "qemu-img round trip"
"$CS" corrupt p/q.img --offset 1000000 --seed 2 >/dev/null
R qemu-img convert -f raw -O raw p/q.img q.bad >out 2>err
[ $? -ne 0 ] && grep -q "Input/output error" err && ok || bad "qemu-img read a corrupt image"
}

loop_part() {
# --- a loop device formatted with csumshim, written with dd ----------------------
truncate -s 32M loop.bin
dev=$(losetup -f --show loop.bin)
[ -n "$dev" ] || { bad "losetup failed"; return; }
trap 'losetup -d "$dev"; rm -rf "$T"' EXIT
printf '[%s]\n' "$dev" >>conf
expect_rc 0 "$CS" format "$dev"
want=$("$CS" info --json "$dev" | python3 -c 'import json,sys; print(json.load(sys.stdin)["logical_size"])')
[ "$(R blockdev --getsize64 "$dev")" = "$want" ] && ok || bad "BLKGETSIZE64 through the shim"
expect_rc 0 R dd if=src of="$dev" bs=64k conv=notrunc status=none
[ "$(R sh -c "head -c 3000000 $dev" | sha256sum | cut -c1-64)" = "$(sum src)" ] && ok || bad "loop device content"
"$CS" corrupt "$dev" --offset 1234567 --seed 4 >/dev/null
expect_eio R dd if="$dev" of=/dev/null bs=64k count=40 status=none
# BLKDISCARD through the shim: a zeroed, verified range (the bad block goes too)
expect_rc 0 R blkdiscard -o 1048576 -l 1048576 "$dev"
[ "$(R sh -c "dd if=$dev bs=1M skip=1 count=1 status=none" | tr -d '\0' | wc -c)" = 0 ] && ok ||
	bad "BLKDISCARD range not zero"
expect_rc 0 "$CS" check "$dev"
# Past the end of the device: ENOSPC at the end, a short write across it,
# and the device's content up to its end intact.
expect_rc 0 R python3 - "$dev" "$want" <<'PY'
import errno, os, sys
dev, size = sys.argv[1], int(sys.argv[2])
fd = os.open(dev, os.O_RDWR)
for off in (size, size + 4096, size + (1 << 40)):
    try:
        os.pwrite(fd, b"x" * 4096, off)
        sys.exit("a write at %d, past the end (%d), succeeded" % (off, size))
    except OSError as e:
        assert e.errno == errno.ENOSPC, "write past the end: %s" % e
assert os.pwrite(fd, b"y" * 8192, size - 4096) == 4096, "a write across the end is not short"
assert os.pread(fd, 8192, size - 4096) == b"y" * 4096
try:
    os.ftruncate(fd, size * 2)
    sys.exit("a block device was resized")
except OSError as e:
    assert e.errno in (errno.EINVAL, errno.EPERM), "ftruncate on a device: %s" % e
os.close(fd)
PY
R dd if=/dev/zero of="$dev" bs=4096 seek=$((want / 4096)) count=1 conv=notrunc status=none 2>err
grep -q "No space left on device" err && ok || bad "dd past the end: $(cat err)"
expect_rc 0 "$CS" check "$dev"
}

"${PART}_part"
echo "shim: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
