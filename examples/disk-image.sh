#!/usr/bin/env bash
# A disk image written with dd and read back verified, then an ext4 file
# system made and checked on it — all through the shim, nothing changed in
# the programs.  Usage: examples/disk-image.sh [PATH/TO/csumshim]
set -euo pipefail
CS=$(readlink -f "${1:-build/csumshim}")
D=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-image.XXXXXX")
trap 'rm -rf "$D"' EXIT
cd "$D"
mkdir images
cat >csumshim.conf <<CONF
[$D/images/*.img]
CONF
run() { "$CS" run --config csumshim.conf -- "$@"; }
fail() { echo "disk-image: FAILED: $*" >&2; exit 1; }

head -c 16M /dev/urandom >payload.bin
run dd if=payload.bin of=images/disk.img bs=1M status=none   # checksummed as written
run cmp payload.bin images/disk.img || fail "read back differs"
echo "read back verified: identical"
ls -ls images/disk.img # on disk: content + 0.2 % metadata (the apparent size adds a 2 MiB zone, mostly hole)
stored=$(($(stat -c '%b * %B' images/disk.img)))
[ "$stored" -gt 16777216 ] && [ "$stored" -lt $((16777216 * 101 / 100)) ] ||
	fail "stored size $stored is not the content plus about 0.2 %"
seen=$(run stat -c %s images/disk.img)
echo "the program sees $seen bytes"
[ "$seen" = 16777216 ] || fail "the program sees $seen bytes, not 16777216"

run truncate -s 64M images/fs.img
run mke2fs -q -F -t ext4 images/fs.img
run debugfs -w -R "write payload.bin /payload" images/fs.img >/dev/null
run e2fsck -fn images/fs.img || fail "e2fsck found problems"
echo "e2fsck: clean"
run debugfs -R "dump /payload $D/payload.out" images/fs.img >/dev/null 2>&1
cmp payload.bin payload.out || fail "the file read back out of the file system differs"
echo "the file read back out of the file system: identical"
"$CS" check images/fs.img
