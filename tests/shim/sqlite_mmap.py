# SQLite with "pragma mmap_size", run by sqlite_mmap_test.sh (under the shim
# or, for the reference, without it).  Roles:
#   writer DB MODE CTL   30 transactions of 100 rows each, journal_mode MODE;
#                        after each commit, its own connection and a second,
#                        read-only one in the same process must see every
#                        row, then it waits for the reader's "ack" in CTL
#   reader DB CTL        a second process, read-only, mmap_size set: after
#                        each commit it must see exactly the committed rows
#   holder DB FLAG GO    read-only with mmap_size: reads (so SQLite maps the
#                        file), creates FLAG, keeps the connection open until
#                        GO exists, reads again
#   tryw DB              one insert (expected to fail while a holder maps)
#   sums DB              prints count, sum(k), sum(length(v)), a digest
# Every connection asks for a 256 MiB mapping.
import hashlib, os, sqlite3, sys, time

ROWS, BATCHES = 100, 30
MMAP = 256 << 20


def connect(path, ro=False):
    uri = "file:%s%s" % (path, "?mode=ro" if ro else "")
    c = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)
    c.execute("pragma busy_timeout=30000")
    c.execute("pragma mmap_size=%d" % MMAP)
    return c


def counts(c):
    return c.execute("select count(*), coalesce(sum(k), 0) from t").fetchone()


def want(i):
    n = i * ROWS
    return (n, n * (n + 1) // 2)


def wait_for(path, what):
    end = time.time() + 60
    while not os.path.exists(path):
        if time.time() > end:
            sys.exit("timed out waiting for " + what)
        time.sleep(0.01)


def writer(path, mode, ctl):
    c = connect(path)
    got = c.execute("pragma journal_mode=%s" % mode).fetchone()[0]
    assert got == mode, "journal_mode %s, wanted %s" % (got, mode)
    c.execute("create table if not exists t(k integer primary key, v text)")
    c2 = connect(path, ro=True)
    for i in range(1, BATCHES + 1):
        c.execute("begin immediate")
        for k in range((i - 1) * ROWS + 1, i * ROWS + 1):
            c.execute("insert into t values(?, ?)", (k, "%0200d" % k))
        c.execute("commit")
        assert counts(c) == want(i), "writer sees %r after commit %d" % (counts(c), i)
        got = counts(c2)
        assert got == want(i), "a second connection sees %r after commit %d" % (got, i)
        if ctl != "-":
            open(os.path.join(ctl, "commit.%d" % i), "w").close()
            wait_for(os.path.join(ctl, "ack.%d" % i), "the reader's ack %d" % i)
    if mode == "wal":
        c.execute("pragma wal_checkpoint(truncate)")
    c2.close()
    c.close()
    print("writer: %d rows" % (BATCHES * ROWS))


def reader(path, ctl):
    c = None
    for i in range(1, BATCHES + 1):
        wait_for(os.path.join(ctl, "commit.%d" % i), "commit %d" % i)
        if c is None:
            c = connect(path, ro=True)
        got = counts(c)
        assert got == want(i), "reader sees %r after commit %d, wanted %r" % (got, i, want(i))
        open(os.path.join(ctl, "ack.%d" % i), "w").close()
    c.close()
    print("reader: %d commits seen" % BATCHES)


def holder(path, flag, go):
    c = connect(path, ro=True)
    first = counts(c)
    open(flag, "w").close()
    wait_for(go, "go")
    assert counts(c) == first, "holder saw %r, then %r" % (first, counts(c))
    c.close()
    print("holder: %d rows" % first[0])


def tryw(path):
    c = connect(path)
    c.execute("insert into t values(?, ?)", (10 ** 9, "late"))
    c.close()


def sums(path):
    c = connect(path, ro=True)
    h = hashlib.sha256()
    for k, v in c.execute("select k, v from t order by k"):
        h.update(b"%d=%s\n" % (k, v.encode()))
    n, s = counts(c)
    print(n, s, c.execute("select sum(length(v)) from t").fetchone()[0], h.hexdigest())
    c.close()


if __name__ == "__main__":
    role, args = sys.argv[1], sys.argv[2:]
    {"writer": writer, "reader": reader, "holder": holder, "tryw": tryw, "sums": sums}[role](*args)
