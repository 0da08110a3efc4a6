#!/usr/bin/env bash
# close() and fclose() return the error of a failed final sync (README
# "Durability"; issue 20): the last close of a protected file syncs it
# (the engine's close), and a program must learn that its data may not be
# on disk, as fsync() tells it.  failsync.c, preloaded after the shim,
# makes the engine's fsync/fdatasync fail while the file "now" exists.
# Cases: fsync -> EIO; close of the last descriptor -> EIO (logged, the
# descriptor gone all the same); close of a dup while another descriptor
# remains -> 0, the last one -> EIO; fclose -> EOF with EIO.
# Usage: close_sync_error.sh PATH/TO/csumshim
set -u
CS=$(readlink -f "${1:?usage: close_sync_error.sh PATH/TO/csumshim}")
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-closesync.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 2
command -v cc >/dev/null || { echo "FAIL: no C compiler (cc) for failsync.c"; exit 1; }
cc -shared -fPIC -O1 -o failsync.so "$HERE/failsync.c" -ldl || exit 2
mkdir p
printf '[global]\nlog = %s/log\n\n[%s/p/*]\n' "$T" "$T" >conf
LIB=$("$CS" run --config conf -- sh -c 'echo $LD_PRELOAD')
fail=0
under_shim() {
	CSUMSHIM_CONFIG=$T/conf LD_PRELOAD="$LIB $T/failsync.so" CSM_FAIL_SYNC_PATH=/p/ \
		CSM_FAIL_SYNC_WHEN=$T/now python3 - || fail=1
	rm -f now
}
# fsync() itself: the program gets the error
under_shim <<'PY'
import errno, os
fd = os.open("p/a.img", os.O_RDWR | os.O_CREAT, 0o644)
os.pwrite(fd, b"a" * 5000, 0)
open("now", "w").close()          # from here on, the engine's syncs fail
try:
    os.fsync(fd)
    print("FAIL: fsync returned 0 although the sync failed")
    raise SystemExit(1)
except OSError as e:
    assert e.errno == errno.EIO, e
    print("ok: fsync: EIO")
finally:
    os.unlink("now")
os.close(fd)
PY
# close(): the last close of the file syncs; its failure reaches the caller,
# and the descriptor is closed all the same (as the kernel's close does)
under_shim <<'PY'
import errno, os
fd = os.open("p/b.img", os.O_RDWR | os.O_CREAT, 0o644)
os.pwrite(fd, b"b" * 5000, 0)
open("now", "w").close()
try:
    os.close(fd)
    print("FAIL: close returned 0 although its final sync failed")
    raise SystemExit(1)
except OSError as e:
    assert e.errno == errno.EIO, e
    print("ok: close: EIO")
try:
    os.fstat(fd)
    print("FAIL: the descriptor stayed open after close failed")
    raise SystemExit(1)
except OSError as e:
    assert e.errno == errno.EBADF, e
    print("ok: the descriptor is closed")
PY
grep -q "p/b.img: closing: Input/output error" log && echo "ok: the failed close was logged" ||
	{ echo "FAIL: the failed close was not logged"; fail=1; }
# Two descriptors: closing one syncs nothing (0); the last one reports.
under_shim <<'PY'
import errno, os
fd = os.open("p/c.img", os.O_RDWR | os.O_CREAT, 0o644)
fd2 = os.dup(fd)
os.pwrite(fd, b"c" * 9000, 0)
open("now", "w").close()
os.close(fd)                      # not the last: must succeed
print("ok: close of one of two descriptors: 0")
try:
    os.close(fd2)
    print("FAIL: the last close returned 0 although its final sync failed")
    raise SystemExit(1)
except OSError as e:
    assert e.errno == errno.EIO, e
    print("ok: last close of a dup: EIO")
PY
# fclose(): EOF with errno EIO (the shim's stdio stream on the file)
under_shim <<'PY'
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.fwrite.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p]
libc.fflush.argtypes = [ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
fp = libc.fopen(b"p/d.img", b"w")
assert fp, "fopen failed: errno %d" % ctypes.get_errno()
assert libc.fwrite(b"d" * 6000, 1, 6000, fp) == 6000
assert libc.fflush(fp) == 0
open("now", "w").close()
ctypes.set_errno(0)
r = libc.fclose(fp)
if r == 0:
    print("FAIL: fclose returned 0 although its final sync failed")
    raise SystemExit(1)
assert r == -1 and ctypes.get_errno() == errno.EIO, (r, ctypes.get_errno())
print("ok: fclose: EOF, EIO")
PY
grep -q "p/d.img: closing: Input/output error" log && echo "ok: the failed fclose was logged" ||
	{ echo "FAIL: the failed fclose was not logged"; fail=1; }
[ "$fail" = 0 ] && echo "close_sync_error: all passed" || echo "close_sync_error: FAILED"
exit $fail
