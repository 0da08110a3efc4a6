#!/usr/bin/env python3
"""Promises of the README and docs/DESIGN.md that no other test holds to.

Usage: promises_test.py PATH/TO/csumshim

1. Inherited descriptors: one opened on a protected path outside the shim
   (a shell's `> file`) is adopted across exec and written verified; one
   that cannot be opened as a csumshim file (a plain file) is replaced by
   /dev/null with a log line, and the file is left unchanged.
2. on_mismatch = log: a read of a damaged block returns the stored bytes
   (one bit off) instead of EIO, and the mismatch is logged.
3. create = no: a new file and an empty file are refused (EMEDIUMTYPE,
   logged, nothing left behind); an existing csumshim file still works.
4. solo = no: a process writing a file alone never holds the presence
   lock exclusively and starts no watcher thread; with the default
   (solo = yes) it does both.
5. An unclean file: `check` and `info` report it and change no byte;
   `recover` is refused (exit 2) while another process has it open and
   runs once that process has closed it.

Every step waits for its event (a line from the process under test, a
lock seen by the kernel), never for a guessed time; the one time window is
item 4's negative check, 2.5 s of writes during which a writer that could
go solo would have tried twice.
"""
import errno
import fcntl
import hashlib
import os
import struct
import subprocess
import sys
import tempfile
import time

CS = os.path.abspath(sys.argv[1])
F_OFD_GETLK = 36  # linux/fcntl.h
LOCK_PRESENCE = 1 << 62  # CSM_LOCK_BASE + CSM_LOCK_PRESENCE (include/csumshim/backend.h)
failures = passes = 0


def check(cond, what):
    global failures, passes
    if cond:
        passes += 1
    else:
        failures += 1
        print("FAIL:", what, flush=True)


def raw_sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def log_text():
    try:
        with open(LOG) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, errors="replace", **kw)


def shimmed(args, **kw):
    return run([CS, "run", "--config", CONF, "--"] + args, **kw)


