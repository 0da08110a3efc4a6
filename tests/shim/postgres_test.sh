#!/usr/bin/env bash
# PostgreSQL under the shim: every relation file of the cluster is a csumshim
# file.  initdb, pgbench -i -s 10, pgbench -c 4 -T $PG_SECONDS (default 60);
# PG_KEEP=1 keeps the directory (data, logs) for a look afterwards;
# pg_amcheck and `csumshim check` clean on every relation file; then the
# postmaster is killed with SIGKILL in the middle of a run, restarted (WAL
# recovery, csumshim recovery) and both checks are clean again.
# Runs postgres as an unprivileged user (it refuses root): `postgres` when
# started as root.  It touches only the cluster it made: processes are
# found from its own postmaster.pid and stopped with pg_ctl on its own data
# directory, never by name or user (a distribution's cluster may be running
# beside it).  Exit 77 (skipped) when PostgreSQL is not installed.
# Usage: postgres_test.sh PATH/TO/csumshim
set -u
CS=$(readlink -f "$1")
SECS=${PG_SECONDS:-60}
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$BIN" ] || [ ! -x "$BIN/postgres" ]; then
	echo "SKIP: PostgreSQL is not installed (apt-get install postgresql)"
	exit 77
fi
LIB=$("$CS" run --config /dev/null -- sh -c 'echo $LD_PRELOAD' 2>/dev/null || true)
[ -n "$LIB" ] || LIB=$(dirname "$CS")/libcsumshim.so
T=$(mktemp -d /tmp/csumshim-pg.XXXXXX)
chmod 755 "$T"
# A copy the unprivileged user can read wherever the build tree lives (ld.so
# skips an unreadable LD_PRELOAD with a warning and runs the program bare).
cp "$LIB" "$T/libcsumshim.so" && chmod 755 "$T/libcsumshim.so"
LIB=$T/libcsumshim.so
USER_RUN=()
if [ "$(id -u)" = 0 ]; then
	chown postgres "$T"
	USER_RUN=(runuser -u postgres --)
