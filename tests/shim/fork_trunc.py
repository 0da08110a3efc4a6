# A forked child opens a file its parent holds open with O_TRUNC: the child
# reopens its own engine (the parent's was abandoned at fork) instead of
# crashing, and the parent reads the child's data, verified.  (The parent's
# cached logical size is not refreshed across processes yet: see README.)
import os, sys
path = sys.argv[1]
with open(path, "wb") as f:
    f.write(b"x" * 10000)
fd = os.open(path, os.O_RDONLY)
pid = os.fork()
if pid == 0:
    t = os.open(path, os.O_WRONLY | os.O_TRUNC)
    os.write(t, b"child")
    os._exit(0)
_, st = os.waitpid(pid, 0)
assert os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0, "child died: status %d" % st
assert os.pread(fd, 5, 0) == b"child", os.pread(fd, 5, 0)
