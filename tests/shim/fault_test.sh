#!/usr/bin/env bash
# Fault injection through the shim: [faults] rules from the config (exact
# log lines, errno per block, config errors with FILE:LINE and exit 78),
# the control file switched on and off while a program runs, counters in
# `csumshim fault list`, the same seed giving the same faults in two runs,
# no fault backend for a file no rule selects, and the faults at the
# program's calls (short reads and writes, fsync call=).
# Usage: fault_test.sh PATH/TO/csumshim
set -u
CS=$(readlink -f "$1")
D=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-fault.XXXXXX")
trap 'rm -rf "$D"' EXIT
cd "$D" || exit 1
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
mkdir d
head -c 65536 /dev/urandom >src
# Reads every 4 KiB block of FILE and prints "B ok" or "B EIO"/"B errno N".
cat >reader.py <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
out = []
for b in range(int(sys.argv[2])):
    try:
        os.pread(fd, 4096, b * 4096)
        out.append("%d ok" % b)
    except OSError as e:
        out.append("%d %s" % (b, "EIO" if e.errno == 5 else "errno %d" % e.errno))
print(" ".join(out))
PY
conf() { printf '[global]\nlog = %s/log\n[%s/d/*]\n[faults]\n%s\n' "$D" "$D" "$1" >conf; }
run() { "$CS" run --config conf -- "$@"; }
injected() { grep -o 'injected: .*' log; }

