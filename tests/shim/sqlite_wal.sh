#!/usr/bin/env bash
# SQLite WAL, a writer and a reader process under [DIR/*] for
# CSM_WAL_SECONDS (see sqlite_wal.py); then integrity_check and
# `csumshim check` of the database and its WAL.
# Usage: sqlite_wal.sh PATH/TO/csumshim
set -u
CS=$(readlink -f "${1:?usage: sqlite_wal.sh PATH/TO/csumshim}")
HERE=$(cd "$(dirname "$0")" && pwd)
python3 -c 'import sqlite3' 2>/dev/null || { echo "SKIP: python3 has no sqlite3 module"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-wal.XXXXXX")
trap 'rm -rf "$T"' EXIT
mkdir "$T/db"
printf '[global]\nlog = %s/shim.log\n\n[%s/db/*]\n' "$T" "$T" >"$T/conf"
R() { "$CS" run --config "$T/conf" -- "$@"; }
DB=$T/db/t.db
fail=0
R python3 "$HERE/sqlite_wal.py" setup "$DB" || { echo "FAIL: setup"; exit 1; }
R python3 "$HERE/sqlite_wal.py" writer "$DB" & w=$!
R python3 "$HERE/sqlite_wal.py" reader "$DB" & r=$!
wait $w || { echo "FAIL: writer"; fail=1; }
wait $r || { echo "FAIL: reader"; fail=1; }
R python3 "$HERE/sqlite_wal.py" final "$DB" || { echo "FAIL: final"; fail=1; }
for f in "$T"/db/*; do
	case $f in *-shm) continue ;; esac
	"$CS" check "$f" >"$T/out" 2>&1 || { echo "FAIL: check $f"; cat "$T/out"; fail=1; }
done
if [ -s "$T/shim.log" ]; then echo "FAIL: shim log:"; head "$T/shim.log"; fail=1; fi
[ $fail -eq 0 ] && echo "sqlite_wal: ok"
exit $fail
