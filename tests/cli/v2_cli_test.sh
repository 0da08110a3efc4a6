#!/usr/bin/env bash
# Format version 2 through the CLI (docs/FORMAT.md "Version 2"):
#  - new files are version 2 (info says so);
#  - a stored file that lost its tail (truncate without csumshim, interleaved
#    and separate data and metadata files): check exits 1 naming the lost
#    blocks, groups and byte range; export refuses; recover leaves it failing;
#  - a written group punched out (brothers and data): check exits 1 naming
#    the group and bytes, recover keeps it failing; recover --discard-lost
#    accepts the loss (the group zeros, the rest as written, check clean),
#    also with the brothers alone punched (the data left is zeroed), and for
#    the last, partial group; refused (exit 2, file unchanged) while another
#    process has the file open;
#  - the superblock from before the last growth put back: check exits 1 and
#    says so; recover rebuilds it and every byte written exports again; also
#    an unclean one after a writable open and close through the shim;
#  - upgrade: a version 1 file (format --format-version 1) becomes version 2
#    with its content and uuid, a damaged one is refused and left version 1.
# Usage: v2_cli_test.sh PATH/TO/csumshim
set -u
CS=$(readlink -f "${1:?usage: v2_cli_test.sh PATH/TO/csumshim}")
T=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-v2.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 2
pass=0 fail=0
ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
expect() {
	local want=$1; shift
	"$@" >out 2>err
	local got=$?
	if [ "$got" -eq "$want" ]; then ok; else
		bad "exit $got, want $want: $*"; sed 's/^/    | /' out err >&2
	fi
}
contains() { if grep -qE -- "$2" "$1"; then ok; else bad "$1 lacks '$2'"; sed 's/^/    | /' "$1" >&2; fi; }
notcontains() { if grep -qE -- "$2" "$1"; then bad "$1 has '$2'"; else ok; fi; }
same() { if cmp -s "$1" "$2"; then ok; else bad "$1 and $2 differ"; fi; }

head -c $((10 << 20)) /dev/urandom >src.bin # 10 MiB: 3 groups of 4 KiB blocks

# --- new files are version 2 --------------------------------------------------
expect 0 "$CS" import src.bin a.img
expect 0 "$CS" info a.img
contains out 'format version: +2'
contains out 'layout: +interleaved \(aligned 2 MiB data runs\)'

# --- lost tail, interleaved: cut inside group 1's data (aligned: the data run
# starts at 2 MiB, the brothers of groups 0-2 lie before it)
cut=$((2097152 + 983 * 4096 + 100)) # in block 983
truncate -s "$cut" a.img
expect 1 "$CS" check a.img
contains out '^blocks 983-2559 \(bytes 4026368-10485759, groups 1-2\): missing'
contains out 'lost tail: 1577 blocks \(bytes 4026368-10485759\)'
expect 1 "$CS" check --json a.img
python3 -c "import json; d=json.load(open('out')); assert d['missing_blocks']==1577 and d['intact_size']==4026368 and not d['clean']" && ok || bad "check --json lost tail"
expect 1 "$CS" export a.img out.bin
[ -e out.bin ] && bad "export of a file with a lost tail wrote out.bin" || ok
expect 1 "$CS" recover a.img
contains out 'lost tail: bytes 4026368-10485759'
expect 1 "$CS" check a.img # still failing: never zeros
[ "$(stat -c %s a.img)" = "$cut" ] && ok || bad "recover extended the lost tail"

