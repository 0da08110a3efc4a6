#!/usr/bin/env python3
"""Several processes on one protected file, and writers killed with SIGKILL.

Usage: procs_test.py PATH/TO/csumshim

1. Multi-process stress: 4 writer processes write disjoint blocks that share
   metadata groups (block i belongs to writer i % 4), 2 reader processes
   verify blocks all the while.  Every block a reader sees must be zeros or
   a block some writer wrote there; no read may fail.  Afterwards each block
   holds its writer's last version and `csumshim check` exits 0.
2. kill -9 loop: writers (dd, and a random-block writer) killed at random
   instants until 200 were killed while running.  After each kill every block must read back (under the
   shim) as zeros or a whole block written there; `csumshim check` exits 0
   after every 20 kills and at the end.
3. Size churn: 4 long-lived processes do random 8 KiB page reads, writes,
   appends, ftruncates (shrinking and growing) and fsyncs on one small file
   and on one spanning three groups, and exit with it open, as PostgreSQL's
   processes do with relations VACUUM truncates.  No call may fail, every
   page read must be zeros or a page written there, nothing may be logged
   but recoveries, and no recovery may find a block it cannot verify.
4. Appends: 4 processes append 600 records each with O_APPEND (write, and
   writev of two pieces) at once; every record must be there, whole, once.
5. Solo hand-over: one process writes the file alone (solo: no
   cross-process locks) for 3 s, then idles with it open for 3 s; visitor
   processes open it all the while, write their own block, read every
   block and close.  Every visitor must get in promptly (the holder steps
   aside), see only valid blocks, and leave the holder's blocks intact.

Blocks are self-describing: 4096 bytes = (block number, version) repeated,
so a torn, misplaced or stale-checksum block cannot pass.
"""
import os
import random
import signal
import struct
import subprocess
import sys
import tempfile
import time

BS = 4096
CS = os.path.abspath(sys.argv[1])
failures = 0


