#!/usr/bin/env bash
# dm-csum files (the seed's format) served by the library under a config
# section with `format = dm-csum`.  Content written through the shim reads
# back exact, passes `csumshim check` and the seed's own read rule
# (dmcsum_oracle_tool); a flipped stored bit fails the read with EIO and a
# log line naming the sector; the fixed size holds (ENOSPC past the end,
# O_TRUNC refused, nothing created); read-only opens have read-only stores
# and a write open upgrades them; a symlinked metadata store is refused;
# shared mappings keep writers out; fio's libaio and posixaio engines are
# served and verified; two processes writing sectors of the same groups
# lose nothing.  `device` mode does the same on a loop device
# and runs mke2fs, debugfs and e2fsck on it, as the seed's author tested;
# without loop devices it exits 77.
# Usage: dmcsum_shim_test.sh PATH/TO/csumshim PATH/TO/dmcsum_oracle_tool file|device
set -u
CS=$(readlink -f "${1:?usage: dmcsum_shim_test.sh CSUMSHIM ORACLE_TOOL file|device}")
OT=$(readlink -f "${2:?usage: dmcsum_shim_test.sh CSUMSHIM ORACLE_TOOL file|device}")
MODE=${3:?usage: dmcsum_shim_test.sh CSUMSHIM ORACLE_TOOL file|device}
T=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-dmshim.XXXXXX")
dev=
cleanup() {
	[ -n "$dev" ] && losetup -d "$dev"
	rm -rf "$T"
}
trap cleanup EXIT
cd "$T" || exit 2
mkdir d s m
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
DM=(--format dm-csum)

R() { "$CS" run --config "$T/conf" -- "$@"; }
sum() { sha256sum <"$1" | cut -c1-64; }
# expect_rc WANT CMD...: the exit status; the output is left in out and err
expect_rc() {
	local want=$1 got
	shift
	"$@" >out 2>err && got=0 || got=$?
	[ "$got" -eq "$want" ] && { ok; return; }
	bad "exit $got, want $want: $*"
	sed 's/^/    | /' out err >&2
}
contains() { if grep -qE -- "$2" "$1"; then ok; else bad "$1 lacks '$2'"; sed 's/^/    | /' "$1" >&2; fi; }
equal() { if [ "$1" = "$2" ]; then ok; else bad "$3: '$1' != '$2'"; fi; }

conf() { # the config, with the device's section when there is one
	{
		printf '[global]\nlog = %s/shim.log\n\n' "$T"
		printf '[%s/d/*.img]\nformat = dm-csum\n\n' "$T"
		printf '[%s/s/*.img]\nformat = dm-csum\nlayout = separate\n\n' "$T"
		[ -n "$dev" ] && printf '[%s]\nformat = dm-csum\n' "$dev"
	} >conf
}

# the seed's read rule accepts every sector, and the content is $2
seed_reads() { # STORE EXPECTED [META]
	expect_rc 0 "$OT" read "$1" seed.out ${3:+"$3"}
	contains out "sectors verified$"
	cmp -s <(head -c "$(stat -c %s "$2")" seed.out) "$2" && ok || bad "seed's read of $1"
}

