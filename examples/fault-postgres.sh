#!/usr/bin/env bash
# PostgreSQL under an fsync error injected in the middle of pgbench: every
# relation file is a csumshim file, and all of them watch one control file.
# While pgbench runs, `csumshim fault add` makes the next sync of a relation
# file fail with EIO (once); a CHECKPOINT makes the checkpointer fsync.
# PostgreSQL must stop with a PANIC (it does not retry a failed fsync: the
# kernel may have dropped the pages), and the postmaster restart it cleanly
# from its WAL, with every committed row there and pg_amcheck clean.
# Runs postgres as `postgres` when started as root; touches only the
# processes it started (by the postmaster's pid) and its own directory.
# Usage: examples/fault-postgres.sh [PATH/TO/csumshim]
set -u
CS=$(readlink -f "${1:-build/csumshim}")
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$BIN" ] && [ -x "$BIN/postgres" ] || { echo "SKIP: PostgreSQL is not installed"; exit 77; }
USER_RUN=()
if [ "$(id -u)" = 0 ]; then
	id postgres >/dev/null 2>&1 || { echo "SKIP: running as root and no postgres user"; exit 77; }
	USER_RUN=(runuser -u postgres --)
fi
LIB=$("$CS" run --config /dev/null -- sh -c 'echo $LD_PRELOAD' 2>/dev/null)
T=$(mktemp -d /tmp/csumshim-fpg.XXXXXX)
chmod 755 "$T"
cp "$LIB" "$T/libcsumshim.so" && chmod 755 "$T/libcsumshim.so"
[ ${#USER_RUN[@]} = 0 ] || chown postgres "$T"
D=$T/data
PORT=$((20000 + RANDOM % 20000))
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
pm=
stop_all() {
	[ -n "$pm" ] && kill -9 "$pm" 2>/dev/null
	# The postmaster's children exit when it is gone; wait for them.
	for _ in $(seq 30); do pgrep -P "${pm:-0}" >/dev/null 2>&1 || break; sleep 1; done
}
cleanup() {
	"${USER_RUN[@]}" "$BIN/pg_ctl" -D "$D" stop -m immediate >/dev/null 2>&1
	stop_all
	if [ -n "${PG_KEEP:-}" ]; then echo "kept: $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
printf '[global]\nlog = %s/csumshim.log\n[%s/base/*/*]\n[faults]\ncontrol = %s/faults.ctl\n' \
	"$T" "$D" "$T" >"$T/conf"
chmod 644 "$T/conf"
as_pg() { "${USER_RUN[@]}" env CSUMSHIM_CONFIG="$T/conf" "$@"; }
shimmed() { as_pg LD_PRELOAD="$T/libcsumshim.so" "$@"; }
opts="-p $PORT -k $T -c listen_addresses= -c shared_buffers=32MB -c checkpoint_timeout=1h"
start() {
	shimmed "$BIN/pg_ctl" -D "$D" -l "$T/pg.log" -w -t 120 -o "$opts" start >/dev/null &&
		pm=$(head -1 "$D/postmaster.pid")
}
psqlc() { as_pg "$BIN/psql" -h "$T" -p "$PORT" -U postgres -d postgres -Atqc "$1"; }
ctl() { "${USER_RUN[@]}" "$CS" fault "$1" "$D" --control "$T/faults.ctl" "${@:2}"; }

shimmed "$BIN/initdb" -D "$D" -A trust -U postgres --no-sync >"$T/initdb.log" 2>&1 ||
	{ bad "initdb: $(tail -3 "$T/initdb.log")"; exit 1; }
start || { bad "start: $(tail -5 "$T/pg.log")"; exit 1; }
as_pg "$BIN/pgbench" -h "$T" -p "$PORT" -U postgres -i -s 5 -q postgres >"$T/init.log" 2>&1 ||
	bad "pgbench -i: $(tail -3 "$T/init.log")"
psqlc "create table marks (n int)"
psqlc "checkpoint"
as_pg "$BIN/pgbench" -h "$T" -p "$PORT" -U postgres -c 4 -j 2 -T 12 postgres >"$T/run.log" 2>&1 &
bench=$!
sleep 5
psqlc "insert into marks values (1)" # committed before the fault
ctl add fsync store=data max=1 >/dev/null || bad "fault add"
psqlc "checkpoint" >/dev/null 2>&1
wait $bench
if grep -q 'PANIC: .*could not fsync file' "$T/pg.log"; then
	ok "$(grep -m1 -o 'PANIC: .*' "$T/pg.log")"
else
	bad "no PANIC on the failed fsync: $(grep -m3 -E 'PANIC|ERROR' "$T/pg.log")"
fi
grep -q 'injected: fsync EIO' "$T/csumshim.log" && ok "log: $(grep -m1 -o 'injected: .*' "$T/csumshim.log")" ||
	bad "no injected fsync in the log"
list=$(ctl list)
[[ "$list" == *"(ops "*", injected 1)" ]] && ok "fault list: $list" || bad "fault list: $list"
ctl clear >/dev/null
# The postmaster answers a PANIC by stopping every server process and
# restarting with crash recovery from the WAL (restart_after_crash).
for _ in $(seq 60); do
	grep -q 'database system is ready to accept connections' <(sed -n '/PANIC/,$p' "$T/pg.log") && break
	sleep 1
done
if sed -n '/PANIC/,$p' "$T/pg.log" | grep -q 'all server processes terminated; reinitializing'; then
	ok "all server processes stopped after the PANIC"
else
	bad "the server did not stop after the PANIC"
fi
if sed -n '/PANIC/,$p' "$T/pg.log" | grep -q 'database system is ready to accept connections'; then
	ok "restarted with crash recovery: $(sed -n '/PANIC/,$p' "$T/pg.log" | grep -m1 -o 'redo done at [^ ]*')"
	[ "$(psqlc 'select count(*) from marks')" = 1 ] && ok "the committed row is there" ||
		bad "marks: $(psqlc 'select count(*) from marks')"
	as_pg "$BIN/pg_amcheck" -h "$T" -p "$PORT" -U postgres --install-missing --all \
		>"$T/amcheck.out" 2>&1 && ok "pg_amcheck clean" || bad "pg_amcheck: $(head -3 "$T/amcheck.out")"
	grep -q 'checksum mismatch' "$T/csumshim.log" &&
		bad "mismatch: $(grep -m2 'checksum mismatch' "$T/csumshim.log")"
	"${USER_RUN[@]}" "$BIN/pg_ctl" -D "$D" -w stop -m fast >/dev/null && ok "clean stop" && pm=
else
	bad "no restart: $(tail -5 "$T/pg.log")"
fi
pm=
exit $((fails > 0))
