#!/usr/bin/env bash
# CLI integration test: format -> import -> check (0) -> corrupt -> check (1,
# names exactly that block) -> export round trip byte-identical, for both
# layouts and algorithms; bad input gives one line on stderr, exit 2, and
# leaves nothing written.  PART "blockdev" runs the cases on loop devices
# instead (exit 77, skipped, where there are none).  The data and the
# corrupted offsets come from CSM_SEED (default 1), printed for replay.
# Usage: cli_test.sh PATH/TO/csumshim [files|blockdev]
set -u
CS=$(readlink -f "${1:?usage: cli_test.sh PATH/TO/csumshim [files|blockdev]}")
PART=${2:-files}
BIG_MB=${CSM_CLI_MB:-256}
SEED=${CSM_SEED:-1}
echo "cli_test: seed $SEED (replay with CSM_SEED=$SEED)"
RANDOM=$SEED
if [ "$PART" = blockdev ] && ! { [ "$(id -u)" = 0 ] && losetup -f >/dev/null 2>&1; }; then
	echo "SKIP: no loop devices here (needs root and a free /dev/loopN)"
	exit 77
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-cli.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 2
pass=0 fail=0

ok()   { pass=$((pass + 1)); }
bad()  { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# expect CODE CMD...: run, keep stdout in out, stderr in err.
expect() {
	local want=$1; shift
	"$@" >out 2>err
	local got=$?
	if [ "$got" -eq "$want" ]; then ok; else
		bad "exit $got, want $want: $*"; sed 's/^/    | /' out err >&2
	fi
}

# expect_error PATTERN CMD...: exit 2, exactly one stderr line, "csumshim: "
# prefix, matching PATTERN.
expect_error() {
	local pat=$1; shift
	expect 2 "$@"
	local n; n=$(wc -l <err)
	if [ "$n" -eq 1 ] && grep -q '^csumshim: ' err && grep -qE -- "$pat" err; then ok; else
		bad "want one error line matching '$pat' from: $*"; sed 's/^/    | /' err >&2
	fi
}

same() { if cmp -s "$1" "$2"; then ok; else bad "$1 and $2 differ"; fi; }
absent() { if [ ! -e "$1" ]; then ok; else bad "$1 exists but should not"; fi; }
contains() { if grep -qE -- "$2" "$1"; then ok; else bad "$1 lacks '$2'"; sed 's/^/    | /' "$1" >&2; fi; }

# N bytes from SEED: the same data on every run with that seed.
seeded_bytes() {
	python3 -c 'import random, sys
r = random.Random(int(sys.argv[1])); n = int(sys.argv[2]); out = sys.stdout.buffer
while n > 0:
    k = min(n, 1 << 22); out.write(r.randbytes(k)); n -= k' "$1" "$2"
}

files_part() {
# --- a 1 TiB format is instant and sparse, and checks clean ----------------
expect 0 "$CS" format --size 1T huge.img
kib=$(du -k huge.img | cut -f1)
if [ "$kib" -le 64 ]; then ok; else bad "1 TiB format uses $kib KiB on disk"; fi
expect 0 "$CS" check huge.img
contains out '268435456 blocks \(0 written\)'
expect 0 "$CS" info --json huge.img
python3 -c 'import json,sys; d=json.load(open("out")); assert d["logical_size"]==1<<40 and d["checksum"]=="crc32c" and d["state"]=="clean"' && ok || bad "info --json"

# --- round trips and exact detection, per layout and algorithm -------------
seeded_bytes "$SEED" $((BIG_MB << 20)) >src.bin
printf 'tail' >>src.bin # a size that is not a multiple of any block size
size=$(stat -c %s src.bin)

roundtrip() { # LAYOUT ALGO BS
	local lay=$1 algo=$2 bs=$3 img="rt-$1-$2-$3.img"
	local meta=(); [ "$lay" = separate ] && meta=(--metadata "$img.csum")
	expect 0 "$CS" import src.bin "$img" --layout "$lay" --checksum "$algo" --block-size "$bs" "${meta[@]}"
	expect 0 "$CS" check "$img"
	contains out "0 bad blocks, 0 damaged"
	[ "$lay" = separate ] && same src.bin "$img" # the data file is the content
	expect 0 "$CS" export "$img" out.bin
	same src.bin out.bin
	rm -f out.bin
	# corrupt several offsets; each is named exactly, alone
	local i off blk first last
	for i in 1 2 3; do
		off=$(( (RANDOM * 32768 + RANDOM) % size ))
		[ "$i" = 3 ] && off=$((size - 1)) # the partial last block
		blk=$((off / bs)); first=$((blk * bs)); last=$((first + bs - 1))
		[ "$last" -ge "$size" ] && last=$((size - 1))
		expect 0 "$CS" corrupt "$img" --offset "$off" --seed "$i" --bits "$i"
		expect 1 "$CS" check "$img"
		contains out "^block $blk \\(bytes $first-$last\\): checksum mismatch$"
		contains out ": 1 bad blocks"
		expect 1 "$CS" check --json "$img"
		python3 -c "import json; d=json.load(open('out')); assert d['bad_blocks']==1 and d['events'][0]['block']==$blk and d['events'][0]['offset']==$first" && ok || bad "check --json block $blk"
		expect 1 "$CS" export "$img" out.bin
		contains err "^csumshim: $img: cannot export: block $blk \\(bytes $first-$last\\): checksum mismatch$"
		absent out.bin
		ls ./out.bin.csumshim-export.* >/dev/null 2>&1 && bad "export left a temporary file" || ok
		# the same seed flips the same bits back
		expect 0 "$CS" corrupt "$img" --offset "$off" --seed "$i" --bits "$i"
		expect 0 "$CS" check "$img"
	done
	# metadata corruption is reported as such
	expect 0 "$CS" corrupt "$img" --offset 5000 --metadata --seed 9
	expect 1 "$CS" check "$img"
	contains out "group 0 metadata block [AB]: damaged \\(checksum mismatch\\)"
	expect 0 "$CS" corrupt "$img" --offset 5000 --metadata --seed 9
	expect 0 "$CS" check "$img"
	expect 0 "$CS" dump "$img" --group 0
	contains out "^brother A: valid, generation [0-9]+"
	rm -f "$img" "$img.csum"
}
roundtrip interleaved crc32c 4096
roundtrip separate xxh3 4096
roundtrip interleaved xxh3 512
roundtrip separate crc32c 1024

# sparse input stays sparse: never-written blocks read back as zeros
truncate -s 100M sparse.bin
printf 'hello' | dd of=sparse.bin bs=1 seek=50000000 conv=notrunc status=none
expect 0 "$CS" import sparse.bin sparse.img
contains out "104857600 bytes"
kib=$(du -k sparse.img | cut -f1)
if [ "$kib" -le 256 ]; then ok; else bad "sparse import uses $kib KiB"; fi
expect 0 "$CS" export sparse.img sparse.out
same sparse.bin sparse.out
# a never-written block that is not zero is a mismatch, not zeros
expect 0 "$CS" corrupt sparse.img --offset 90000000 --seed 1
expect 1 "$CS" check sparse.img
contains out "^block 21972 \\(bytes 89997312-90001407\\): never-written block is not zero$"

# recover on a file marked clean re-seals nothing: a damaged brother is
# rewritten from the good one, a rotten block stays bad (exit 1), and
# --after-power-loss changes nothing for a clean file
head -c 65536 /dev/urandom >rot.bin
expect 0 "$CS" import rot.bin rot.img
expect 0 "$CS" corrupt rot.img --offset 8192 --seed 7
expect 0 "$CS" corrupt rot.img --offset 8192 --metadata --brother A --seed 3
expect 1 "$CS" recover rot.img --after-power-loss
contains out "^block 2 \\(bytes 8192-12287\\): checksum mismatch$"
contains out "was closed cleanly; .* 0 could not be verified \\(checksum recomputed\\), 1 fail verification"
expect 1 "$CS" check rot.img
contains out "^block 2 \\(bytes 8192-12287\\): checksum mismatch$"
if grep -q "metadata block [AB]:" out; then bad "recover left a damaged brother"; else ok; fi
expect 1 "$CS" export rot.img rot.out
absent rot.out
expect 0 "$CS" corrupt rot.img --offset 8192 --seed 7
expect 0 "$CS" check rot.img
expect 0 "$CS" export rot.img rot.out
same rot.bin rot.out
rm -f rot.bin rot.img rot.out

# --- bad input: one line, exit 2, nothing written --------------------------
expect_error "unknown checksum algorithm 'md5'" "$CS" format --checksum md5 --size 1M new.img
absent new.img
expect_error "invalid block size '3000'" "$CS" format --block-size 3000 --size 1M new.img
absent new.img
expect_error "invalid block size '8192'" "$CS" format --block-size 8192 new.img
expect_error "unknown layout 'mirror'" "$CS" format --layout mirror new.img
expect_error "not a size" "$CS" format --size 12Q new.img
expect_error "size .* too large" "$CS" format --size 4E new.img
absent new.img
expect_error "unknown command 'frobnicate'" "$CS" frobnicate
expect_error "expected exactly one FILE" "$CS" check

cp src.bin plain.bin
expect_error "not empty .*use --force" "$CS" format --size 1M plain.bin
same src.bin plain.bin
expect_error "not a csumshim file \\(no superblock\\), and no metadata file plain.bin.csum" "$CS" check plain.bin
"$CS" format --size 1M x.img >/dev/null
expect_error "already a csumshim file; use --force" "$CS" format --size 2M x.img
expect 0 "$CS" format --size 2M --force x.img
expect_error "offset 3000000 is past the end" "$CS" corrupt x.img --offset 3000000

head -c 100 x.img >trunc.img
expect_error "superblock truncated" "$CS" info trunc.img
cp x.img dmg.img
printf '\x01' | dd of=dmg.img bs=1 seek=60 conv=notrunc status=none
expect_error "damaged superblock \\(checksum mismatch\\)" "$CS" check dmg.img
cp dmg.img dmg2.img
expect_error "damaged superblock" "$CS" export dmg.img never.bin
absent never.bin
same dmg.img dmg2.img # nothing was written to it either

"$CS" format --size 1M --layout separate sep.img >/dev/null
rm sep.img.csum
expect_error "no metadata file sep.img.csum" "$CS" check sep.img
"$CS" format --size 1M --layout separate --metadata sep2.meta sep2.img >/dev/null
expect_error "metadata file of a separate layout" "$CS" check sep2.meta
expect 0 "$CS" check sep2.img --metadata-file sep2.meta
expect_error "--metadata is only for --layout separate" "$CS" format --metadata m.csum new.img
absent new.img
expect_error "already exists; use --force" "$CS" export x.img plain.bin
}

# --- block devices: loop devices (root) -----------------------------------
blockdev_part() {
	truncate -s 8K tiny.bin
	dev=$(losetup -f --show tiny.bin 2>/dev/null)
	if [ -n "$dev" ]; then
		expect_error "device too small" "$CS" format "$dev"
		losetup -d "$dev"
	else
		bad "losetup failed on tiny.bin"
	fi
	truncate -s 64M dev.bin
	dev=$(losetup -f --show dev.bin 2>/dev/null)
	if [ -n "$dev" ]; then
		expect_error "exceeds what the device can hold" "$CS" format --size 1G "$dev"
		expect 0 "$CS" format "$dev"
		contains out "formatted $dev: 6[0-9]{7} bytes"
		expect_error "already a csumshim file" "$CS" format "$dev"
		seeded_bytes "$SEED" $((10 << 20)) >d10
		expect 0 "$CS" import d10 "$dev" --force
		expect 0 "$CS" check "$dev"
		contains out "0 bad blocks"
		expect 0 "$CS" corrupt "$dev" --offset 5000000 --seed 3
		expect 1 "$CS" check "$dev"
		contains out "^block 1220 "
		expect 0 "$CS" corrupt "$dev" --offset 5000000 --seed 3
		expect 0 "$CS" export "$dev" d10.out
		same d10 d10.out
		losetup -d "$dev"
	else
		bad "losetup failed on dev.bin"
	fi
}

case $PART in
files) files_part ;;
blockdev) blockdev_part ;;
*) echo "cli_test: unknown part '$PART'" >&2; exit 2 ;;
esac

echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
