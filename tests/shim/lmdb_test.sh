#!/usr/bin/env bash
# LMDB under the shim, with its directory protected.  LMDB reads through a
# shared mapping of data.mdb and writes it with pwrite, so under the shim it
# must be read-only or refused, never stale:
# - a writer (mdb_load, python3-lmdb) fails at open, loudly: ENODEV for
#   data.mdb's mapping (a writer holds it open), or for lock.mdb's shared
#   writable mapping when lock.mdb is protected too (the default);
# - a database made elsewhere and imported reads back byte for byte
#   (mdb_dump, mdb_stat, python3-lmdb), `csumshim check` clean;
# - a reader process beside a writer: the mapping first makes every open
#   for writing fail ETXTBSY (LMDB says "Text file busy"); a writer first
#   makes the mapping fail ENODEV;
# - a bit flipped in a page makes mdb_dump fail with an I/O error, logged.
# Usage: lmdb_test.sh PATH/TO/csumshim
set -u
CS=$(readlink -f "${1:?usage: lmdb_test.sh PATH/TO/csumshim}")
for c in mdb_dump mdb_load mdb_stat; do
	command -v "$c" >/dev/null || { echo "SKIP: $c not installed (Debian lmdb-utils)"; exit 77; }
done
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/mapdb_lib.sh"
mapdb_python lmdb 'Debian python3-lmdb'
mapdb_setup lmdb
# conf: everything in p/ but LMDB's reader table (lock.mdb: no data, like
# SQLite's -shm); conf.all: all of p/, the default a user gets.
printf '[global]\nlog = %s/log\n\n[%s/p/*]\nexclude = %s/p/lock.mdb\n' "$T" "$T" "$T" >"$T/conf"
printf '[global]\nlog = %s/log\n\n[%s/p/*]\n' "$T" "$T" >"$T/conf.all"
wait_for() { for _ in $(seq 300); do [ -e "$1" ] && return 0; sleep 0.1; done; return 1; }

# The reference: 3000 keys in 30 transactions, made without the shim.
"$PY" - "$T/raw" <<'EOF' || { echo "FAIL: raw database"; exit 1; }
import lmdb, sys
env = lmdb.open(sys.argv[1], map_size=1 << 26)
for b in range(30):
    with env.begin(write=True) as t:
        for i in range(100):
            k = b * 100 + i
            t.put(b"key%05d" % k, b"val%05d-" % k * 20)
EOF
mdb_dump "$T/raw" >"$T/ref.dump" || { echo "FAIL: mdb_dump raw"; exit 1; }
[ "$(grep -c '^ 6b6579' "$T/ref.dump")" = 3000 ] || { echo "FAIL: reference has not 3000 keys"; exit 1; }

# 1. Writers fail at open, loudly.
if R mdb_load -f "$T/ref.dump" "$T/p" >"$T/out" 2>&1; then
	bad "mdb_load under the shim succeeded"
else
	grep -q "No such device" "$T/out" && logged "p/data.mdb: shared mmap refused (ENODEV)" && ok ||
		bad "mdb_load: refusal not reported: $(cat "$T/out") / $(cat "$T/log")"