# --- a written group punched out, brothers and data (the written-group
# record, WGREC): group 1 of 3 (blocks 976-1951); its brothers at 4096 + 2 x
# 4096, its data at 2 MiB + 976 x 4096.  Never zeros: check names it.
expect 0 "$CS" import src.bin p.img
expect 0 "$CS" check p.img
fallocate -p -o $((4096 + 2 * 4096)) -l 8192 p.img
fallocate -p -o $((2097152 + 976 * 4096)) -l $((976 * 4096)) p.img
expect 1 "$CS" check p.img
contains out '^group 1 \(blocks 976-1951, bytes 3997696-7995391\): lost'
contains out '1 group was written but its metadata and data are holes'
expect 1 "$CS" check --json p.img
python3 -c "import json; d=json.load(open('out')); assert d['lost_groups']==1 and d['bad_blocks']==976 and not d['clean']" && ok || bad "check --json lost group"
expect 1 "$CS" export p.img out.bin
rm -f out.bin
expect 1 "$CS" recover p.img
contains out '1 groups recorded written'
contains out "accept the loss with 'csumshim recover --discard-lost"
expect 1 "$CS" check p.img # still failing: the bit survives recovery
# Accepting the loss: the group reads as zeros from then on, nothing else
# changes; a second run finds nothing to discard.
expect 0 "$CS" recover --discard-lost p.img
contains out '^group 1 \(blocks 976-1951, bytes 3997696-7995391\): lost'
contains out '1 lost group discarded \(--discard-lost\): it reads as zeros from now on'
expect 0 "$CS" check p.img
expect 0 "$CS" export p.img out.bin
python3 -c "
import sys
a = bytearray(open('src.bin', 'rb').read()); b = open('out.bin', 'rb').read()
a[3997696:7995392] = bytes(7995392 - 3997696)
sys.exit(a != b)" && ok || bad "after --discard-lost: group 1 zeros, the rest as written"
rm -f out.bin
expect 0 "$CS" recover --discard-lost p.img
notcontains out 'discarded'
# Brothers alone punched, the data left: discarding zeroes the data too (it
# would otherwise fail as never-written data that is not zero).
expect 0 "$CS" import src.bin q.img
fallocate -p -o $((4096 + 2 * 4096)) -l 8192 q.img
expect 1 "$CS" check q.img
expect 0 "$CS" recover --discard-lost q.img
expect 0 "$CS" check q.img
expect 0 "$CS" export q.img out.bin
cmp -s out.bin <(python3 -c "
import sys
a = bytearray(open('src.bin', 'rb').read()); a[3997696:7995392] = bytes(7995392 - 3997696)
sys.stdout.buffer.write(a)") && ok || bad "brothers punched, --discard-lost: group 1 zeros"
rm -f out.bin q.img
# The last group, partial (size not a whole block), brothers punched: only
# it is zeroed, up to the end; nothing else changes.
head -c 100 /dev/urandom >>src.bin
expect 0 "$CS" import src.bin q.img
fallocate -p -o $((4096 + 2 * 2 * 4096)) -l 8192 q.img
expect 0 "$CS" recover --discard-lost q.img
contains out '^group 2 \(blocks 1952-'
contains out '1 lost group discarded'
expect 0 "$CS" check q.img
expect 0 "$CS" export q.img out.bin
cmp -s out.bin <(python3 -c "
import sys
a = bytearray(open('src.bin', 'rb').read()); a[7995392:] = bytes(len(a) - 7995392)
sys.stdout.buffer.write(a)") && ok || bad "last group punched, --discard-lost: it zeros, the rest as written"
rm -f out.bin
# Busy (another process has it open through the shim): refused, unchanged.
cat >conf <<CONF
[global]
log = $T/shim.log

[$T/*.img]
CONF
fallocate -p -o $((4096 + 2 * 4096)) -l 8192 q.img
cp --sparse=always q.img q.before
"$CS" run --config "$T/conf" -- python3 -c "
import os, time
fd = os.open('q.img', os.O_RDONLY)
open('held', 'w').close()
while not os.path.exists('done'): time.sleep(0.02)" &
holder=$!
while [ ! -e held ] && kill -0 $holder 2>/dev/null; do sleep 0.02; done
expect 2 "$CS" recover --discard-lost q.img
touch done
wait $holder
same q.before q.img
rm -f q.img q.before held done
truncate -s $((10 << 20)) src.bin
# A lost group whose data runs past the stored file (a lost tail inside
# it, block 1200): the group is zeroed as far as the file goes and its
# bit cleared; the tail stays missing (EIO, never zeros), exit 1.
expect 0 "$CS" import src.bin q.img
fallocate -p -o $((4096 + 2 * 4096)) -l 8192 q.img
truncate -s $((2097152 + 1200 * 4096 + 100)) q.img
expect 1 "$CS" recover --discard-lost q.img
contains out '1 lost group discarded'
contains out 'lost tail: bytes 4915200-10485759'
expect 1 "$CS" check q.img
notcontains out 'lost:'
"$CS" run --config "$T/conf" -- python3 -c "
import os, sys
fd = os.open('q.img', os.O_RDONLY)
src = open('src.bin', 'rb').read()
def rd(b):
    try:
        return os.pread(fd, 4096, b * 4096)
    except OSError:
        return None
ok = rd(975) == src[975 * 4096:976 * 4096] and rd(976) == bytes(4096) and rd(1199) == bytes(4096)
ok = ok and rd(1200) is None and rd(1952) is None
sys.exit(0 if ok else 1)" && ok || bad "lost group past the store's end: zeros to the cut, EIO past it"
rm -f q.img

# --- lost tail, separate: the data file, then the metadata file --------------
expect 0 "$CS" import src.bin s.img --layout separate --metadata s.img.csum
truncate -s 5000000 s.img
expect 1 "$CS" check s.img --metadata-file s.img.csum
contains out 'bytes 4997120-10485759'
expect 0 "$CS" import src.bin s2.img --layout separate --metadata s2.img.csum
truncate -s $((4096 + 2 * 4096 + 100)) s2.img.csum # group 1's pair cut
expect 1 "$CS" check s2.img --metadata-file s2.img.csum
contains out 'groups 1-2\): missing'

# --- stale superblock: the one from before the last growth -------------------
head -c $((1 << 20)) src.bin >small.bin
expect 0 "$CS" import small.bin st.img
dd if=st.img of=sb.old bs=512 count=1 status=none
cat >conf <<CONF
[global]
log = $T/shim.log

[$T/*.img]
CONF
head -c $((5 << 20)) /dev/urandom >more.bin
"$CS" run --config "$T/conf" -- dd if=more.bin of=st.img bs=1M oflag=append conv=notrunc status=none ||
	bad "append through the shim"
expect 0 "$CS" check st.img
dd if=sb.old of=st.img bs=512 count=1 conv=notrunc status=none # the old superblock back
expect 1 "$CS" check st.img
contains out 'superblock is older than the metadata'
expect 1 "$CS" recover st.img
contains out 'rebuilt, size now 6291456'
expect 0 "$CS" check st.img
expect 0 "$CS" export st.img out.bin
cat small.bin more.bin >want.bin
same want.bin out.bin
rm -f out.bin
# The same with the superblock taken while the file was open for writing
# (unclean, as a power cut during a growth leaves it), then a program that
# opens it for writing through the shim and closes it: every I/O fails,
# and the close leaves the file to recover (no clean mark over the stale
# size, no cut of the data past it).
expect 0 "$CS" import small.bin su.img
ln su.img su.raw # not protected: the raw bytes
"$CS" run --config "$T/conf" -- python3 -c "
import os
fd = os.open('su.img', os.O_RDWR)
os.pwrite(fd, open('small.bin', 'rb').read(4096), 0) # marks it unclean
open('sb.unclean', 'wb').write(open('su.raw', 'rb').read(512))
os.lseek(fd, 0, os.SEEK_END)
os.write(fd, open('more.bin', 'rb').read())
os.fsync(fd)
os.close(fd)" || bad "append through the shim"
dd if=sb.unclean of=su.img bs=512 count=1 conv=notrunc status=none
"$CS" run --config "$T/conf" -- python3 -c "
import os
fd = os.open('su.img', os.O_RDWR)
try:
    os.pread(fd, 10, 0)
    print('read')
except OSError:
    pass
os.close(fd)" >out 2>&1
notcontains out '^read'
expect 1 "$CS" check su.img
contains out 'superblock is older than the metadata'
expect 1 "$CS" recover su.img
contains out 'rebuilt, size now 6291456'
expect 0 "$CS" export su.img out.bin
same want.bin out.bin
rm -f out.bin su.img su.raw sb.unclean

# --- upgrade ------------------------------------------------------------------
expect 0 "$CS" import src.bin v1.img --format-version 1
expect 0 "$CS" info v1.img
contains out 'format version: +1'
uuid1=$("$CS" info --json v1.img | python3 -c 'import json,sys; print(json.load(sys.stdin)["uuid"])')
expect 0 "$CS" upgrade v1.img
contains out 'upgraded from format version 1 to 2 with aligned data runs'
expect 0 "$CS" info --json v1.img
python3 -c "import json; d=json.load(open('out')); assert d['version']==2 and d['uuid']=='$uuid1' and d['aligned']" && ok || bad "upgrade kept the uuid, aligned"
ls v1.img.upgrade-* >/dev/null 2>&1 && bad "upgrade left its temporary file" || ok
expect 0 "$CS" check v1.img
expect 0 "$CS" export v1.img out.bin
same src.bin out.bin
rm -f out.bin
expect 0 "$CS" upgrade v1.img
contains out 'already format version 2'
# a version 2 file without aligned data runs (from before them) works, and
# upgrade copies it into the aligned layout
expect 0 "$CS" import src.bin u2.img --unaligned
expect 0 "$CS" info u2.img
contains out '^layout: +interleaved$'
expect 0 "$CS" check u2.img
expect 0 "$CS" dump u2.img --group 1
expect 0 "$CS" corrupt u2.img --offset 5000000 --seed 3
expect 1 "$CS" check u2.img
cp u2.img u2.before
expect 1 "$CS" upgrade u2.img
contains err 'not upgraded'
same u2.before u2.img
ls u2.img.upgrade-* >/dev/null 2>&1 && bad "a refused upgrade left its temporary file" || ok
expect 0 "$CS" import src.bin u2.img --unaligned --force
# a copy that cannot be written (file size limit: EFBIG) leaves the file as
# it was and no temporary file
cp u2.img u2.before
(trap '' XFSZ; ulimit -f 4096; "$CS" upgrade u2.img >out 2>err); rc=$?
[ "$rc" = 2 ] && ok || bad "upgrade past the file size limit: exit $rc, want 2"
contains err 'not upgraded'
same u2.before u2.img
ls u2.img.upgrade-* >/dev/null 2>&1 && bad "a failed upgrade left its temporary file" || ok
uuid2=$("$CS" info --json u2.img | python3 -c 'import json,sys; print(json.load(sys.stdin)["uuid"])')
expect 0 "$CS" upgrade u2.img
contains out 'upgraded from format version 2 \(unaligned\) to 2 with aligned data runs'
expect 0 "$CS" info --json u2.img
python3 -c "import json; d=json.load(open('out')); assert d['version']==2 and d['uuid']=='$uuid2' and d['aligned']" && ok || bad "upgrade of unaligned v2: uuid, aligned"
expect 0 "$CS" check u2.img
expect 0 "$CS" export u2.img out.bin
same src.bin out.bin
rm -f out.bin
# an aligned file's data runs start on 2 MiB: block 0 is at 2 MiB
expect 0 "$CS" import src.bin al.img
cmp -s <(head -c 4096 src.bin) <(tail -c +2097153 al.img | head -c 4096) && ok || bad "block 0 not at 2 MiB"
expect 0 "$CS" corrupt al.img --offset 7000000 --seed 5
expect 1 "$CS" check al.img
contains out 'block 1708'
# a damaged version 1 file is refused and left as it was
expect 0 "$CS" import src.bin bad.img --format-version 1 --layout separate --metadata bad.img.csum
expect 0 "$CS" corrupt bad.img --metadata-file bad.img.csum --offset 5000000 --seed 3
cp bad.img.csum before.csum
expect 1 "$CS" upgrade bad.img --metadata-file bad.img.csum
contains err 'not upgraded'
same before.csum bad.img.csum

echo "v2_cli_test: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