fi
PORT=$((20000 + RANDOM % 20000))
D=$T/data
fails=0
pass=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fails=$((fails + 1)); echo "FAIL: $*"; }
# The postmaster of this test's cluster (from its own postmaster.pid, and
# only while that process really runs on $D) and its children.
our_pids() {
	local pm
	pm=$(head -1 "$D/postmaster.pid" 2>/dev/null) || return 0
	[ -n "$pm" ] && tr '\0' ' ' <"/proc/$pm/cmdline" 2>/dev/null | grep -qF -- "$D" || return 0
	echo "$pm"
	pgrep -P "$pm"
}
# Whether process $1 runs (a zombie left to an init that does not reap it
# does not count).
alive() { [ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" != Z ]; }
cleanup() {
	local pids
	pids=$(our_pids)
	"${USER_RUN[@]}" "$BIN/pg_ctl" -D "$D" stop -m immediate >/dev/null 2>&1
	[ -n "$pids" ] && kill -9 $pids 2>/dev/null
	if [ -n "${PG_KEEP:-}" ]; then echo "kept: $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

printf '[global]\nlog = %s/csumshim.log\n\n[%s/base/*/*]\n' "$T" "$D" >"$T/conf"
chmod 644 "$T/conf"
# PG_TRACE=GLOB (relative to the data directory, e.g. 'base/5/1639[79]'): the
# shim logs every write the engine makes to matching files (CSUMSHIM_TRACE).
TRACE=${PG_TRACE:+$T/data/$PG_TRACE}
as_pg() { "${USER_RUN[@]}" env CSUMSHIM_CONFIG="$T/conf" CSUMSHIM_TRACE="$TRACE" "$@"; }
shimmed() { as_pg LD_PRELOAD="$LIB" "$@"; }
pgopts="-p $PORT -k $T -c listen_addresses= -c shared_buffers=32MB -c max_wal_size=256MB -c log_line_prefix=%m[%p]%b: -c log_autovacuum_min_duration=0 -c log_checkpoints=on"
start() { shimmed "$BIN/pg_ctl" -D "$D" -l "$T/pg.log" -w -t 120 -o "$pgopts" start >/dev/null; }
stop() { "${USER_RUN[@]}" "$BIN/pg_ctl" -D "$D" -w -t 120 stop -m fast >/dev/null; }
psqlc() { as_pg "$BIN/psql" -h "$T" -p "$PORT" -d postgres -Atqc "$1"; }

# Every relation file must be a clean csumshim file.
check_files() {
	local n=0 badf=0 f
	for f in "$D"/base/*/*; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		if ! out=$("$CS" check "$f" 2>&1); then
			badf=$((badf + 1))
			echo "  $out"
		fi
	done
	if [ "$n" -gt 100 ] && [ "$badf" = 0 ]; then ok "$1: csumshim check clean on all $n relation files"; else bad "$1: $badf of $n relation files failed csumshim check"; fi
}

amcheck() {
	if as_pg "$BIN/pg_amcheck" -h "$T" -p "$PORT" --install-missing --all --heapallindexed \
		>"$T/amcheck.out" 2>&1; then
		ok "$1: pg_amcheck clean"
	else
		bad "$1: pg_amcheck: $(head -5 "$T/amcheck.out")"
	fi
}

if shimmed "$BIN/initdb" -D "$D" -A trust -U postgres --no-sync >"$T/initdb.log" 2>&1; then
	ok "initdb under the shim"
else
	bad "initdb: $(tail -5 "$T/initdb.log")"
	exit 1
fi
hdr=$(head -c 8 "$(ls "$D"/base/1/* | head -1)")
[ "$hdr" = CSUMSHIM ] && ok "relation files are csumshim files" || bad "relation file header '$hdr'"
start && ok "postgres started under the shim" || { bad "start: $(tail -5 "$T/pg.log")"; exit 1; }
if as_pg "$BIN/pgbench" -h "$T" -p "$PORT" -U postgres -i -s 10 -q postgres >"$T/init.log" 2>&1; then
	ok "pgbench -i -s 10"
else
	bad "pgbench -i: $(tail -5 "$T/init.log")"
fi
if as_pg "$BIN/pgbench" -h "$T" -p "$PORT" -U postgres -c 4 -j 2 -T "$SECS" postgres >"$T/run.log" 2>&1; then
	ok "pgbench -c 4 -T $SECS: $(grep -E '^tps' "$T/run.log" | head -1)"
else
	bad "pgbench run: $(grep -m5 -iE 'error|abort' "$T/run.log")"
	echo "  server log: $(grep -m8 -E 'ERROR|FATAL|PANIC|WARNING|terminated by|exited with' "$T/pg.log")"
	echo "  csumshim log: $(grep -v 'recovered after' "$T/csumshim.log" 2>/dev/null | tail -8)"
fi
rows=$(psqlc "select count(*) from pgbench_accounts")
[ "$rows" = 1000000 ] && ok "1000000 accounts" || bad "accounts: '$rows'"
amcheck "after the run"
stop
check_files "after a clean stop"
# An error logged by the shim (a mismatch, damaged or missing metadata or
# data, an I/O error, a stale or unreadable superblock, a file it could not
# open) fails the test, and so does a block an
# automatic recovery could not verify: PostgreSQL processes exit with files
# open, so recoveries happen, but no process crashed and every write reached
# the page cache whole, so every block must match one of its brothers.
unverified() {
	local errs="checksum mismatch\|not zero\|damaged\|no valid metadata\|I/O error\|missing: \|superblock\|cannot "
	if grep -q "$errs" "$T/csumshim.log" 2>/dev/null; then
		bad "csumshim logged $1: $(grep -m3 "$errs" "$T/csumshim.log")"
	fi
	if grep -q "recovery: block\|could not be verified after" "$T/csumshim.log" 2>/dev/null; then
		bad "a recovery $1 left blocks unverified: $(grep -m3 "recovery: block\|could not be verified after" "$T/csumshim.log")"
	else
		ok "no mismatch, no unverified block $1"
	fi
}
unverified "after the run"

# Kill the postmaster in the middle of a run: once pgbench reports
# committed transactions (its progress lines), not after a guessed time.
start || bad "restart: $(tail -5 "$T/pg.log")"
as_pg "$BIN/pgbench" -h "$T" -p "$PORT" -U postgres -c 4 -j 2 -T 120 -P 1 postgres \
	>"$T/kill-run.log" 2>&1 &
pgb=$!
until grep -qE '^progress: [0-9.]+ s, [1-9][0-9]*\.[0-9]+ tps' "$T/kill-run.log"; do
	kill -0 $pgb 2>/dev/null || break
	sleep 0.2
done
pm=$(head -1 "$D/postmaster.pid")
children=$(pgrep -P "$pm")
if grep -qE '^progress: [0-9.]+ s, [1-9]' "$T/kill-run.log" && kill -9 "$pm"; then
	ok "postmaster $pm killed with SIGKILL mid-run ($(grep -c '^progress' "$T/kill-run.log") s of pgbench)"
else
	bad "pgbench never committed before the kill: $(tail -3 "$T/kill-run.log")"
fi
wait $pgb
# Its backends notice the postmaster's death and exit: wait for exactly
# those processes (SIGKILL for any still there after two minutes).
left=""
for p in $children; do
	for _ in $(seq 600); do alive "$p" || break; sleep 0.2; done
	alive "$p" && left="$left $p"
done
if [ -n "$left" ]; then
	echo "note: backends still running 2 min after the postmaster's death:$left (killed)"
	kill -9 $left 2>/dev/null
	for p in $left; do while alive "$p"; do sleep 0.2; done; done
fi
# And for the postmaster to be reaped: a zombie still answers kill(pid, 0),
# and a new postmaster then takes the old postmaster.pid for a live server.
for _ in $(seq 600); do [ -e "/proc/$pm" ] || break; sleep 0.2; done
[ -e "/proc/$pm" ] && echo "note: the killed postmaster $pm was not reaped within 2 min"
if start; then
	ok "restarted: WAL recovery succeeded"
else
	bad "restart after kill: $(tail -10 "$T/pg.log")"
fi
grep -q "database system was interrupted\|not properly shut down" "$T/pg.log" && ok "postgres ran crash recovery"
rows=$(psqlc "select count(*) from pgbench_accounts")
[ "$rows" = 1000000 ] && ok "1000000 accounts after the crash" || bad "accounts after crash: '$rows'"
amcheck "after the crash"
stop
check_files "after the crash"
# Killing postgres kills processes, not the machine: the page cache keeps
# every write, so still nothing may come out unverified.
unverified "after the crash"
echo "csumshim recoveries: $(grep -c "recovered after an unclean shutdown" "$T/csumshim.log" 2>/dev/null)," \
	"blocks left unverified: $(grep -c "recovery: block\|could not be verified after" "$T/csumshim.log" 2>/dev/null)"
echo "postgres: $pass passed, $fails failed"
[ "$fails" = 0 ]
