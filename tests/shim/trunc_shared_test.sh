#!/usr/bin/env bash
# O_TRUNC of a protected file another process has open (a shell's
# "> file" while a server holds it): the file is emptied as it is, keeping
# its identity, so the holder reads the new content and writes on; it is
# never formatted anew under the holder (a new uuid made every block the
# holder then wrote fail, and check report both metadata brothers
# damaged).  Both layouts.  Usage: trunc_shared_test.sh PATH/TO/csumshim
set -u
CS=$(readlink -f "${1:?usage: trunc_shared_test.sh CSUMSHIM}")
T=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-trunc.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 2
mkdir p s
printf '[global]\nlog = %s/log\n\n[%s/p/*]\n\n[%s/s/*]\nlayout = separate\n' "$T" "$T" "$T" >conf
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

for d in p s; do
	f=$d/f.img
	out=$("$CS" run --config conf -- python3 - "$f" 2>&1 <<'PY'
import os, subprocess, sys
f = sys.argv[1]
fd = os.open(f, os.O_RDWR | os.O_CREAT, 0o644)
os.pwrite(fd, b"A" * 10000, 0)
os.fsync(fd)
# Another process truncates and writes it while we hold it open.
subprocess.run(["sh", "-c", 'printf hello > "$1"', "sh", f], check=True)
try:
    print("size", os.fstat(fd).st_size)
    print("read", os.pread(fd, 100, 0))
    os.pwrite(fd, b"B" * 3, 5)
    print("then", os.pread(fd, 100, 0))
except OSError as e:
    print("error", e)
os.close(fd)
PY
)
	want='size 5
read b'"'"'hello'"'"'
then b'"'"'helloBBB'"'"''
	if [ "$out" = "$want" ]; then ok; else bad "$d: the holder saw: $out"; fi
	if "$CS" check "$f" >check.out 2>&1; then ok; else bad "$d: check: $(cat check.out)"; fi
	got=$("$CS" run --config conf -- cat "$f" 2>&1)
	if [ "$got" = helloBBB ]; then ok; else bad "$d: content read back: $got"; fi
done
echo "trunc_shared_test: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