# 1. EIO on reads of chosen bytes: exactly blocks 2 and 3 fail; writes pass.
conf "rule = eio op=read bytes=8192-16383 path=$D/d/a"
run dd if=src of=d/a bs=4096 status=none || bad "dd through an eio op=read rule"
got=$(run python3 reader.py d/a 6)
[ "$got" = "0 ok 1 ok 2 EIO 3 EIO 4 ok 5 ok" ] && ok "eio on bytes 8192-16383" || bad "eio: $got"
[ "$(injected)" = "injected: EIO, read, block 2
injected: EIO, read, block 3" ] && ok "eio log lines" || bad "eio log: $(injected)"
: >log
run dd if=src of=d/b bs=4096 status=none
[ "$(run python3 reader.py d/b 6)" = "0 ok 1 ok 2 ok 3 ok 4 ok 5 ok" ] &&
	[ ! -s log ] && ok "path=GLOB: another file has no faults" || bad "d/b affected: $(cat log)"

# 2. Stored bit flips as written, seeded: the same blocks and bits twice.
flips() {
	rm -f d/c log
	conf "rule = flip probability=25% seed=$1 bits=2"
	run dd if=src of=d/c bs=4096 status=none
	conf ""
	run python3 reader.py d/c 16
	injected | sed 's/ (write)//'
}
a=$(flips 9)
b=$(flips 9)
c=$(flips 10)
[ "$a" = "$b" ] && ok "same seed, same faults" || bad "seed 9 twice: '$a' vs '$b'"
[ "$a" != "$c" ] && ok "another seed, other faults" || bad "seeds 9 and 10 agree"
nflip=$(printf '%s\n' "$a" | grep -c 'bit flip')
neio=$(printf '%s\n' "$a" | head -1 | grep -o EIO | wc -l)
[ "$nflip" -ge 1 ] && [ "$nflip" = "$neio" ] && ok "every flipped block fails ($nflip)" ||
	bad "flipped $nflip, failed $neio: $a"
for blk in $(printf '%s\n' "$a" | sed -n 's/.*bit flip, block \([0-9]*\),.*/\1/p'); do
	printf '%s\n' "$a" | head -1 | grep -q "\b$blk EIO" || bad "block $blk flipped but read"
done

# 3. Config errors: FILE:LINE, exit 78, the program does not run.
printf '[global]\n[faults]\nrule = eio op=read\nrule = lost op=read\n' >badconf
out=$("$CS" run --config badconf -- echo ran 2>&1)
rc=$?
[ $rc = 78 ] && [ "$out" = "csumshim: $D/badconf:4: lost: op must be within write " ] &&
	ok "bad rule: FILE:LINE, 78" || bad "bad rule: rc $rc, '$out'"
printf '[faults]\ncontrol = relative\n' >badconf
out=$("$CS" run --config badconf -- echo ran 2>&1)
[ $? = 78 ] && [ "$out" = "csumshim: $D/badconf:2: control: expected yes, no or an absolute template, not 'relative'" ] &&
	ok "bad control: FILE:LINE, 78" || bad "bad control: '$out'"

# 4. The control file, flipped while the program runs.
conf "control = yes"
run dd if=src of=d/e bs=4096 status=none
: >log
mkfifo go done_
run python3 -c '
import os, sys
fd = os.open("d/e", os.O_RDONLY)
def rd(b):
    try:
        os.pread(fd, 4096, b * 4096); return "ok"
    except OSError as e:
        return "EIO" if e.errno == 5 else str(e.errno)
for step in range(3):
    open("go").read()
    print(step, rd(1), rd(7), rd(7), rd(7), flush=True)
    open("done_", "w").write("x")
' >steps.txt &
pid=$!
step() { echo >go; cat done_ >/dev/null; }
step
"$CS" fault add d/e eio op=read blocks=7 every=2 >/dev/null || bad "fault add"
step
"$CS" fault clear d/e >/dev/null
step
wait $pid
[ "$(cat steps.txt)" = "0 ok ok ok ok
1 ok ok EIO ok
2 ok ok ok ok" ] && ok "control file on and off mid-run" || bad "control: $(cat steps.txt)"
[ "$(injected)" = "injected: EIO, read, block 7" ] && ok "control log" || bad "control log: $(injected)"
"$CS" fault add d/e lost blocks=3 max=1 >/dev/null
run python3 -c '
import os
fd = os.open("d/e", os.O_WRONLY)
for i in range(4): os.pwrite(fd, b"x" * 4096, 3 * 4096)
'
[ "$("$CS" fault list d/e)" = "1: lost blocks=3 max=1 (ops 4, injected 1)" ] &&
	ok "counters in fault list" || bad "list: $("$CS" fault list d/e)"
out=$("$CS" fault add d/e flip bits=99 2>&1)
[ $? = 2 ] && [ "$out" = "csumshim: fault add: bits: out of range: '99'" ] && ok "fault add refuses a bad rule" ||
	bad "fault add bad rule: $out"
"$CS" fault clear d/e >/dev/null
[ "$("$CS" fault list d/e)" = "d/e.faults: no rules" ] && ok "fault clear" || bad "clear"

# 5. No rule selects the file: the fault backend is not installed (an
# eio rule for every block of another path leaves this one alone, and
# nothing is looked up: no control file is created or read).
conf "rule = eio path=$D/d/zz"
: >log
run dd if=src of=d/f bs=4096 status=none && run cat d/f >/dev/null && [ ! -s log ] &&
	[ ! -e d/f.faults.state ] && ok "no rule, no faults" || bad "unselected file: $(cat log)"

# 6. Faults at the program's calls: short reads and writes (a kernel may
# return fewer bytes than asked; read() moves the position by what it got),
# and fsync call= failing the program's fdatasync only, not its fsync nor
# the final sync of close.
conf "rule = short op=read count=1000 blocks=1 path=$D/d/g
rule = short op=write count=100 blocks=3 max=1 path=$D/d/g
rule = fsync call=fdatasync lose=no path=$D/d/g"
run dd if=src of=d/g bs=4096 status=none || bad "dd through short and fsync rules"
: >log
got=$(run python3 -c '
import os
fd = os.open("d/g", os.O_RDWR)
r = [len(os.pread(fd, 8192, 0)), len(os.pread(fd, 4096, 0)), len(os.read(fd, 8192)),
     os.lseek(fd, 0, os.SEEK_CUR), os.pwrite(fd, b"y" * 4096, 3 * 4096),
     os.pwrite(fd, b"y" * 4096, 3 * 4096)]
os.fsync(fd)
try:
    os.fdatasync(fd)
    r.append("fdatasync ok")
except OSError as e:
    r.append("fdatasync errno %d" % e.errno)
os.close(fd)
print(*r)
' 2>&1)
[ "$got" = "1000 4096 1000 1000 100 4096 fdatasync errno 5" ] && ok "short reads/writes, fsync call=fdatasync" ||
	bad "short/call: $got"
[ "$(injected)" = "injected: short read, 1000 of 8192 bytes at 0
injected: short read, 1000 of 8192 bytes at 0
injected: short write, 100 of 4096 bytes at 12288
injected: fsync EIO (fdatasync)" ] && ok "short/call log lines" || bad "short/call log: $(injected)"
# A mapping's fill is a page fault, which has no short count: it reads on.
conf "rule = short op=read count=1000 path=$D/d/h"
run dd if=src of=d/h bs=4096 status=none
: >log
got=$(run python3 -c '
import mmap, os
fd = os.open("d/h", os.O_RDONLY)
m = mmap.mmap(fd, 16384, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
print("same" if m[:16384] == open("src", "rb").read(16384) else "differ")
' 2>&1)
[ "$got" = same ] && grep -q "injected: short read, 1000 of 16384 bytes at 0" log &&
	ok "a mapping's fill reads on past short counts" || bad "mmap under short reads: $got; $(injected | head -3)"

[ $fails = 0 ] && echo "fault_test: all passed" || echo "fault_test: $fails failed"
exit $((fails > 0))
