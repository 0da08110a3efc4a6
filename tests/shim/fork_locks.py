# Fork while other threads hold engine locks, 200 times: no child may hang
# (the child abandons the parent's engines and reopens its own).  Each child
# is waited for without a deadline of its own (this also runs under ASan,
# where a slow child is not a hung one): a hang is ended by the caller's
# timeout, whose SIGTERM makes this script name the child it waited for.
#
# --quiesce (the ASan run): the workers' calls are kept out of the fork
# instant.  GCC 12's ASan runtime takes no lock of its allocator across
# fork (no fork interceptor, no atfork handler; LLVM added one in 2023):
# a worker inside malloc at the fork leaves the child's first malloc
# waiting forever, whatever the shim does.  So under ASan this checks the
# child's reopening of engines several threads used, and the plain run
# (tests/shim/shim_test.sh) keeps forking while their locks are held.
import os, signal, sys, threading
quiesce = "--quiesce" in sys.argv[1:]
path = [a for a in sys.argv[1:] if a != "--quiesce"][0]
data = os.urandom(1 << 20)
chunk = data[:65536]
with open(path, "wb") as f:
    f.write(data)
fd = os.open(path, os.O_RDWR)
stop = False
gate = threading.Lock()
if quiesce:
    os.register_at_fork(before=gate.acquire, after_in_parent=gate.release,
                        after_in_child=gate.release)
def worker():
    while not stop:
        if quiesce:
            gate.acquire()
        os.pwrite(fd, chunk, 0)   # holds group 0's write lock often
        os.pread(fd, 65536, 0)
        if quiesce:
            gate.release()
ts = [threading.Thread(target=worker) for _ in range(3)]
for t in ts: t.start()
waiting = None
def where(pid):
    # What a hung child waits in, from /proc (a lock wait on the file, a
    # futex, ...): enough to tell a deadlock from starvation next time.
    out = []
    for name in ("wchan", "syscall", "stack"):
        try:
            with open("/proc/%d/%s" % (pid, name)) as f:
                out.append("%s: %s" % (name, f.read().strip().replace("\n", " | ")))
        except OSError as e:
            out.append("%s: %s" % (name, e.strerror))
    return "; ".join(out)
def on_term(sig, frame):
    if waiting:
        info = where(waiting[1])
        os.kill(waiting[1], signal.SIGKILL)
        print("child %d (pid %d) hung: still running when the test was stopped" % waiting,
              flush=True)
        print("  it waited in %s" % info, flush=True)
        print("  the parent waited in %s" % where(os.getpid()), flush=True)
    os._exit(1)
signal.signal(signal.SIGTERM, on_term)
for i in range(200):
    pid = os.fork()
    if pid == 0:
        ok = os.pread(fd, 4096, 0) == data[:4096]
        os._exit(0 if ok else 3)
    waiting = (i, pid)
    _, st = os.waitpid(pid, 0)
    waiting = None
    assert os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0, "child %d failed: status %d" % (i, st)
stop = True
for t in ts: t.join()
print("200 forks, no hang")
