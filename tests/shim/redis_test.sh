#!/usr/bin/env bash
# Redis (it links jemalloc) with its dir under a glob: SAVE, BGSAVE (a
# forked child writes the RDB), AOF, a restart reading every key back; then
# a bit flipped in the RDB makes the load fail loudly.  The test starts its
# own server on a private directory and port and stops only that server.
# Usage: redis_test.sh PATH/TO/csumshim
set -u
CS=$(readlink -f "${1:?usage: redis_test.sh PATH/TO/csumshim}")
command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
	{ echo "SKIP: redis-server or redis-cli is not installed"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-redis.XXXXXX")
PID=
stop() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; PID=; }
trap 'stop; rm -rf "$T"' EXIT
cd "$T" || exit 2
mkdir data
printf '[global]\nlog = %s/shim.log\n\n[%s/data/*]\n[%s/data/appendonlydir/*]\n' "$T" "$T" "$T" >conf
PORT=$((20000 + $$ % 20000))
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
C() { timeout 20 redis-cli -p "$PORT" "$@"; }
start() { # APPENDONLY: start a server, wait until it answers (or died)
	"$CS" run --config "$T/conf" -- redis-server --port "$PORT" --bind 127.0.0.1 \
		--dir "$T/data" --save "" --appendonly "$1" --daemonize no \
		--logfile "$T/redis.log" & PID=$!
	for _ in $(seq 200); do
		[ "$(C ping 2>/dev/null)" = PONG ] && return 0
		kill -0 "$PID" 2>/dev/null || { wait "$PID"; local rc=$?; PID=; return $((rc ? rc : 1)); }
		sleep 0.1
	done
	return 124
}
bgsave_done() {
	for _ in $(seq 300); do
		C info persistence | grep -q 'rdb_bgsave_in_progress:0' && break
		sleep 0.1
	done
	C info persistence | grep -q 'rdb_last_bgsave_status:ok'
}
keys_back() { # N: key1..keyN hold their values
	local i
	for i in 1 50 "$1"; do
		[ "$(C get "key$i")" = "value-$i-$(printf %0200d "$i")" ] || return 1
	done
	[ "$(C dbsize)" = "$1" ]
}
fill() { # FROM TO
	local i
	for i in $(seq "$1" "$2"); do echo "SET key$i value-$i-$(printf %0200d "$i")"; done |
		timeout 60 redis-cli -p "$PORT" >/dev/null
}

if start yes; then ok; else bad "redis-server did not start (exit $?)"; tail -5 redis.log 2>/dev/null; exit 1; fi
fill 1 500
[ "$(C save)" = OK ] && ok || bad "SAVE"
fill 501 1000
[ "$(C bgsave)" = "Background saving started" ] && bgsave_done && ok || bad "BGSAVE"
fill 1001 1500
[ "$(C bgrewriteaof)" != "" ] && sleep 1 && ok
fill 1501 2000
keys_back 2000 && ok || bad "keys before restart"
C shutdown >/dev/null 2>&1; wait "$PID"; PID=
for f in data/dump.rdb data/appendonlydir/*; do
	[ "$(head -c 8 "$f" | tr -d '\0')" = CSUMSHIM ] || { bad "not protected: $f"; continue; }
	"$CS" check "$f" >/dev/null 2>&1 && ok || bad "check $f"
done
# Restart from the AOF, then from the RDB alone.
start yes && keys_back 2000 && [ "$(C save)" = OK ] && ok || bad "keys after restart (AOF)"
C shutdown >/dev/null 2>&1; wait "$PID"; PID=
start no && keys_back 2000 && ok || bad "keys after restart (RDB)"
C shutdown >/dev/null 2>&1; wait "$PID"; PID=
# Nothing but recoveries of files left open at exit, all verified.
if grep -v "recovered after an unclean shutdown: .* 0 could not be verified, 0 fail verification" \
	shim.log 2>/dev/null | grep -q .; then
	bad "shim log before corruption:"; head -5 shim.log
fi

# A flipped bit in the RDB: the load fails loudly.
size=$("$CS" info data/dump.rdb --json | sed 's/.*"logical_size":\([0-9]*\).*/\1/')
"$CS" corrupt data/dump.rdb --offset $((size / 2)) --seed 6 >/dev/null || bad "corrupt"
start no >redis.out; rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && ok || bad "redis started on a corrupt RDB (rc $rc)"
grep -q "dump.rdb: checksum mismatch in block" shim.log && ok || bad "no log line for dump.rdb"
echo "redis: $pass passed, $fail failed"
[ $fail -eq 0 ]
