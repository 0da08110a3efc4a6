#!/usr/bin/env bash
# csumshim demo: protect a disk image, damage one bit, and watch the check
# name the exact block; then the same with unmodified programs under the
# shim, which get EIO instead of wrong data.  Usage: examples/demo.sh [PATH/TO/csumshim]
set -euo pipefail
CS=$(readlink -f "${1:-build/csumshim}")
D=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-demo.XXXXXX")
trap 'rm -rf "$D"' EXIT
cd "$D"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
# The demo checks what it shows: a result other than the one described
# stops it with "demo: FAILED: ...", exit 1.
fail() { echo "demo: FAILED: $*" >&2; exit 1; }
# expect STATUS CMD...: run CMD as a step (output shown and kept in out.txt)
# and require exit STATUS.
expect() {
	local want=$1 rc=0; shift
	step "$@" >out.txt 2>&1 || rc=$?
	cat out.txt
	echo "(exit status $rc)"
	[ "$rc" = "$want" ] || fail "exit status $rc from '$*', expected $want"
}

echo "== a 64 MiB plain file of random data"
head -c 64M /dev/urandom >data.bin
sha256sum data.bin

step "$CS" import data.bin data.img           # plain -> checksummed image
step "$CS" info data.img
expect 0 "$CS" check data.img                 # every block verifies: exit 0

echo; echo "== silent corruption: one bit flips in the stored bytes"
step "$CS" corrupt data.img --offset 40000000 --seed 1
expect 1 "$CS" check data.img                 # names the block, exit 1
grep -q "^block 9765 (bytes 39997440-40001535): checksum mismatch" out.txt ||
	fail "check did not name block 9765"
expect 1 "$CS" export data.img copy.bin       # refuses to hand out bad data
[ ! -e copy.bin ] || fail "export wrote copy.bin"
echo "copy.bin was not written"

echo; echo "== repair the bit (same seed flips it back) and export"
step "$CS" corrupt data.img --offset 40000000 --seed 1
expect 0 "$CS" check data.img
expect 0 "$CS" export data.img copy.bin
sha256sum data.bin copy.bin
cmp data.bin copy.bin || fail "the exported copy differs from the original"

echo; echo "== the shim: unmodified programs, checksummed files"
mkdir protected
printf '[%s/protected/*]\n' "$D" >csumshim.conf
echo "config: $(cat csumshim.conf)"
step "$CS" run --config csumshim.conf -- dd if=data.bin of=protected/disk.img bs=1M status=none
expect 0 "$CS" run --config csumshim.conf -- cmp data.bin protected/disk.img
echo "(cmp: identical through the shim; on disk the file also holds its checksums:)"
ls -l data.bin protected/disk.img
[ "$(stat -c %s protected/disk.img)" -gt "$(stat -c %s data.bin)" ] ||
	fail "the protected file holds no checksums"
step "$CS" corrupt protected/disk.img --offset 12345678 --seed 2
expect 1 "$CS" run --config csumshim.conf -- sha256sum protected/disk.img
grep -q "Input/output error" out.txt || fail "sha256sum did not report an I/O error"
grep -q "checksum mismatch in block 3014 " out.txt || fail "the shim did not name block 3014"
echo "(the program got EIO instead of wrong data)"

echo; echo "== a 1 TiB image formats instantly and takes 4 KiB on disk"
expect 0 "$CS" format --size 1T huge.img
du -h huge.img
[ "$(du -k huge.img | cut -f1)" -le 64 ] || fail "the 1 TiB image takes more than 64 KiB"
expect 0 "$CS" check huge.img
echo; echo "demo: every step showed what it should"