fi
rm -rf "$T/p"/* "$T/log"
if "$CS" run --config "$T/conf.all" -- "$PY" -c '
import lmdb, sys
env = lmdb.open(sys.argv[1], map_size=1 << 24)
with env.begin(write=True) as t:
    t.put(b"k", b"v")' "$T/p" >"$T/out" 2>&1; then
	bad "python3-lmdb writer under the shim succeeded"
else
	grep -q "No such device" "$T/out" && logged "p/lock.mdb: shared writable mmap refused" && ok ||
		bad "python3-lmdb writer: refusal not reported: $(cat "$T/out") / $(cat "$T/log")"
fi
rm -rf "$T/p"/* "$T/log"

# 2. An imported database reads back exactly.
"$CS" import "$T/raw/data.mdb" "$T/p/data.mdb" >/dev/null || { echo "FAIL: import"; exit 1; }
R mdb_dump "$T/p" >"$T/p.dump" 2>"$T/out" && cmp -s "$T/ref.dump" "$T/p.dump" && ok ||
	bad "mdb_dump under the shim differs from the raw dump: $(cat "$T/out")"
R mdb_stat "$T/p" 2>&1 | grep -q "Entries: 3000" && ok || bad "mdb_stat: not 3000 entries"
SUM='
import hashlib, lmdb, sys
env = lmdb.open(sys.argv[1], readonly=True, lock=False)
h = hashlib.sha256()
with env.begin() as t:
    for k, v in t.cursor():
        h.update(k + b"=" + v + b"\n")
print(h.hexdigest())'
want=$("$PY" -c "$SUM" "$T/raw")
got=$(R "$PY" -c "$SUM" "$T/p")
[ -n "$want" ] && [ "$got" = "$want" ] && ok || bad "python3-lmdb read: $got, want $want"

# 3. A reader process beside a writer.
# Reader first: while it holds its mapping, a writer cannot open data.mdb.
R "$PY" -c '
import lmdb, os, sys, time
env = lmdb.open(sys.argv[1], readonly=True)
t = env.begin()
n = t.stat()["entries"]
open(sys.argv[2], "w").write(str(n))
while not os.path.exists(sys.argv[3]):
    time.sleep(0.05)
print(sum(1 for _ in t.cursor()))' "$T/p" "$T/mapped" "$T/go" >"$T/reader.out" 2>&1 &
BG+=("$!")
r=$!
wait_for "$T/mapped" || bad "reader did not map"
if R "$PY" -c '
import lmdb, sys
env = lmdb.open(sys.argv[1])
with env.begin(write=True) as t:
    t.put(b"key99999", b"new")' "$T/p" >"$T/out" 2>&1; then
	bad "an LMDB writer opened data.mdb while a reader maps it"
else
	grep -q "Text file busy" "$T/out" && ok || bad "writer beside a reader: $(cat "$T/out")"
fi
R dd if=/dev/zero of="$T/p/data.mdb" bs=1 count=1 conv=notrunc status=none 2>"$T/out" &&
	bad "dd opened data.mdb for writing while a reader maps it" || ok
touch "$T/go"
wait $r && [ "$(cat "$T/reader.out")" = 3000 ] && ok || bad "reader: $(cat "$T/reader.out")"
logged "p/data.mdb: open for writing refused (ETXTBSY)" && ok || bad "ETXTBSY not logged"
# Writer first: while a process has data.mdb open for writing, a reader's
# mapping is refused.
rm -f "$T/go" "$T/log"
R "$PY" -c '
import os, sys, time
f = open(sys.argv[1], "r+b")
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.05)' "$T/p/data.mdb" "$T/writing" "$T/go" &
BG+=("$!")
w=$!
wait_for "$T/writing" || bad "writer did not open"
if R mdb_dump "$T/p" >/dev/null 2>"$T/out"; then
	bad "mdb_dump mapped data.mdb while another process has it open for writing"
else
	grep -q "No such device" "$T/out" && logged "p/data.mdb: shared mmap refused (ENODEV)" && ok ||
		bad "reader beside a writer: $(cat "$T/out") / $(cat "$T/log" 2>/dev/null)"
fi
touch "$T/go"
wait $w || bad "writer process"
R mdb_dump "$T/p" 2>/dev/null | cmp -s - "$T/ref.dump" && ok || bad "content changed"
"$CS" check "$T/p/data.mdb" >"$T/out" 2>&1 && ok || bad "check data.mdb: $(cat "$T/out")"

# 4. A flipped bit in a page: an I/O error, logged, never other data.
"$CS" corrupt "$T/p/data.mdb" --offset $((40 * 4096 + 100)) --seed 1 >/dev/null || bad "corrupt"
rm -f "$T/log"
if R mdb_dump "$T/p" >/dev/null 2>"$T/out"; then
	bad "mdb_dump of a corrupt database succeeded"
else
	grep -q "Input/output error" "$T/out" && ok || bad "corrupt: $(cat "$T/out")"
fi
logged "p/data.mdb: checksum mismatch in block 40 " && ok || bad "mismatch not logged: $(cat "$T/log")"
echo "lmdb: $pass passed, $fail failed"
[ $fail -eq 0 ]
