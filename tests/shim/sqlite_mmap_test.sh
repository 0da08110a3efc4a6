#!/usr/bin/env bash
# SQLite with "pragma mmap_size" (256 MiB) and its directory protected, in
# rollback (delete) and WAL mode (sqlite_mmap.py):
# - a writer process (with a second, read-only connection of its own) and a
#   read-only reader process in lock step: after every commit all three
#   connections see exactly the committed rows (a stale mapping would show
#   the rows at open); SQLite's mapping of a file open for writing is
#   refused (ENODEV, logged) and it reads with read() instead;
# - the result equals a run without the shim (every row, a digest), sqlite3's
#   integrity_check says ok, `csumshim check` is clean;
# - a read-only connection that maps the database (no writer: allowed) keeps
#   every writer out: the writer's open fails ETXTBSY, logged, and SQLite
#   refuses the write ("readonly database"); the holder's reads are unchanged;
# - a bit flipped in a page makes a query fail with an I/O error, logged.
# Usage: sqlite_mmap_test.sh PATH/TO/csumshim
set -u
CS=$(readlink -f "${1:?usage: sqlite_mmap_test.sh PATH/TO/csumshim}")
HERE=$(cd "$(dirname "$0")" && pwd)
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 not installed"; exit 77; }
. "$HERE/mapdb_lib.sh"
mapdb_python sqlite3
mapdb_setup sqlmap
M() { "$PY" "$HERE/sqlite_mmap.py" "$@"; }
wait_for() { for _ in $(seq 300); do [ -e "$1" ] && return 0; sleep 0.1; done; return 1; }

# The reference, without the shim.
M writer "$T/raw/t.db" delete - >/dev/null || { echo "FAIL: raw writer"; exit 1; }
ref=$(M sums "$T/raw/t.db")
case $ref in "3000 4501500 600000 "*) ;; *) echo "FAIL: raw reference: $ref"; exit 1 ;; esac

for mode in delete wal; do
	db=$T/p/$mode.db
	rm -rf "$T/ctl" "$T/log"
	mkdir "$T/ctl"
	R "$PY" "$HERE/sqlite_mmap.py" writer "$db" "$mode" "$T/ctl" >"$T/w.out" 2>&1 &
	w=$!
	BG+=("$w")
	R "$PY" "$HERE/sqlite_mmap.py" reader "$db" "$T/ctl" >"$T/r.out" 2>&1 &
	r=$!
	BG+=("$r")
	wait $w && ok || bad "$mode: writer: $(tail -3 "$T/w.out")"
	wait $r && ok || bad "$mode: reader beside the writer: $(tail -3 "$T/r.out")"
	logged "p/$mode.db: shared mmap refused (ENODEV)" && ok ||
		bad "$mode: the mapping of a database open for writing was not refused"
	got=$(R "$PY" "$HERE/sqlite_mmap.py" sums "$db" 2>&1)
	[ "$got" = "$ref" ] && ok || bad "$mode: content: $got, want $ref"
	res=$(R sqlite3 "$db" 'pragma mmap_size=268435456; pragma integrity_check;' 2>&1 | tail -1)
	[ "$res" = ok ] && ok || bad "$mode: integrity_check: $res"
	for f in "$T"/p/"$mode".db*; do
		case $f in *-shm) continue ;; esac
		"$CS" check "$f" >"$T/out" 2>&1 && ok || bad "$mode: check $f: $(cat "$T/out")"
	done

	# A read-only connection that maps the database keeps writers out.
	rm -f "$T/mapped" "$T/go" "$T/log"
	R "$PY" "$HERE/sqlite_mmap.py" holder "$db" "$T/mapped" "$T/go" >"$T/h.out" 2>&1 &
	h=$!
	BG+=("$h")
	wait_for "$T/mapped" || bad "$mode: holder did not start: $(cat "$T/h.out")"
	if R "$PY" "$HERE/sqlite_mmap.py" tryw "$db" >"$T/out" 2>&1; then
		bad "$mode: a write succeeded while a reader maps the database"
	else
		grep -q "readonly database" "$T/out" && ok || bad "$mode: write beside a mapping: $(cat "$T/out")"
	fi
	logged "p/$mode.db: open for writing refused (ETXTBSY)" && ok || bad "$mode: ETXTBSY not logged"
	touch "$T/go"
	wait $h && grep -q "holder: 3000 rows" "$T/h.out" && ok || bad "$mode: holder: $(cat "$T/h.out")"
	logged "shared mmap refused" && bad "$mode: the holder's mapping was refused: $(cat "$T/log")" || ok

	# A flipped bit in a page of the table.
	"$CS" corrupt "$db" --offset $((20 * 4096 + 500)) --seed 2 >/dev/null || bad "$mode: corrupt"
	rm -f "$T/log"
	if R sqlite3 "$db" 'pragma mmap_size=268435456; select sum(length(v)) from t;' >"$T/out" 2>&1; then
		bad "$mode: a query over a corrupt page succeeded: $(cat "$T/out")"
	else
		grep -E -q "disk I/O error|malformed" "$T/out" && ok || bad "$mode: corrupt: $(cat "$T/out")"
	fi
	logged "p/$mode.db: checksum mismatch in block 20 " && ok || bad "$mode: mismatch not logged: $(cat "$T/log")"
done
echo "sqlite_mmap: $pass passed, $fail failed"
[ $fail -eq 0 ]
