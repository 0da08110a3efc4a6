# Fork while other threads hold engine locks, 200 times: no child may hang
# (the child abandons the parent's engines and reopens its own).
import os, sys, threading, time
path = sys.argv[1]
data = os.urandom(1 << 20)
with open(path, "wb") as f:
    f.write(data)
fd = os.open(path, os.O_RDWR)
stop = False
def worker():
    while not stop:
        os.pwrite(fd, data[:65536], 0)   # holds group 0's write lock often
        os.pread(fd, 65536, 0)
ts = [threading.Thread(target=worker) for _ in range(3)]
for t in ts: t.start()
for i in range(200):
    pid = os.fork()
    if pid == 0:
        ok = os.pread(fd, 4096, 0) == data[:4096]
        os._exit(0 if ok else 3)
    deadline = time.time() + 10
    while True:
        p, st = os.waitpid(pid, os.WNOHANG)
        if p: break
        if time.time() > deadline:
            os.kill(pid, 9); stop = True; sys.exit("child %d hung" % i)
        time.sleep(0.001)
    assert os.WEXITSTATUS(st) == 0, "child %d failed with %d" % (i, os.WEXITSTATUS(st))
stop = True
for t in ts: t.join()
print("200 forks, no hang")
