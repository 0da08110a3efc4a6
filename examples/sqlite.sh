#!/usr/bin/env bash
# An sqlite3 database guarded by the shim, in WAL mode; then one bit of a
# page rots on disk and sqlite notices instead of returning wrong rows.
# Usage: examples/sqlite.sh [PATH/TO/csumshim]
set -euo pipefail
CS=$(readlink -f "${1:-build/csumshim}")
D=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-sqlite.XXXXXX")
trap 'rm -rf "$D"' EXIT
cd "$D"
mkdir db
printf '[%s/db/*.db]\n[%s/db/*.db-wal]\n[%s/db/*.db-journal]\n' "$D" "$D" "$D" >csumshim.conf
run() { "$CS" run --config csumshim.conf -- "$@"; }

run sqlite3 db/app.db "PRAGMA journal_mode=WAL;
  CREATE TABLE accounts(id INTEGER PRIMARY KEY, owner TEXT, balance INTEGER);
  WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM n WHERE x < 5000)
  INSERT INTO accounts SELECT x, 'owner-' || x, x * 100 FROM n;
  PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
echo "integrity: $(run sqlite3 db/app.db 'PRAGMA integrity_check')"
echo "total:     $(run sqlite3 db/app.db 'SELECT sum(balance) FROM accounts')"

"$CS" corrupt db/app.db --offset 70000 --seed 7      # bit rot in one page
if run sqlite3 db/app.db 'SELECT sum(balance) FROM accounts'; then
	echo "unexpected: the damaged page was read"; exit 1
else
	echo "sqlite refused the damaged page (exit $?); the shim logged which block"
fi
