#!/usr/bin/env bash
# SQLite under random stored bit flips: a database of 20,000 known rows is
# written while 10 % of the blocks written to the database file are stored
# with a flipped bit, then queried 400 times while 3 % of the blocks read
# come back with one more (seeded, so the run is reproducible).  Every
# query must return the right answer or an I/O error, never a wrong one;
# and some of each must happen (else the harness proved nothing).
# Usage: examples/fault-sqlite.sh [PATH/TO/csumshim]
set -uo pipefail
CS=$(readlink -f "${1:-build/csumshim}")
python3 -c 'import sqlite3' 2>/dev/null || { echo "SKIP: python3 has no sqlite3 module"; exit 77; }
D=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-fsqlite.XXXXXX")
trap 'rm -rf "$D"' EXIT
cd "$D" || exit 1
printf '[global]\nlog = %s/log\n[%s/db/*]\nlayout = separate\n[faults]\ncontrol = yes\n' "$D" "$D" >conf
mkdir db
run() { "$CS" run --config conf -- "$@"; }
"$CS" fault add db/test.db flip probability=10% seed=${SEED:-1} path="$D/db/test.db" >/dev/null
run python3 -c '
import sqlite3
c = sqlite3.connect("db/test.db")
c.execute("create table t (id integer primary key, v text)")
c.executemany("insert into t values (?, ?)", ((i, "%08x" % (i * 2654435761 % 2**32)) for i in range(20000)))
c.commit()' || { echo "FAIL: building the database"; exit 1; }
"$CS" fault add db/test.db flip op=read probability=3% seed=${SEED:-1}
run python3 -c '
import random, sqlite3, sys
rng = random.Random(1)
right = errors = wrong = 0
for q in range(400):
    i = rng.randrange(20000)
    try:
        c = sqlite3.connect("file:db/test.db?mode=ro", uri=True)
        got = c.execute("select v from t where id = ?", (i,)).fetchone()
        c.close()
    except sqlite3.DatabaseError as e:
        errors += 1
        continue
    if got == ("%08x" % (i * 2654435761 % 2**32),):
        right += 1
    else:
        wrong += 1
        print("WRONG answer for id", i, got)
print("right %d, I/O errors %d, wrong %d" % (right, errors, wrong))
sys.exit(0 if wrong == 0 and right > 0 and errors > 0 else 1)'
rc=$?
"$CS" fault list db/test.db
echo "injected: $(grep -c 'injected: bit flip' log) bit flips; log lines for mismatches: $(grep -c 'checksum mismatch' log)"
exit $rc