file_cases() {
	conf
	head -c 1M /dev/urandom >src
	# --- interleaved ("same"): dd in, cat out, stat -------------------------
	expect_rc 0 "$CS" format "${DM[@]}" --size 1M d/a.img
	stored=$(stat -c %s d/a.img)
	equal "$stored" $(((1 + 64 * 33 + 2 + 2) * 512)) "stored size" # 2048 = 33 * 62 + 2 sectors
	expect_rc 0 R dd if=src of=d/a.img bs=4096 conv=notrunc status=none
	equal "$(R sh -c 'cat d/a.img' | sha256sum | cut -c1-64)" "$(sum src)" "read back"
	equal "$(R stat -c %s d/a.img)" 1048576 "logical size"
	expect_rc 0 "$CS" check "${DM[@]}" d/a.img
	seed_reads d/a.img src
	# unaligned writes, mirrored on a plain file
	cp src m/a
	head -c 70000 /dev/urandom >piece
	for at in 1 511 31743 65000 900001; do
		expect_rc 0 R dd if=piece of=d/a.img bs=1 seek=$at count=7000 conv=notrunc status=none
		dd if=piece of=m/a bs=1 seek=$at count=7000 conv=notrunc status=none
	done
	expect_rc 0 R dd if=piece of=d/a.img bs=70000 seek=1 oflag=seek_bytes conv=notrunc status=none
	dd if=piece of=m/a bs=70000 seek=1 oflag=seek_bytes conv=notrunc status=none
	equal "$(R sh -c 'cat d/a.img' | sha256sum | cut -c1-64)" "$(sum m/a)" "unaligned writes"
	seed_reads d/a.img m/a

	# --- the fixed size ----------------------------------------------------
	expect_rc 1 R dd if=src of=d/a.img bs=4096 seek=256 count=1 conv=notrunc status=none
	contains err "No space left on device"
	expect_rc 1 R dd if=src of=d/a.img bs=4096 count=1 status=none # O_TRUNC
	contains shim.log "d/a.img: O_TRUNC refused: a dm-csum file has a fixed size"
	expect_rc 1 R sh -c 'echo more >> d/a.img'
	expect_rc 1 R truncate -s 2M d/a.img
	equal "$(stat -c %s d/a.img)" "$stored" "stored size unchanged"
	equal "$(R sh -c 'cat d/a.img' | sha256sum | cut -c1-64)" "$(sum m/a)" "content after refusals"
	expect_rc 2 R sh -c 'echo hi > d/new.img'
	contains err "cannot create d/new.img: Wrong medium type"
	[ ! -e d/new.img ] && ok || bad "a new file was left under the dm-csum glob"
	contains shim.log "d/new.img: empty: a dm-csum file's size is fixed"

	# --- a flipped bit: EIO and the sector named ---------------------------
	expect_rc 0 "$CS" corrupt "${DM[@]}" d/a.img --offset 70000 --seed 3
	expect_rc 1 R cat d/a.img
	contains err "Input/output error"
	contains shim.log "d/a.img: dm-csum sector 136 \\(bytes 69632-70143\\): checksum mismatch"
	expect_rc 0 R dd if=d/a.img of=sector135 bs=512 skip=135 count=1 status=none
	cmp -s sector135 <(dd if=m/a bs=512 skip=135 count=1 status=none) && ok || bad "sector 135"
	expect_rc 1 R dd if=d/a.img of=/dev/null bs=512 skip=136 count=1 status=none
	expect_rc 0 "$CS" corrupt "${DM[@]}" d/a.img --offset 70000 --seed 3 # undo
	expect_rc 0 R cmp d/a.img m/a

	# --- separate ("diff") --------------------------------------------------
	expect_rc 0 "$CS" format "${DM[@]}" --layout separate --size 1M s/b.img
	expect_rc 0 R dd if=src of=s/b.img bs=65536 conv=notrunc status=none
	expect_rc 0 R cmp s/b.img src
	expect_rc 0 "$CS" check "${DM[@]}" --layout separate s/b.img
	seed_reads s/b.img src s/b.img.csum
	cmp -s <(tail -c +513 s/b.img) src && ok || bad "diff data store holds the plain content"
	expect_rc 0 "$CS" corrupt "${DM[@]}" --layout separate s/b.img --offset 5000 --seed 1
	expect_rc 2 R cmp s/b.img src
	contains err "s/b.img: Input/output error"
	contains shim.log "s/b.img: dm-csum sector 9 \\(bytes 4608-5119\\): checksum mismatch"
	expect_rc 0 "$CS" corrupt "${DM[@]}" --layout separate s/b.img --offset 5000 --seed 1

	# --- read-only opens, upgrade, metadata checks, mappings, AIO ----------
	# A reader's handle opens the stores read-only; the first open for
	# writing in the process replaces it and the reader sees its writes.
	cat >upgrade.py <<'PY'
import errno, os, sys
p = os.path.abspath(sys.argv[1])
def modes(mine):  # access modes of the library's descriptors of p
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            continue
        if target != p or int(fd) in mine:
            continue
        with open("/proc/self/fdinfo/" + fd) as f:
            fl = int(f.read().split("flags:")[1].split()[0], 8)
        if not fl & 0o10000000:  # O_PATH: an anchor, no access
            out.add(fl & 3)
    return sorted(out)
r = os.open(p, os.O_RDONLY)
old = os.pread(r, 4096, 8192)
print("reader", modes({r}))
w = os.open(p, os.O_RDWR)
print("writer", modes({r, w}))
new = bytes(255 - b for b in old)
assert os.pwrite(w, new, 8192) == 4096
assert os.pread(r, 4096, 8192) == new, "the reader does not see the write"
assert os.pwrite(w, old, 8192) == 4096
try:
    os.open(p, os.O_RDWR | os.O_TRUNC)
    print("O_TRUNC accepted")
except OSError as e:
    print("O_TRUNC", errno.errorcode[e.errno])
PY
	expect_rc 0 R python3 upgrade.py d/a.img
	contains out "^reader \\[0\\]$"
	contains out "^writer \\[0, 2\\]$"
	contains out "^O_TRUNC EINVAL$"
	contains shim.log "d/a.img: truncation to 0 bytes refused \\(EINVAL\\)"
	expect_rc 0 R cmp d/a.img m/a
	# an empty file read: no in-memory image as for csumshim files, refused
	: >d/empty.img
	expect_rc 1 R cat d/empty.img
	contains err "Wrong medium type"
	contains shim.log "d/empty.img: empty: a dm-csum file's size is fixed"
	equal "$(stat -c %s d/empty.img)" 0 "an empty file read stays empty"
	# a metadata store planted as a symlink is refused, never followed
	cp s/b.img s/l.img
	ln -s "$T/s/b.img.csum" s/l.img.csum
	expect_rc 1 R cat s/l.img
	contains err "Operation not permitted"
	contains shim.log "s/l.img.csum: metadata file is a symbolic link; refused"
	# shared mappings against writers (maplock.h)
	cat >maps.py <<'PY'
import errno, mmap, os, sys
p = sys.argv[1]
r = os.open(p, os.O_RDONLY)
m = mmap.mmap(r, 65536, mmap.MAP_SHARED, mmap.PROT_READ)
assert m[:4096] == os.pread(r, 4096, 0)
try:
    os.open(p, os.O_RDWR)
    print("writer while mapped: opened")
except OSError as e:
    print("writer while mapped:", errno.errorcode[e.errno])
m.close()
w = os.open(p, os.O_RDWR)
try:
    mmap.mmap(r, 65536, mmap.MAP_SHARED, mmap.PROT_READ)
    print("mapped while written: mapped")
except OSError as e:
    print("mapped while written:", errno.errorcode[e.errno])
PY
	expect_rc 0 R python3 maps.py d/a.img
	contains out "^writer while mapped: ETXTBSY$"
	contains out "^mapped while written: ENODEV$"
	# main's paths on dm-csum: an open through /proc/self/fd is served
	# and verified, MADV_DONTNEED refills a private copy from the file,
	# O_APPEND set on the description later is refused and logged (the
	# mapping stays clear of the flipped sector 136: a copy is filled whole)
	cat >paths.py <<'PY'
import errno, fcntl, mmap, os, sys
p = sys.argv[1]
fd = os.open(p, os.O_RDWR)
want = os.pread(fd, 4096, 32768)
v = os.open("/proc/self/fd/%d" % fd, os.O_RDONLY)
print("via proc:", os.pread(v, 4096, 32768) == want)
m = mmap.mmap(fd, 65536, mmap.MAP_PRIVATE, mmap.PROT_READ | mmap.PROT_WRITE)
m[32768:36864] = bytes(4096)
m.madvise(mmap.MADV_DONTNEED)
print("refilled:", m[32768:36864] == want)
m.close()
fcntl.fcntl(fd, fcntl.F_SETFL, os.O_APPEND)
try:
    os.write(fd, b"more")
    print("append: written")
except OSError as e:
    print("append:", errno.errorcode[e.errno])
try:
    os.pread(v, 4096, 69632)
    print("corrupt via proc: read")
except OSError as e:
    print("corrupt via proc:", errno.errorcode[e.errno])
PY
	expect_rc 0 "$CS" corrupt "${DM[@]}" d/a.img --offset 70000 --seed 3
	expect_rc 0 R python3 paths.py d/a.img
	contains out "^via proc: True$"
	contains out "^refilled: True$"
	contains out "^append: ENOSPC$"
	contains out "^corrupt via proc: EIO$"
	contains shim.log "d/a.img: O_APPEND write refused \\(ENOSPC\\)"
	expect_rc 0 "$CS" corrupt "${DM[@]}" d/a.img --offset 70000 --seed 3 # undo
	expect_rc 0 R cmp d/a.img m/a
	# POSIX AIO and Linux AIO, each write verified by fio and by check
	if command -v fio >/dev/null; then
		for eng in "libaio --iodepth=32" "libaio --iodepth=32 --direct=1" "posixaio --iodepth=8"; do
			expect_rc 0 "$CS" format "${DM[@]}" --size 1M d/f.img
			# shellcheck disable=SC2086 # the engine's options are words
			expect_rc 0 R fio --name=v --filename=d/f.img --size=1M --bs=4k --rw=randwrite \
				--ioengine=$eng --verify=crc32c --do_verify=1 --verify_fatal=1 --output=fio.out
			contains fio.out "err= 0"
			expect_rc 0 "$CS" check "${DM[@]}" d/f.img
			rm -f d/f.img
		done
		expect_rc 0 "$CS" format "${DM[@]}" --size 1M d/f.img
		expect_rc 0 R fio --name=c --filename=d/f.img --size=1M --bs=4k --rw=write \
			--ioengine=libaio --iodepth=32 --verify=crc32c --do_verify=0 --output=fio.out
		expect_rc 0 "$CS" corrupt "${DM[@]}" d/f.img --offset 300000 --seed 6
		R fio --name=c --filename=d/f.img --size=1M --bs=4k --rw=write --ioengine=libaio \
			--iodepth=32 --verify=crc32c --verify_only --output=fio.out >/dev/null 2>&1
		[ $? -ne 0 ] && grep -qi "input/output error\|err= *5" fio.out && ok ||
			bad "fio libaio verify of a corrupt dm-csum file"
		contains shim.log "d/f.img: dm-csum sector 585 \\(bytes 299520-300031\\): checksum mismatch"
	else
		echo "note: no fio: the AIO cases were skipped"
	fi

	# --- two processes on the same groups ----------------------------------
	# Each writes its own sectors (even / odd) of groups 0-3 over and over;
	# without the per-group OFD locks one would overwrite the other's
	# brother and reads would fail.
	expect_rc 0 "$CS" format "${DM[@]}" --size 256K d/c.img
	cat >writer.py <<'PY'
import os, random, sys
k, path = int(sys.argv[1]), sys.argv[2]
fd = os.open(path, os.O_RDWR)
last = {}
rnd = random.Random(k)
for it in range(3000):
    s = 2 * rnd.randrange(124) + k
    data = bytes([rnd.randrange(256)]) * 512
    assert os.pwrite(fd, data, s * 512) == 512
    last[s] = data
    if it % 100 == 0:  # someone else's sectors must verify too
        os.pread(fd, 512 * 248, 0)
for s, data in last.items():
    assert os.pread(fd, 512, s * 512) == data, s
print("ok")
PY
	R python3 writer.py 0 d/c.img >w0 2>&1 &
	p0=$!
	R python3 writer.py 1 d/c.img >w1 2>&1
	r1=$?
	wait $p0
	r0=$?
	equal "$r0 $r1" "0 0" "two writers"
	[ $r0 -eq 0 ] && [ $r1 -eq 0 ] || sed 's/^/    | /' w0 w1 >&2
	expect_rc 0 "$CS" check "${DM[@]}" d/c.img
}

