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
fail() { echo "sqlite: FAILED: $*" >&2; exit 1; }

run sqlite3 db/app.db "PRAGMA journal_mode=WAL;
  CREATE TABLE accounts(id INTEGER PRIMARY KEY, owner TEXT, balance INTEGER);
  WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM n WHERE x < 5000)
  INSERT INTO accounts SELECT x, 'owner-' || x, x * 100 FROM n;
  PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
integrity=$(run sqlite3 db/app.db 'PRAGMA integrity_check')
echo "integrity: $integrity"
[ "$integrity" = ok ] || fail "integrity_check: $integrity"
total=$(run sqlite3 db/app.db 'SELECT sum(balance) FROM accounts')
echo "total:     $total"
[ "$total" = 1250250000 ] || fail "total $total, expected 1250250000"

"$CS" corrupt db/app.db --offset 70000 --seed 7      # bit rot in one page
if run sqlite3 db/app.db 'SELECT sum(balance) FROM accounts' 2>err.txt; then
	fail "the damaged page was read"
fi
cat err.txt
# sqlite >= 3.37 reports EIO as "database disk image is malformed"
grep -qiE "disk I/O error|malformed" err.txt || fail "sqlite did not report the damaged page"
grep -q "app.db: checksum mismatch in block 17 " err.txt || fail "the shim did not name block 17"
echo "sqlite refused the damaged page; the shim logged which block"
"$CS" corrupt db/app.db --offset 70000 --seed 7      # the same seed flips it back
[ "$(run sqlite3 db/app.db 'SELECT sum(balance) FROM accounts')" = 1250250000 ] ||
	fail "the repaired page does not read back"
echo "repaired (the same seed flips the bit back): the total reads again"
