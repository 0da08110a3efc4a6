# SQLite in WAL mode under a plain directory glob, two processes: one
# writer, one reader loop, for CSM_WAL_SECONDS (default 30).  Then
# "pragma integrity_check" must say ok and every file of the database must
# check clean.  Run under the shim by sqlite_wal.sh; role "writer"/"reader"
# are the two processes.
import os, sqlite3, sys, time

def connect(path):
    c = sqlite3.connect(path, timeout=30, isolation_level=None)
    c.execute("pragma busy_timeout=30000")
    return c

def writer(path, seconds):
    c = connect(path)
    end = time.time() + seconds
    n = 0
    while time.time() < end:
        c.execute("begin immediate")
        for _ in range(20):
            n += 1
            c.execute("insert into t(k, v) values(?, ?)", (n, os.urandom(300).hex()))
        c.execute("update total set n = ?, s = (select sum(k) from t)", (n,))
        c.execute("commit")
        if n % 2000 == 0:
            c.execute("pragma wal_checkpoint(passive)")
    c.close()
    print("writer: %d rows" % n)

def reader(path, seconds):
    c = connect(path)
    end = time.time() + seconds
    reads = last = 0
    while time.time() < end:
        c.execute("begin")
        n, s = c.execute("select n, s from total").fetchone()
        cnt, ssum = c.execute("select count(*), coalesce(sum(k), 0) from t").fetchone()
        c.execute("commit")
        assert cnt == n and ssum == s, "reader saw %r against %r" % ((cnt, ssum), (n, s))
        assert n >= last, "went back from %d to %d" % (last, n)
        last = n
        reads += 1
    c.close()
    print("reader: %d consistent reads, last %d rows" % (reads, last))

def setup(path):
    c = connect(path)
    assert c.execute("pragma journal_mode=wal").fetchone()[0] == "wal"
    c.execute("create table t(k integer primary key, v text)")
    c.execute("create table total(n, s)")
    c.execute("insert into total values(0, 0)")
    c.close()

def final(path):
    c = connect(path)
    r = c.execute("pragma integrity_check").fetchall()
    assert r == [("ok",)], r
    n, = c.execute("select n from total").fetchone()
    assert n == c.execute("select count(*) from t").fetchone()[0]
    assert n > 0
    c.close()
    print("integrity_check ok, %d rows" % n)

role, path = sys.argv[1], sys.argv[2]
secs = float(os.environ.get("CSM_WAL_SECONDS", "30"))
{"setup": lambda: setup(path), "writer": lambda: writer(path, secs),
 "reader": lambda: reader(path, secs), "final": lambda: final(path)}[role]()