device_cases() {
	if ! command -v losetup >/dev/null || ! losetup -f >/dev/null 2>&1; then
		echo "SKIP: no loop devices here (losetup -f failed)"
		exit 77
	fi
	truncate -s 64M loop.bin
	dev=$(losetup -f --show loop.bin 2>/dev/null)
	if [ -z "$dev" ]; then
		echo "SKIP: cannot attach a loop device (losetup -f --show failed)"
		exit 77
	fi
	conf
	expect_rc 0 "$CS" format "${DM[@]}" --force "$dev"
	size=$(R sh -c "blockdev --getsize64 $dev")
	# 131072 sectors: 2047 whole groups, then a pair and 61 data sectors
	equal "$size" $(((62 * 2047 + 61) * 512)) "device's logical size"
	head -c 3M /dev/urandom >src
	expect_rc 0 R dd if=src of="$dev" bs=64K status=none
	equal "$(R sh -c "head -c 3145728 $dev" | sha256sum | cut -c1-64)" "$(sum src)" "dd on the device"
	expect_rc 0 "$CS" check "${DM[@]}" "$dev"
	cat "$dev" >dev.copy
	seed_reads dev.copy src
	expect_rc 1 R dd if=src of="$dev" bs=512 seek=$((size / 512)) count=1 status=none
	contains err "No space left on device"
	# a file system on it, as the seed's author tested
	if command -v mke2fs >/dev/null; then
		expect_rc 0 R mke2fs -q -F -t ext4 "$dev"
		expect_rc 0 R e2fsck -f -n "$dev"
		expect_rc 0 R debugfs -w -R "write src src" "$dev"
		expect_rc 0 R debugfs -R "dump src fs.out" "$dev"
		cmp -s fs.out src && ok || bad "file through ext4 on the dm-csum device"
		expect_rc 0 R e2fsck -f -n "$dev"
		expect_rc 0 "$CS" check "${DM[@]}" "$dev"
		cat "$dev" >dev.copy
		expect_rc 0 "$OT" read dev.copy seed.out
		# the ext4 superblock (bytes 1024-2047): a flipped bit fails e2fsck
		expect_rc 0 "$CS" corrupt "${DM[@]}" "$dev" --offset 1100 --seed 5
		R e2fsck -f -n "$dev" >out 2>err
		[ $? -ne 0 ] && ok || bad "e2fsck passed a corrupted superblock"
		contains shim.log "$dev: dm-csum sector 2 \\(bytes 1024-1535\\): checksum mismatch"
		expect_rc 1 R dd if="$dev" of=/dev/null bs=512 skip=2 count=1 status=none
		contains err "Input/output error"
		expect_rc 0 "$CS" corrupt "${DM[@]}" "$dev" --offset 1100 --seed 5
		expect_rc 0 R e2fsck -f -n "$dev"
	else
		echo "note: no mke2fs: the file-system case was skipped"
	fi
}

case $MODE in
file) file_cases ;;
device) device_cases ;;
*) echo "unknown mode $MODE" >&2; exit 2 ;;
esac
echo "dmcsum_shim ($MODE): $pass passed, $fail failed"
[ "$fail" -eq 0 ]
