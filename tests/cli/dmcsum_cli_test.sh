#!/usr/bin/env bash
# CLI test of the dm-csum format (the seed's): format equals the seed's
# mk-dm-csum same byte for byte (tests/cli/dmcsum_oracle_tool, the seed's
# logic re-implemented); files the seed's update wrote are checked and
# exported by csumshim, files csumshim wrote are verified by the seed's
# rule; corrupt/check name the exact sector; convert round-trips both ways
# and both layouts, and leaves nothing behind when the source is bad; every
# bad input: one line, exit 2, nothing written.
# Usage: dmcsum_cli_test.sh PATH/TO/csumshim PATH/TO/dmcsum_oracle_tool
set -u
CS=$(readlink -f "${1:?usage: dmcsum_cli_test.sh CSUMSHIM ORACLE_TOOL}")
OT=$(readlink -f "${2:?usage: dmcsum_cli_test.sh CSUMSHIM ORACLE_TOOL}")
T=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-dmcsum.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 2
pass=0 fail=0
DM=(--format dm-csum)

ok()   { pass=$((pass + 1)); }
bad()  { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

expect() {
	local want=$1; shift
	"$@" >out 2>err
	local got=$?
	if [ "$got" -eq "$want" ]; then ok; else
		bad "exit $got, want $want: $*"; sed 's/^/    | /' out err >&2
	fi
}

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
no_temps() { if ls ./*.csumshim-* >/dev/null 2>&1; then bad "temporary files left: $(ls ./*.csumshim-*)"; else ok; fi; }

# --- format = mk-dm-csum same, byte for byte --------------------------------
for n in 1 61 62 63 124 125 1000 2048 4093; do
	expect 0 "$CS" format "${DM[@]}" --size $((n * 512)) c.img
	truncate -s "$(stat -c %s c.img)" o.img
	expect 0 "$OT" mkfs-same o.img
	same c.img o.img
	expect 0 "$CS" info "${DM[@]}" --json c.img
	contains out "\"layout\":\"interleaved\",\"logical_size\":$((n * 512)),\"sector_size\":512,.*\"sectors\":$n,"
	expect 0 "$OT" read c.img c.out
	contains out "^$n sectors verified$"
	rm -f c.img o.img c.out
done
# sparse: only the pairs are written (a 4 KiB page each)
expect 0 "$CS" format "${DM[@]}" --size 16M big.img
kib=$(du -k big.img | cut -f1)
if [ "$kib" -le 2200 ]; then ok; else bad "16 MiB dm-csum format uses $kib KiB"; fi
expect 0 "$CS" check "${DM[@]}" big.img
contains out '32768 sectors in 529 groups: 0 bad sectors, 0 damaged imd sectors, 0 groups refusing writes'
rm -f big.img

# --- the seed's writes, read by csumshim; csumshim's, read by the seed ------
truncate -s $((300 * 512)) expected # never-written sectors: zeros, as in the image
expect 0 "$CS" format "${DM[@]}" --size $((300 * 512)) seed.img
# the same sectors written twice and three times leave stale tuples behind
for s in 0 5 61 62 100 250 0 61 5 299; do
	head -c 1536 /dev/urandom >piece
	[ "$s" = 299 ] && head -c 512 piece >p1 && mv p1 piece
	expect 0 "$OT" write seed.img $s piece
	dd if=piece of=expected bs=512 seek=$s conv=notrunc status=none
done
expect 0 "$CS" check "${DM[@]}" seed.img
contains out '0 bad sectors, 0 damaged imd sectors'
expect 0 "$CS" export "${DM[@]}" seed.img seed.out
same expected seed.out
expect 0 "$CS" dump "${DM[@]}" seed.img --group 0
contains out '^M1: last_updated [0-9]+, header CRC [0-9a-f]{4} \(valid\)'
contains out '\(differ\)'

# csumshim-written dm-csum (import, convert) verified by the seed's rule
expect 0 "$CS" import "${DM[@]}" expected imp.img
expect 0 "$OT" read imp.img imp.out
same expected imp.out
expect 0 "$CS" convert seed.img conv.csm --to csumshim --block-size 1024 --checksum xxh3
expect 0 "$CS" check conv.csm
expect 0 "$CS" convert conv.csm back.img --to dm-csum
contains out "converted conv.csm \\(csumshim\\) to back.img \\(dm-csum, interleaved layout\\): 153600 bytes$"
expect 0 "$OT" read back.img back.out
same expected back.out

# --- corrupt and check name the exact sector ---------------------------------
cp imp.img cor.img
for off in 0 31743 31744 100000 153599; do
	sec=$((off / 512)); first=$((sec * 512)); last=$((first + 511))
	expect 0 "$CS" corrupt "${DM[@]}" cor.img --offset $off --seed 7 --bits 3
	contains out "^flipped 3 bits in data of sector $sec \\(seed 7\\)"
	expect 1 "$CS" check "${DM[@]}" cor.img
	contains out "^sector $sec \\(bytes $first-$last\\): checksum mismatch$"
	contains out ": 1 bad sectors, 0 damaged imd sectors"
	expect 1 "$CS" check "${DM[@]}" --json cor.img
	contains out "\"bad_sectors\":1,\"damaged_imd\":0,.*\"clean\":false,\"events\":\\[\\{\"kind\":\"mismatch\",\"group\":$((sec / 62)),\"sector\":$sec,\"offset\":$first,\"length\":512,"
	expect 1 "$OT" read cor.img x.out # the seed's rule agrees
	contains out "^sector $sec: CRC in neither brother$"
	expect 1 "$CS" export "${DM[@]}" cor.img cor.out
	contains err "^csumshim: cor.img: cannot export: sector $sec \\(bytes $first-$last\\): checksum mismatch$"
	absent cor.out
	expect 1 "$CS" convert cor.img cor.csm --to csumshim
	contains err "cannot convert: sector $sec "
	absent cor.csm
	no_temps
	expect 0 "$CS" corrupt "${DM[@]}" cor.img --offset $off --seed 7 --bits 3
	expect 0 "$CS" check "${DM[@]}" cor.img
done
same imp.img cor.img
# an imd sector: its header CRC no longer matches
expect 0 "$CS" corrupt "${DM[@]}" cor.img --offset 40000 --metadata --brother B --seed 2
contains out "^flipped 1 bit in imd sector M2 of group 1 \\(CRC of sector 78\\)"
expect 1 "$CS" check "${DM[@]}" cor.img
contains out "^group 1 imd sector M2: header CRC mismatch$"
expect 0 "$CS" dump "${DM[@]}" cor.img --group 1
contains out "^M2: last_updated [0-9]+, header CRC [0-9a-f]{4} \\(MISMATCH\\), computed"
expect 0 "$CS" corrupt "${DM[@]}" cor.img --offset 40000 --metadata --brother B --seed 2
same imp.img cor.img

# --- convert round trips, both layouts, odd sizes ----------------------------
head -c 1000003 /dev/urandom >odd.bin
expect 0 "$CS" import odd.bin odd.csm --block-size 4096
for lay in interleaved separate; do
	rm -f dm.img dm.img.csum rt.csm rt.csm.csum rt.out
	expect 0 "$CS" convert odd.csm dm.img --to dm-csum --layout $lay
	contains out "1000003 bytes \\(padded with 445 zero bytes to whole 512-byte sectors\\)$"
	lay_opt=(); [ $lay = separate ] && lay_opt=(--layout separate)
	expect 0 "$CS" check "${DM[@]}" "${lay_opt[@]}" dm.img
	contains out "^dm.img: 1954 sectors in 32 groups: 0 bad sectors"
	if [ $lay = separate ]; then
		expect 0 "$OT" read dm.img dm.out dm.img.csum
		# the seed's "diff": data from sector 1; pair k at sector 3 + 2k
		cmp -s <(head -c 1000003 <(tail -c +513 dm.img)) odd.bin && ok || bad "diff data offset"
		[ "$(stat -c %s dm.img.csum)" = $(((3 + 2 * 32) * 512)) ] && ok || bad "diff metadata size"
	else
		expect 0 "$OT" read dm.img dm.out
	fi
	cmp -s <(head -c 1000003 dm.out) odd.bin && ok || bad "oracle read of converted $lay"
	expect 0 "$CS" convert dm.img rt.csm --to csumshim --source-layout $lay --layout $lay \
		--checksum xxh3
	expect 0 "$CS" export rt.csm rt.out
	cmp -s <(head -c 1000003 rt.out) odd.bin && ok || bad "round trip $lay"
	[ "$(stat -c %s rt.out)" = 1000448 ] && ok || bad "round trip size"
	expect 0 "$CS" convert rt.csm dm2.img --to dm-csum --layout $lay --force
	same dm.img dm2.img # same content, same writes: same bytes
	[ $lay = separate ] && same dm.img.csum dm2.img.csum
	rm -f dm2.img dm2.img.csum
	no_temps
done
# --force replaces an existing destination; a failing convert leaves it alone
cp odd.bin keep.bin
expect_error "already exists; use --force" "$CS" convert odd.csm keep.bin --to dm-csum
same odd.bin keep.bin
cp imp.img bad.img
"$CS" corrupt "${DM[@]}" bad.img --offset 5000 --seed 1 >/dev/null
expect 1 "$CS" convert bad.img keep.bin --to csumshim --force
same odd.bin keep.bin
no_temps

# --- bad input: one line, exit 2, nothing written ----------------------------
expect_error "not a positive multiple of 512" "$CS" format "${DM[@]}" --size 1000 new.img
absent new.img
expect_error "--size is needed for a file" "$CS" format "${DM[@]}" new.img
absent new.img
expect_error "checksum is fixed" "$CS" format "${DM[@]}" --checksum xxh3 --size 1M new.img
expect_error "512-byte sectors, not '4096'" "$CS" format "${DM[@]}" --block-size 4096 --size 1M new.img
expect_error "unknown format 'dmcsum'" "$CS" format --format dmcsum --size 1M new.img
expect_error "--format: needs a format" "$CS" check x --format
expect_error "unknown layout 'diff'" "$CS" format "${DM[@]}" --layout diff --size 1M new.img
expect_error "--metadata is only for --layout separate" "$CS" format "${DM[@]}" --metadata m --size 1M new.img
absent new.img
absent m
expect_error "size .* too large" "$CS" format "${DM[@]}" --size 4E new.img
absent new.img
"$CS" format --size 1M own.img >/dev/null
cp own.img own.copy
expect_error "already a csumshim file; use --force" "$CS" format "${DM[@]}" --size 1M own.img
expect_error "own.img: is a csumshim file, not dm-csum" "$CS" check "${DM[@]}" own.img
expect_error "own.img: is a csumshim file, not dm-csum" "$CS" corrupt "${DM[@]}" own.img --offset 0
same own.img own.copy
expect_error "not empty .*use --force" "$CS" format "${DM[@]}" --size 1M odd.bin
expect_error "not a csumshim file" "$CS" check imp.img # never guessed
truncate -s 1536 tiny.img
expect_error "tiny.img: too small to hold a dm-csum group" "$CS" info "${DM[@]}" tiny.img
truncate -s 100000 oddsize.img
expect_error "not a whole number of sectors" "$CS" check "${DM[@]}" oddsize.img
expect_error "imp.img.csum: cannot open the metadata file: No such file" "$CS" check "${DM[@]}" --layout separate imp.img
expect_error "metadata-file is only for --layout separate" "$CS" check "${DM[@]}" --layout interleaved --metadata-file x imp.img
"$CS" format "${DM[@]}" --layout separate --size 1M sep.img >/dev/null
truncate -s 2048 sep.img.csum
expect_error "metadata file too short for the data" "$CS" check "${DM[@]}" --layout separate sep.img
# The metadata file is never reached through a symbolic link (as for
# csumshim's own separate layout): the link's target stays untouched.
cp sep.img.csum victim.csum
"$CS" format "${DM[@]}" --layout separate --size 1M lnk.img >/dev/null
rm lnk.img.csum && ln -s victim.csum lnk.img.csum
expect_error "lnk.img.csum: .*symbolic link" "$CS" corrupt "${DM[@]}" --layout separate lnk.img --offset 0
same sep.img.csum victim.csum
expect_error "recover: not available for dm-csum files" "$CS" recover "${DM[@]}" imp.img
expect_error "group 99 out of range \\(the file has 5 groups\\)" "$CS" dump "${DM[@]}" imp.img --group 99
expect_error "offset 153600 is past the end" "$CS" corrupt "${DM[@]}" imp.img --offset 153600
expect_error "--brother: must be A \\(M1\\) or B \\(M2\\)" "$CS" corrupt "${DM[@]}" imp.img --offset 0 --brother C
expect_error "already exists; use --force" "$CS" export "${DM[@]}" imp.img odd.bin
: >empty.bin
expect_error "empty \\(a dm-csum device holds at least one sector\\)" "$CS" import "${DM[@]}" empty.bin e.img
absent e.img
expect_error "--to: unknown format 'qcow2'" "$CS" convert imp.img x.img --to qcow2
expect_error "convert: usage" "$CS" convert imp.img x.img
expect_error "checksum is fixed" "$CS" convert odd.csm x.img --checksum xxh3 --to dm-csum
expect_error "--size: the size is the source's" "$CS" convert odd.csm x.img --to dm-csum --size 1M
expect_error "--source-layout: a csumshim source" "$CS" convert odd.csm x.img --to dm-csum --source-layout separate
expect_error "convert: not available for dm-csum files \\(convert takes --to\\)" "$CS" convert "${DM[@]}" imp.img x.img
expect_error "not a csumshim file" "$CS" convert imp.img x.img --to dm-csum
absent x.img
no_temps

# --- block devices, where loop devices are available -------------------------
if losetup -f >/dev/null 2>&1; then
	truncate -s 1536 tinydev.bin
	dev=$(losetup -f --show tinydev.bin 2>/dev/null)
	if [ -n "$dev" ]; then
		expect_error "device too small" "$CS" format "${DM[@]}" "$dev"
		losetup -d "$dev"
	fi
	head -c 8M /dev/urandom >dev.bin # junk: csumshim's format wipes it
	dev=$(losetup -f --show dev.bin 2>/dev/null)
	if [ -n "$dev" ]; then
		expect_error "device holds data; use --force" "$CS" format "${DM[@]}" "$dev"
		expect 0 "$CS" format "${DM[@]}" --force "$dev"
		contains out "formatted $dev: 8125952 bytes \\(15871 sectors in 256 groups\\)"
		truncate -s 8M zero.bin
		expect 0 "$OT" mkfs-same zero.bin
		same "$dev" zero.bin
		expect 0 "$CS" import "${DM[@]}" expected "$dev" --force
		expect 0 "$CS" check "${DM[@]}" "$dev"
		cat "$dev" >dev.copy # the tool sizes files, not devices
		expect 0 "$OT" read dev.copy dev.out
		cmp -s <(head -c 153600 dev.out) expected && ok || bad "device read by the seed's rule"
		expect 0 "$CS" corrupt "${DM[@]}" "$dev" --offset 70000 --seed 3
		expect 1 "$CS" check "${DM[@]}" "$dev"
		contains out "^sector 136 \\(bytes 69632-70143\\): checksum mismatch$"
		expect 0 "$CS" corrupt "${DM[@]}" "$dev" --offset 70000 --seed 3
		expect 0 "$CS" export "${DM[@]}" "$dev" dev.export
		cmp -s <(head -c 153600 dev.export) expected && ok || bad "device export"
		expect_error "is a block device" "$CS" convert odd.csm "$dev" --to dm-csum --force
		losetup -d "$dev"
	fi
else
	echo "note: no loop devices here; block-device cases skipped"
fi

echo "cli_dmcsum: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
