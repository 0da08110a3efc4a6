#!/usr/bin/env bash
# Writers that never sign off, and a holder that exits without close().
# multiprocessing's fork workers end with os._exit (a crash to the shim:
# they never sign off), so the writer count stays above 0 when the
# parent, the last one out, exits.  Its only thread exiting, it recovers
# (records the workers' groups) as a close would, and the file is clean
# with writers 0; a worker killed with SIGKILL likewise, its group then
# recorded: punched out (brothers and data) it reads EIO, never zeros.
# With another thread still running at exit the file is left unclean for
# the next open (no recovery beside a running thread), which recovers it.
# Usage: exit_writers.sh PATH/TO/csumshim
set -u
CS=$(readlink -f "${1:?usage: exit_writers.sh PATH/TO/csumshim}")
T=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-exitw.XXXXXX")
trap 'rm -rf "$T"' EXIT
mkdir "$T/p" && cd "$T" || exit 2
printf '[global]\nlog = %s/log\n\n[%s/p/*]\n' "$T" "$T" >conf
fail=0
field() { "$CS" info --json "$1" | tr ',' '\n' | sed -n "s/^\"$2\":\"\{0,1\}\([^\"}]*\).*/\1/p"; }
expect() { # FILE STATE WRITERS WHAT
	local s w
	s=$(field "$1" state) w=$(field "$1" writers)
	if [ "$s" = "$2" ] && [ "$w" = "$3" ]; then
		echo "ok: $4: $s, writers $w"
	else
		echo "FAIL: $4: state $s writers $w, want $2 and $3"
		fail=1
	fi
}
run() { "$CS" run --config conf -- python3 - "$@"; }
# FILE N LINGER: N fork workers each write a block and end (os._exit, as
# multiprocessing's do); the parent wrote one too and exits without
# close(), with a thread still sleeping if LINGER is 1.
cat >"$T/workers.py" <<'PY'
import multiprocessing as mp, os, sys, threading, time
P, N, LINGER = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
def work(i):
    fd = os.open(P, os.O_RDWR)
    os.pwrite(fd, bytes([i + 1]) * 4096, i * 4096 * 7)
    os.close(fd)
if __name__ == "__main__":
    mp.set_start_method("fork")
    fd = os.open(P, os.O_RDWR)
    os.pwrite(fd, b"\0", 8 * 4096 * 7)
    ps = [mp.Process(target=work, args=(i,)) for i in range(N)]
    [p.start() for p in ps]
    [p.join() for p in ps]
    assert [p.exitcode for p in ps] == [0] * N
    if LINGER:
        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
    sys.exit(0)
PY
# 1. Fork workers end with os._exit; the parent exits without close().
"$CS" format --size 0 p/a >/dev/null || exit 2
run "$T/p/a" 4 0 <"$T/workers.py" || fail=1
expect p/a clean 0 "fork workers, parent exits"
"$CS" check p/a >/dev/null || { echo "FAIL: check p/a"; fail=1; }
# 2. A worker killed while the parent holds the file; the parent exits.
#    Its group (group 2 of an aligned interleaved file, 976 blocks a
#    group) punched out must then read EIO.
"$CS" format --size 0 p/b >/dev/null || exit 2
run "$T/p/b" <<'PY' || fail=1
import os, signal, sys
P = sys.argv[1]
fd = os.open(P, os.O_RDWR)
os.pwrite(fd, b"A" * 4096, 0)
pid = os.fork()
if pid == 0:
    f2 = os.open(P, os.O_RDWR)
    os.pwrite(f2, b"K" * 4096 * 8, 2 * 976 * 4096)
    os.kill(os.getpid(), signal.SIGKILL)
os.waitpid(pid, 0)
sys.exit(0)
PY
expect p/b clean 0 "killed writer, holder exits"
# group 2: brothers at 20480 (2 blocks), data at 10092544 (976 blocks)
fallocate --punch-hole --keep-size -o 20480 -l 8192 p/b &&
	fallocate --punch-hole --keep-size -o 10092544 -l 3997696 p/b || exit 2
run "$T/p/b" <<'PY' || fail=1
import errno, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    d = os.pread(fd, 4096, 2 * 976 * 4096)
    print("FAIL: the killed writer's punched group read", d[:4], len(d))
    sys.exit(1)
except OSError as e:
    assert e.errno == errno.EIO, e
    print("ok: killed writer's punched group: EIO")
PY
# 3. Another thread still running at exit: left unclean, the next open
#    alone recovers it.
"$CS" format --size 0 p/c >/dev/null || exit 2
run "$T/p/c" 2 1 <"$T/workers.py" || fail=1
expect p/c unclean 2 "a thread left running at exit"
run "$T/p/c" <<'PY' || fail=1
import os, sys
os.close(os.open(sys.argv[1], os.O_RDWR))
PY
expect p/c clean 0 "reopened"
"$CS" check p/c >/dev/null || { echo "FAIL: check p/c"; fail=1; }
# Logged: the recoveries at the last one's exit (case 2's holder after
# the killed writer; case 1's parent after its workers' _exit) and the
# reopen's (case 3), each finding nothing it cannot verify; the punched
# group's loss; nothing else.
closed="/p/[ab]: recovered at the last close: a process that wrote it ended without closing it \(killed, or a fork child's _exit\): [1-9][0-9]* of [0-9]+ groups were dirty, [0-9]+ blocks re-checked, 0 could not be verified, 0 fail verification"
opened="/p/c: recovered after an unclean shutdown: .* 0 could not be verified, 0 fail verification"
if ! grep -E "$closed" log | grep -q /p/b:; then
	echo "FAIL: no line for the recovery at the holder's exit"
	fail=1
fi
if grep -vE "/p/b: group 2: lost|$closed|$opened" log; then
	echo "FAIL: unexpected log lines (above)"
	fail=1
fi
exit $fail
