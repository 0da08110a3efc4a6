#!/usr/bin/env bash
# LevelDB (python3-plyvel) with its directory protected.  LevelDB maps its
# table files shared and read-only, after writing and closing them, and
# compaction deletes them: under the shim those mappings are allowed (no
# writer) and must keep working.
# - two processes of puts, deletes and compactions, a third that reads
#   everything back: the same keys and values as the same runs without the
#   shim; every file `csumshim check` clean;
# - while a process has the tables mapped, opening one for writing fails
#   ETXTBSY, logged (so the mapping path is the one exercised);
# - a bit flipped in a table makes iteration fail with an I/O error, logged.
# Usage: leveldb_test.sh PATH/TO/csumshim
set -u
CS=$(readlink -f "${1:?usage: leveldb_test.sh PATH/TO/csumshim}")
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/mapdb_lib.sh"
mapdb_python plyvel 'Debian python3-plyvel'
mapdb_setup leveldb
cat >"$T/prog.py" <<'EOF'
import hashlib, os, sys, time
import plyvel
role, path = sys.argv[1], sys.argv[2]
if role == "fill":  # small write buffers: many tables, then compactions
    db = plyvel.DB(path, create_if_missing=True, write_buffer_size=256 << 10)
    for r in range(3):
        with db.write_batch() as b:
            for i in range(20000):
                b.put(b"key%06d" % i, b"r%d-%06d-" % (r, i) * 10)
        for i in range(0, 20000, 7):
            db.delete(b"key%06d" % i)
    db.compact_range()
    db.close()
elif role == "more":  # reopen: overwrite, delete, compact again
    db = plyvel.DB(path, write_buffer_size=256 << 10)
    for i in range(0, 20000, 3):
        db.put(b"key%06d" % i, b"more-%06d-" % i * 12)
    for i in range(0, 20000, 11):
        db.delete(b"key%06d" % i)
    db.compact_range()
    db.close()
elif role == "sum":
    db = plyvel.DB(path)
    h, n = hashlib.sha256(), 0
    for k, v in db:
        h.update(k + b"=" + v + b"\n")
        n += 1
    print(n, h.hexdigest())
elif role == "hold":  # read everything (tables mapped), wait for GO
    db = plyvel.DB(path)
    n = sum(1 for _ in db)
    open(sys.argv[3], "w").close()
    while not os.path.exists(sys.argv[4]):
        time.sleep(0.05)
    assert sum(1 for _ in db) == n
    print("held", n)
EOF
P() { "$PY" "$T/prog.py" "$@"; }

P fill "$T/raw" && P more "$T/raw" || { echo "FAIL: raw run"; exit 1; }
ref=$(P sum "$T/raw")
R "$PY" "$T/prog.py" fill "$T/p" >"$T/out" 2>&1 && ok || bad "fill: $(tail -3 "$T/out")"
R "$PY" "$T/prog.py" more "$T/p" >"$T/out" 2>&1 && ok || bad "more: $(tail -3 "$T/out")"
got=$(R "$PY" "$T/prog.py" sum "$T/p" 2>&1)
[ -n "$ref" ] && [ "$got" = "$ref" ] && ok || bad "content: $got, want $ref"
[ "$(R cat "$T/p/LOG" "$T/p/LOG.old" | grep -c 'Compacted')" -gt 0 ] && ok || bad "no compaction in LevelDB's LOG"
[ -s "$T/log" ] && bad "shim log: $(head -3 "$T/log")" || ok
for f in "$T"/p/*; do
	"$CS" check "$f" >"$T/out" 2>&1 || bad "check $f: $(cat "$T/out")"
done
ok

big=$(ls -S "$T"/p/*.ldb | head -1)
R "$PY" "$T/prog.py" hold "$T/p" "$T/mapped" "$T/go" >"$T/h.out" 2>&1 &
h=$!
BG+=("$h")
for _ in $(seq 300); do [ -e "$T/mapped" ] && break; sleep 0.1; done
R dd if=/dev/zero of="$big" bs=1 count=1 conv=notrunc status=none 2>"$T/out" &&
	bad "a table LevelDB maps was opened for writing" || ok
grep -q "Text file busy" "$T/out" && logged "$(basename "$big"): open for writing refused (ETXTBSY)" && ok ||
	bad "ETXTBSY: $(cat "$T/out") / $(cat "$T/log" 2>/dev/null)"
touch "$T/go"
wait $h && grep -q "^held ${ref%% *}\$" "$T/h.out" && ok || bad "holder: $(cat "$T/h.out")"

"$CS" corrupt "$big" --offset $(($(R stat -c %s "$big") / 2)) --seed 4 >/dev/null ||
	bad "corrupt $big"
rm -f "$T/log"
if R "$PY" "$T/prog.py" sum "$T/p" >"$T/out" 2>&1; then
	bad "reading a corrupt table succeeded: $(cat "$T/out")"
else
	grep -q "Input/output error" "$T/out" && ok || bad "corrupt: $(tail -2 "$T/out")"
fi
logged "$(basename "$big"): checksum mismatch in block" && ok || bad "mismatch not logged: $(cat "$T/log")"
echo "leveldb: $pass passed, $fail failed"
[ $fail -eq 0 ]