def block(n, version):
    return struct.pack("<QQ", n, version) * (BS // 16)


def valid(n, data):
    if data == bytes(BS):
        return True
    blk, _ = struct.unpack_from("<QQ", data)
    return blk == n and data == data[:16] * (BS // 16)


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what, flush=True)


def shim_env(tmp):
    lib = subprocess.run([CS, "run", "--config", conf, "--", "sh", "-c", "echo $LD_PRELOAD"],
                         capture_output=True, text=True, check=True).stdout.strip()
    env = dict(os.environ, CSUMSHIM_CONFIG=conf, LD_PRELOAD=lib)
    return env


WRITER = r"""
import os, random, struct, sys, time
BS = 4096
path, wid, nw, nblocks, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
fd = os.open(path, os.O_RDWR)
mine = [b for b in range(nblocks) if b % nw == wid]
last = {}
r = random.Random(wid)
end = time.time() + seconds
v = 0
while time.time() < end:
    v += 1
    b = r.choice(mine)
    os.pwrite(fd, struct.pack("<QQ", b, v) * (BS // 16), b * BS)
    last[b] = v
    if v % 50 == 0:
        os.fsync(fd)
os.close(fd)
print(" ".join("%d:%d" % kv for kv in sorted(last.items())))
"""

READER = r"""
import os, random, struct, sys, time
BS = 4096
path, nblocks, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
fd = os.open(path, os.O_RDONLY)
r = random.Random()
end = time.time() + seconds
n = bad = 0
while time.time() < end:
    b = r.randrange(nblocks)
    try:
        d = os.pread(fd, BS, b * BS)
    except OSError as e:
        print("read error block %d: %s" % (b, e)); bad += 1; continue
    n += 1
    if d != bytes(BS):
        blk, _ = struct.unpack_from("<QQ", d)
        if blk != b or d != d[:16] * (BS // 16):
            print("bad content in block %d" % b); bad += 1
print("%d %d" % (n, bad))
"""

RANDOM_WRITER = r"""
import os, random, struct, sys
BS = 4096
path, nblocks, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fd = os.open(path, os.O_RDWR)
r = random.Random(seed)
v = seed << 20
sys.stdout.write("ready\n"); sys.stdout.flush()
while True:
    v += 1
    b = r.randrange(nblocks)
    n = r.choice((1, 1, 3, 8))
    n = min(n, nblocks - b)
    os.pwrite(fd, b"".join(struct.pack("<QQ", b + i, v) * (BS // 16) for i in range(n)), b * BS)
"""


CHURN = r"""
import os, random, struct, sys
BS, PAGE = 4096, 8192
path, seed, ops, maxpages = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
fd = os.open(path, os.O_RDWR)
r = random.Random(seed)
bad = 0
def page(p, v):
    return struct.pack("<QQ", p, v) * (PAGE // 16)
def valid(p, d):
    for h in range(0, len(d), BS):  # each 4 KiB half on its own: reads take no lock
        b = d[h:h + BS]
        if b != bytes(len(b)) and (struct.unpack_from("<Q", b)[0] != p or b != b[:16] * (len(b) // 16)):
            return False
    return True
for i in range(ops):
    v = (seed << 32) | i
    op = r.random()
    try:
        if op < 0.35:
            p = r.randrange(maxpages)
            if not valid(p, os.pread(fd, PAGE, p * PAGE)):
                print("seed %d op %d: bad content in page %d" % (seed, i, p)); bad += 1
        elif op < 0.65:
            p = r.randrange(maxpages)
            os.pwrite(fd, page(p, v), p * PAGE)
        elif op < 0.80:
            p = os.fstat(fd).st_size // PAGE
            if p < maxpages:
                os.pwrite(fd, page(p, v), p * PAGE)
        elif op < 0.93:
            os.ftruncate(fd, r.randrange(maxpages + 1) * PAGE)
        else:
            os.fsync(fd)
    except OSError as e:
        print("seed %d op %d: %s" % (seed, i, e)); bad += 1
print("bad %d" % bad, flush=True)
os._exit(0)  # with the file open
"""


APPENDER = r"""
import os, sys
path, wid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
for i in range(n):
    rec = ("%d:%06d:" % (wid, i)).encode().ljust(99, b"abcdefgh"[wid:wid + 1]) + b"\n"
    if i % 2:
        os.writev(fd, [rec[:37], rec[37:]])
    else:
        os.write(fd, rec)
os.close(fd)
"""


HOLDER = r"""
import os, struct, sys, time
BS = 4096
path, busy, idle = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
fd = os.open(path, os.O_RDWR)
v = 0
end = time.time() + busy
while time.time() < end:
    v += 1
    b = v % 64
    os.pwrite(fd, struct.pack("<QQ", b, v) * (BS // 16), b * BS)
sys.stdout.write("idle %d\n" % v); sys.stdout.flush()
time.sleep(idle)
os.close(fd)
"""

VISITOR = r"""
import os, struct, sys, time
BS = 4096
path, k = sys.argv[1], int(sys.argv[2])
t = time.monotonic()
fd = os.open(path, os.O_RDWR)
wait = time.monotonic() - t
b = 64 + k
os.pwrite(fd, struct.pack("<QQ", b, 1) * (BS // 16), b * BS)
bad = 0
for n in range(128):
    d = os.pread(fd, BS, n * BS)
    if d != bytes(BS):
        blk, _ = struct.unpack_from("<QQ", d)
        if blk != n or d != d[:16] * (BS // 16):
            bad += 1
os.close(fd)
print("%.4f %d" % (wait, bad))
"""


def read_all(env, path, nblocks):
    code = ("import os,sys\nfd=os.open(sys.argv[1],os.O_RDONLY)\n"
            "sys.stdout.buffer.write(os.pread(fd,%d,0))\n" % (nblocks * BS))
    p = subprocess.run([sys.executable, "-c", code, path], env=env, capture_output=True)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def csm_check(path):
    p = subprocess.run([CS, "check", path], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


with tempfile.TemporaryDirectory() as tmp:
    tmp = os.path.realpath(tmp)
    os.mkdir(os.path.join(tmp, "p"))
    conf = os.path.join(tmp, "conf")
    with open(conf, "w") as f:
        f.write("[global]\nlog = %s/log\n\n[%s/p/*]\n" % (tmp, tmp))
    env = shim_env(tmp)

    # ---- 1. multi-process stress ----
    nblocks = 2 * 976 + 100  # three groups
    path = os.path.join(tmp, "p", "mp.img")
    subprocess.run([CS, "format", "--size", str(nblocks * BS), path], check=True,
                   stdout=subprocess.DEVNULL)
    seconds = 8.0
    ws = [subprocess.Popen([sys.executable, "-c", WRITER, path, str(i), "4", str(nblocks),
                            str(seconds)], env=env, stdout=subprocess.PIPE, text=True)
          for i in range(4)]
    rs = [subprocess.Popen([sys.executable, "-c", READER, path, str(nblocks), str(seconds)],
                           env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    last = {}
    for w in ws:
        out, _ = w.communicate()
        check(w.returncode == 0, "writer exit %d" % w.returncode)
        for kv in out.split():
            b, v = kv.split(":")
            last[int(b)] = int(v)
    reads = 0
    for r in rs:
        out, _ = r.communicate()
        lines = out.strip().splitlines()
        n, bad = map(int, lines[-1].split())
        reads += n
        check(r.returncode == 0 and bad == 0, "reader saw %d bad blocks: %s" % (bad, lines[:5]))
    rc, data, err = read_all(env, path, nblocks)
    check(rc == 0, "final read failed: " + err)
    wrong = [b for b in range(nblocks)
             if data[b * BS:(b + 1) * BS] != (block(b, last[b]) if b in last else bytes(BS))]
    check(not wrong, "blocks without their writer's last version: %s" % wrong[:10])
    rc, out = csm_check(path)
    check(rc == 0, "csumshim check after the stress: %d %s" % (rc, out))
    print("multi-process: 4 writers (%d blocks written) and 2 readers (%d verified reads) "
          "for %.0f s, final content and check clean" % (len(last), reads, seconds), flush=True)

    # ---- 2. kill -9 loop ----
    nblocks = 976 + 200
    path = os.path.join(tmp, "p", "kill.img")
    subprocess.run([CS, "format", "--size", str(nblocks * BS), path], check=True,
                   stdout=subprocess.DEVNULL)
    src = os.path.join(tmp, "src.bin")  # dd's input: versions of blocks 0..nblocks-1
    rnd = random.Random(99)
    kills = dd_kills = 0
    i = -1
    while kills < 200 and i < 400:
        i += 1
        if i % 2 == 0:
            with open(src, "wb") as f:
                for b in range(nblocks):
                    f.write(block(b, 1000000 + i))
            cmd = ["dd", "if=" + src, "of=" + path, "bs=%dk" % rnd.choice((4, 12, 64)),
                   "conv=notrunc", "status=none"]
            p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            time.sleep(rnd.uniform(0.0, 0.03))
        else:
            p = subprocess.Popen([sys.executable, "-c", RANDOM_WRITER, path, str(nblocks),
                                  str(i)], env=env, stdout=subprocess.PIPE, text=True)
            p.stdout.readline()
            time.sleep(rnd.uniform(0.0, 0.05))
        p.send_signal(signal.SIGKILL)
        p.wait()
        if p.returncode == -signal.SIGKILL:
            kills += 1
            dd_kills += i % 2 == 0
        rc, data, err = read_all(env, path, nblocks)
        check(rc == 0 and len(data) == nblocks * BS,
              "kill %d: reading back failed (%d): %s" % (i, rc, err[-300:]))
        bad = [b for b in range(nblocks) if not valid(b, data[b * BS:(b + 1) * BS])]
        check(not bad, "kill %d: blocks neither old nor new: %s" % (i, bad[:10]))
        if i % 20 == 19:
            rc, out = csm_check(path)
            check(rc == 0, "kill %d: csumshim check: %d %s" % (i, rc, out))
        if failures:
            break
    rc, out = csm_check(path)
    check(rc == 0, "check after the kill loop: %d %s" % (rc, out))
    print("kill -9 loop: %d writers killed while running (%d dd), every block old or new "
          "after each, check clean" % (kills, dd_kills), flush=True)
    check(kills >= 200, "only %d writers were still running when killed" % kills)

    # ---- 3. size churn ----
    log = os.path.join(tmp, "log")
    logged = os.path.getsize(log) if os.path.exists(log) else 0
    rounds = 0
    for maxpages, nrounds in ((4, 8), (1100, 3)):
        path = os.path.join(tmp, "p", "churn%d.img" % maxpages)
        subprocess.run([CS, "format", "--size", "16K", path], check=True,
                       stdout=subprocess.DEVNULL)
        for rnd_no in range(nrounds):
            ps = [subprocess.Popen([sys.executable, "-c", CHURN, path,
                                    str(maxpages * 100 + rnd_no * 10 + k), "2000", str(maxpages)],
                                   env=env, stdout=subprocess.PIPE, text=True) for k in range(4)]
            for p in ps:
                out, _ = p.communicate()
                check(p.returncode == 0 and out.strip().endswith("bad 0"),
                      "churn (%d pages): %s" % (maxpages, out.strip().splitlines()[:5]))
            rounds += 1
        p = subprocess.run([CS, "recover", path], capture_output=True, text=True)
        check(p.returncode == 0, "recover after the churn: %d %s" % (p.returncode, p.stdout + p.stderr))
        rc, out = csm_check(path)
        check(rc == 0, "check after the churn: %d %s" % (rc, out))
    with open(log) as f:
        f.seek(logged)
        lines = f.read().splitlines()
    other = [ln for ln in lines if "recovered after an unclean shutdown" not in ln]
    check(not other, "churn logged: %s" % other[:5])
    unverified = [ln for ln in lines if " 0 could not be verified" not in ln and "recovered" in ln]
    check(not unverified, "a recovery after the churn found unverified blocks: %s" % unverified[:3])
    print("size churn: %d rounds of 4 processes x 2000 reads/writes/appends/truncates/fsyncs, "
          "%d recoveries, nothing else logged" % (rounds, len(lines) - len(other)), flush=True)

    # ---- 4. appends ----
    path = os.path.join(tmp, "p", "append.log")
    subprocess.run([CS, "format", "--size", "0", path], check=True, stdout=subprocess.DEVNULL)
    ps = [subprocess.Popen([sys.executable, "-c", APPENDER, path, str(k), "600"], env=env)
          for k in range(4)]
    for p in ps:
        check(p.wait() == 0, "appender exit %d" % p.returncode)
    p = subprocess.run([sys.executable, "-c", "import sys; sys.stdout.buffer.write(open(sys.argv[1], 'rb').read())",
                        path], env=env, capture_output=True)
    recs = p.stdout.split(b"\n")
    check(p.returncode == 0 and recs[-1] == b"", "reading the appended file: %s" % p.stderr[-300:])
    recs = recs[:-1]
    want = sorted(("%d:%06d:" % (k, i)).encode().ljust(99, b"abcdefgh"[k:k + 1])
                  for k in range(4) for i in range(600))
    check(sorted(recs) == want, "appended records: %d, %d whole and expected" %
          (len(recs), len(set(recs) & set(want))))
    print("appends: 4 processes x 600 O_APPEND records (write and writev), all whole, once",
          flush=True)

    # ---- 5. solo hand-over ----
    path = os.path.join(tmp, "p", "solo.img")
    subprocess.run([CS, "format", "--size", "512K", path], check=True, stdout=subprocess.DEVNULL)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, path, "3", "3"], env=env,
                              stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)  # the holder is writing, solo
    waits = {"busy": [], "idle": []}
    phase = "busy"
    for k in range(60):
        if phase == "busy" and holder.stdout.readable() and k >= 20:
            line = holder.stdout.readline()  # blocks until the holder idles
            check(line.startswith("idle"), "holder: %r" % line)
            phase = "idle"
        if phase == "idle" and len(waits["idle"]) >= 8:
            break
        try:
            p = subprocess.run([sys.executable, "-c", VISITOR, path, str(k)], env=env,
                               capture_output=True, text=True, timeout=20)
        except subprocess.TimeoutExpired:
            check(False, "visitor %d did not get in within 20 s (%s holder)" % (k, phase))
            break
        out = p.stdout.split()
        check(p.returncode == 0 and len(out) == 2 and out[1] == "0",
              "visitor %d (%s holder): %d %s %s" % (k, phase, p.returncode, p.stdout, p.stderr[-300:]))
        if len(out) == 2:
            waits[phase].append(float(out[0]))
    check(holder.wait(timeout=30) == 0, "holder exit %d" % holder.returncode)
    rc, data, err = read_all(env, path, 128)
    check(rc == 0 and all(valid(n, data[n * BS:(n + 1) * BS]) for n in range(128)),
          "content after the hand-over: %d %s" % (rc, err[-300:]))
    check(all(data[n * BS:(n + 1) * BS] == block(n, 1) for n in range(64, 64 + 20)),
          "a visitor's block was lost")
    rc, out = csm_check(path)
    check(rc == 0, "check after the hand-over: %d %s" % (rc, out))
    print("solo hand-over: %d visitors while the holder wrote (open waited at most %.0f ms), "
          "%d while it idled with the file open (at most %.0f ms), content exact" %
          (len(waits["busy"]), 1000 * max(waits["busy"] or [0]), len(waits["idle"]),
           1000 * max(waits["idle"] or [0])), flush=True)
    check(len(waits["busy"]) >= 20 and len(waits["idle"]) >= 8, "too few visits: %s" % waits)

print("%s" % ("5 passed, 0 failed" if not failures else "%d failures" % failures))
sys.exit(1 if failures else 0)
