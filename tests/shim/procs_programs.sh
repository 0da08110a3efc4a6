#!/usr/bin/env bash
# Real programs and descriptors (issues 15 and 17): Python's subprocess
# (vfork + close_range in the child) between protected writes; bash
# redirections onto numbers the shim might use; a script's own fd 3 never
# receiving the shim's log; tar failing on a bad block instead of padding.
# Usage: procs_programs.sh PATH/TO/csumshim
set -u
CS=$(readlink -f "${1:?usage: procs_programs.sh PATH/TO/csumshim}")
T=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-procprog.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 2
mkdir p
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
printf '[global]\nlog = %s/shim.log\n\n[%s/p/*]\n' "$T" "$T" >conf
R() { "$CS" run --config "$T/conf" -- "$@"; }
clean() { "$CS" check "$1" >/dev/null 2>&1 && ok || bad "check $1 not clean"; }

# Python: subprocess.run between writes; the parent keeps its protection.
cat >sub.py <<'PY'
import os, subprocess, sys
path = sys.argv[1]
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
want = bytearray()
for i in range(5):
    chunk = bytes([65 + i]) * 5000
    os.pwrite(fd, chunk, len(want))
    want += chunk
    subprocess.run(["true"], check=True)
    got = os.pread(fd, len(want) + 10, 0)
    assert got == want, "round %d: read %r..." % (i, got[:8])
    assert os.fstat(fd).st_size == len(want), os.fstat(fd).st_size
    # another process reads it while we hold it open
    out = subprocess.run(["timeout", "20", "sha256sum", path], capture_output=True)
    assert out.returncode == 0, out
os.close(fd)
PY
if R timeout 120 python3 sub.py "$T/p/sub.img" 2>err; then ok; else bad "python subprocess"; sed 's/^/    | /' err >&2; fi
python3 -c 'import sys; sys.stdout.buffer.write(b"".join(bytes([65+i])*5000 for i in range(5)))' >sub.plain
[ "$(R sha256sum <p/sub.img | cut -c1-64)" = "$(sha256sum <sub.plain | cut -c1-64)" ] && ok ||
	bad "python subprocess: content"
clean p/sub.img

# bash: redirections onto low numbers while protected files are open.
R bash -c 'exec 3<>p/f1.img; exec 4<>p/f2.img; exec 5<>p/f3.img
	echo one >&3; echo two >&4; echo three >&5
	exec 3>&- 4>&- 5>&-' 2>err || bad "bash exec: $(cat err)"
for n in 1:one 2:two 3:three; do
	f=p/f${n%%:*}.img
	[ "$(R cat "$f")" = "${n#*:}" ] && ok || bad "bash exec: $f holds '$(R cat "$f" 2>&1)'"
	clean "$f"
done

# The script's own fd 3 never receives the shim's log lines.
head -c 16384 /dev/urandom >bad.plain
R cp bad.plain p/bad.img
"$CS" corrupt p/bad.img --offset 5000 --seed 2 >/dev/null
: >shim.log
R bash -c 'exec 3>report.txt; read -r -N 8192 x <p/bad.img; echo "report" >&3; exec 3>&-' 2>/dev/null
[ "$(cat report.txt)" = report ] && ok || bad "report.txt got: $(head -c 300 report.txt)"
grep -q "bad.img: checksum mismatch in block 1 " shim.log && ok || bad "no log line in shim.log"

# tar of a file with a flipped bit: an I/O error and a failed exit, no
# member padded with zeros.
head -c 1048576 /dev/urandom >big.plain
R cp big.plain p/big.img
"$CS" corrupt p/big.img --offset 700000 --seed 3 >/dev/null
R tar cf out.tar p/big.img 2>err
rc=$?
[ $rc -ne 0 ] && grep -q "Input/output error" err && ok || bad "tar: exit $rc, $(cat err)"
grep -q "shrank\|padding with zeros" err && bad "tar padded the member: $(cat err)" || ok

echo "procs_programs: $pass passed, $fail failed"
[ $fail -eq 0 ]