def spawn(code, *args):
    """A python process under the shim, talking on stdin/stdout."""
    return subprocess.Popen([CS, "run", "--config", CONF, "--", sys.executable, "-c", code]
                            + list(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)


def presence(path):
    """The presence lock as another process sees it: 'solo' (held
    exclusive), 'shared' (held shared only) or 'free'."""
    fd = os.open(path, os.O_RDONLY)
    try:
        res = []
        for typ in (fcntl.F_RDLCK, fcntl.F_WRLCK):
            fl = struct.pack("hhqqi4x", typ, os.SEEK_SET, LOCK_PRESENCE, 1, 0)
            res.append(struct.unpack("hhqqi4x", fcntl.fcntl(fd, F_OFD_GETLK, fl))[0])
    finally:
        os.close(fd)
    if res[0] != fcntl.F_UNLCK:
        return "solo"
    return "shared" if res[1] != fcntl.F_UNLCK else "free"


def threads(pid):
    return len(os.listdir("/proc/%d/task" % pid))


with tempfile.TemporaryDirectory() as tmp:
    tmp = os.path.realpath(tmp)
    os.chdir(tmp)
    for d in ("p", "l", "n", "q"):
        os.mkdir(d)
    LOG = os.path.join(tmp, "log")
    CONF = os.path.join(tmp, "conf")
    with open(CONF, "w") as f:
        f.write("[global]\nlog = %s\n\n[%s/p/*]\n\n[%s/l/*]\non_mismatch = log\n\n"
                "[%s/n/*]\ncreate = no\n\n[%s/q/*]\nsolo = no\n" % (LOG, tmp, tmp, tmp, tmp))
    data = bytes((i * 7 + i // 4096) & 0xFF for i in range(100000))
    with open("src", "wb") as f:
        f.write(data)

    # ---- 1. inherited descriptors ----
    # The shell opens (and creates) the file outside the shim; cat inherits
    # it as stdout.
    r = run(["sh", "-c", 'exec "$1" run --config "$2" -- cat src > p/new.img', "sh", CS, CONF])
    check(r.returncode == 0, "cat > p/new.img: %s" % r.stderr)
    r = shimmed(["cmp", "src", "p/new.img"])
    check(r.returncode == 0, "an inherited stdout was not written verified: %s" % r.stdout)
    check(os.path.getsize("p/new.img") > len(data), "p/new.img holds no checksums")
    # A plain file inherited read-write as fd 3: replaced by /dev/null.
    with open("p/plain.img", "wb") as f:
        f.write(data)
    code = ("import os, stat\n"
            "st = os.fstat(3)\n"
            "print(stat.S_ISCHR(st.st_mode), st.st_rdev == os.stat('/dev/null').st_rdev)\n"
            "print(repr(os.read(3, 100)))\n"
            "try:\n    os.write(3, b'xyz'); print('written')\n"
            "except OSError as e:\n    print('errno', e.errno)\n")
    r = run(["sh", "-c", 'exec 3<>p/plain.img; exec "$1" run --config "$2" -- "$3" -c "$4"',
             "sh", CS, CONF, sys.executable, code])
    out = r.stdout.split("\n")
    check(r.returncode == 0 and out[0] == "True True" and out[1] == "b''",
          "inherited plain file not replaced by /dev/null: %r %s" % (r.stdout, r.stderr))
    check(raw_sha("p/plain.img") == hashlib.sha256(data).hexdigest(),
          "the refused inherited file was changed")
    check("p/plain.img: inherited descriptor 3 refused" in log_text(),
          "no log line for the refused descriptor")
    print("inherited descriptors: adopted across exec (written verified), a plain one "
          "replaced by /dev/null (%s), logged" % out[2], flush=True)

    # ---- 2. on_mismatch = log ----
    check(shimmed(["cp", "src", "l/f.img"]).returncode == 0, "cp src l/f.img")
    r = run([CS, "corrupt", "l/f.img", "--offset", "50000", "--seed", "3"])
    check(r.returncode == 0, "corrupt: %s" % r.stderr)
    r = subprocess.run([CS, "run", "--config", CONF, "--", "cat", "l/f.img"],
                       capture_output=True)
    got = r.stdout
    diff = [i for i in range(min(len(got), len(data))) if got[i] != data[i]]
    check(r.returncode == 0 and len(got) == len(data),
          "on_mismatch = log: the read failed (%d, %d bytes)" % (r.returncode, len(got)))
    check(len(diff) == 1 and diff[0] // 4096 == 50000 // 4096 and
          bin(got[diff[0]] ^ data[diff[0]]).count("1") == 1,
          "on_mismatch = log: not the stored bytes (differences at %s)" % diff[:5])
    check("l/f.img: checksum mismatch in block 12 " in log_text(),
          "on_mismatch = log: the mismatch was not logged")
    # the same file under the default rule fails
    os.rename("l/f.img", "p/f.img")
    r = shimmed(["cat", "p/f.img"])
    check(r.returncode != 0 and "Input/output error" in r.stderr,
          "on_mismatch = error: %d %s" % (r.returncode, r.stderr))
    print("on_mismatch = log: the damaged block returned as stored (bit %d of byte %d "
          "flipped), logged; EIO under the default rule" %
          ((got[diff[0]] ^ data[diff[0]]).bit_length() - 1 if diff else -1,
           diff[0] if diff else -1), flush=True)

    # ---- 3. create = no ----
    r = shimmed(["sh", "-c", "printf x > n/new.img"])
    check(r.returncode != 0 and "Wrong medium type" in r.stderr,
          "create = no: a new file was made: %d %s" % (r.returncode, r.stderr))
    check(not os.path.exists("n/new.img"), "create = no: the refused file was left behind")
    check("n/new.img: not formatted, and create = no" in log_text(),
          "create = no: the refusal of a new file was not logged")
    open("n/empty.img", "w").close()
    r = shimmed(["sh", "-c", "printf x >> n/empty.img"])
    check(r.returncode != 0 and os.path.getsize("n/empty.img") == 0,
          "create = no: an empty file was formatted (%d)" % r.returncode)
    check(run([CS, "format", "--size", "8192", "n/f.img"]).returncode == 0, "format n/f.img")
    r = shimmed(["dd", "if=src", "of=n/f.img", "bs=4096", "count=3", "conv=notrunc",
                 "status=none"])
    check(r.returncode == 0, "create = no: an existing file refused: %s" % r.stderr)
    r = subprocess.run([CS, "run", "--config", CONF, "--", "head", "-c", "12288", "n/f.img"],
                       capture_output=True)
    check(r.returncode == 0 and r.stdout == data[:12288],
          "create = no: an existing file does not read back")
    print("create = no: a new and an empty file refused (EMEDIUMTYPE, logged, nothing left), "
          "an existing one read and written", flush=True)

    # ---- 4. solo = no ----
    HOLDER = ("import os, select, sys\n"
              "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)\n"
              "v = 0\n"
              "while True:\n"
              "    v += 1\n"
              "    os.pwrite(fd, bytes([v & 255]) * 4096, (v % 8) * 4096)\n"
              "    if v == 1:\n"
              "        print(os.getpid(), flush=True)\n"
              "    if v % 16 == 0 and select.select([sys.stdin], [], [], 0)[0]:\n"
              "        break\n"
              "os.close(fd)\n")
    seen = {}
    for path, solo in (("p/solo.img", True), ("q/solo.img", False)):
        h = spawn(HOLDER, path)
        pid = int(h.stdout.readline())
        states = set()
        if solo:  # the event: it goes solo (at once, or at its next retry)
            while presence(path) != "solo" and h.poll() is None:
                time.sleep(0.002)
            states.add(presence(path))
            nthreads = threads(pid)
        else:  # writers retry going solo every second: 2.5 s of writes
            end = time.monotonic() + 2.5
            while time.monotonic() < end and h.poll() is None:
                states.add(presence(path))
                time.sleep(0.01)
            nthreads = threads(pid)
        h.stdin.write("stop\n")
        h.stdin.close()
        check(h.wait() == 0, "holder of %s exited %d" % (path, h.returncode))
        seen[path] = (states, nthreads)
    st, nt = seen["p/solo.img"]
    check(st == {"solo"} and nt == 2,
          "solo = yes: a writer alone is not solo (presence %s, %d threads)" % (st, nt))
    st, nt = seen["q/solo.img"]
    check(st == {"shared"} and nt == 1,
          "solo = no: presence lock %s, %d threads (want only shared, 1 thread)" % (st, nt))
    print("solo: a writer alone holds the presence lock exclusive with a watcher thread "
          "(%d threads); with solo = no, only shared, %d thread" %
          (seen["p/solo.img"][1], seen["q/solo.img"][1]), flush=True)

    # ---- 5. an unclean file: check, info, recover ----
    r = shimmed([sys.executable, "-c", "import os\n"
                 "fd = os.open('p/u.img', os.O_RDWR | os.O_CREAT, 0o644)\n"
                 "os.pwrite(fd, b'u' * 10000, 0)\n"
                 "os._exit(0)  # with the file open: never closed cleanly\n"])
    check(r.returncode == 0, "writer of p/u.img: %s" % r.stderr)
    before = (raw_sha("p/u.img"), os.stat("p/u.img").st_mtime_ns)
    r = run([CS, "check", "p/u.img"])
    check(r.returncode == 0 and "not closed cleanly" in r.stdout,
          "check of an unclean file: %d %s" % (r.returncode, r.stdout + r.stderr))
    r = run([CS, "info", "p/u.img"])
    check(r.returncode == 0 and "unclean" in r.stdout, "info of an unclean file: %s" % r.stdout)
    r = run([CS, "info", "--json", "p/u.img"])
    check(r.returncode == 0 and '"state":"unclean"' in r.stdout, "info --json: %s" % r.stdout)
    check((raw_sha("p/u.img"), os.stat("p/u.img").st_mtime_ns) == before,
          "check or info changed an unclean file")
    r = run([CS, "dump", "p/u.img", "--group", "0"])
    check(r.returncode == 0 and (raw_sha("p/u.img"), os.stat("p/u.img").st_mtime_ns) == before,
          "dump changed an unclean file")
    # a process holds it open (its open recovers it: it is writable)
    h = spawn("import os, sys\nfd = os.open('p/u.img', os.O_RDONLY)\nprint('open', flush=True)\n"
              "sys.stdin.readline()\nos.close(fd)\n")
    check(h.stdout.readline() == "open\n", "holder of p/u.img did not open it")
    before = (raw_sha("p/u.img"), os.stat("p/u.img").st_mtime_ns)
    r = run([CS, "recover", "p/u.img"])
    check(r.returncode == 2 and r.stderr.count("\n") == 1 and
          "another process has the file open" in r.stderr,
          "recover while another process has the file open: %d %s" %
          (r.returncode, r.stdout + r.stderr))
    check((raw_sha("p/u.img"), os.stat("p/u.img").st_mtime_ns) == before,
          "a refused recover changed the file")
    h.stdin.write("\n")
    h.stdin.close()
    check(h.wait() == 0, "holder exit %d" % h.returncode)
    r = run([CS, "recover", "p/u.img"])
    check(r.returncode == 0, "recover after the holder closed: %d %s" %
          (r.returncode, r.stdout + r.stderr))
    r = run([CS, "info", "--json", "p/u.img"])
    check('"state":"clean"' in r.stdout, "not clean after recover: %s" % r.stdout)
    print("unclean file: check and info report it and change no byte; recover refused "
          "(exit 2) while another process has it open, runs after", flush=True)

print("promises: %d passed, %d failed" % (passes, failures))
sys.exit(1 if failures else 0)
