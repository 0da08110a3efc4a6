#!/usr/bin/env bash
# The library's start-up must not allocate through the program's allocator:
# with jemalloc or tcmalloc preloaded beside it (either order) a program
# starts, and protected I/O works; `csumshim run -- redis-server` (linked
# with jemalloc) starts, saves its database into a protected directory and
# reads it back after a restart.  Every step has a time limit: the old
# failure was a hang.  Usage: allocators_test.sh PATH/TO/csumshim
set -u
CS=$(readlink -f "${1:?usage: allocators_test.sh PATH/TO/csumshim}")
LIB=$(dirname "$CS")/libcsumshim.so
T=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-alloc.XXXXXX")
RPID=
trap '[ -n "$RPID" ] && kill -9 "$RPID" 2>/dev/null; rm -rf "$T"' EXIT
cd "$T" || exit 2
mkdir p
printf '[global]\nlog = %s/shim.log\n\n[%s/p/*]\n' "$T" "$T" >conf
export CSUMSHIM_CONFIG=$T/conf
pass=0 fail=0 found=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
head -c 300000 /dev/urandom >data
for a in libjemalloc.so.2 libtcmalloc_minimal.so.4; do
	A=$(ls /usr/lib/*/"$a" 2>/dev/null | head -1)
	[ -n "$A" ] || { echo "note: $a not installed"; continue; }
	found=$((found + 1))
	for order in "$LIB $A" "$A $LIB"; do
		timeout -s KILL 20 env LD_PRELOAD="$order" /bin/true && ok || bad "/bin/true with '$order'"
		rm -f p/f.img
		timeout -s KILL 20 env LD_PRELOAD="$order" dd if=data of=p/f.img bs=64k status=none &&
			timeout -s KILL 20 env LD_PRELOAD="$order" cmp data p/f.img && ok ||
			bad "dd and cmp with '$order'"
		"$CS" check p/f.img >/dev/null && ok || bad "check after '$order'"
	done
done
[ "$found" -gt 0 ] || { echo "SKIP: neither jemalloc nor tcmalloc is installed"; exit 77; }

if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
	redis() { # start a server on a private socket, no TCP, its database in p/
		"$CS" run -- redis-server --port 0 --unixsocket "$T/redis.sock" --dir "$T/p" \
			--dbfilename dump.rdb --save '' --appendonly no >>redis.out 2>&1 &
		RPID=$!
		for _ in $(seq 100); do
			[ -S redis.sock ] && redis-cli -s redis.sock ping 2>/dev/null | grep -q PONG && return 0
			sleep 0.1
		done
		return 1
	}
	if redis; then
		ok
		redis-cli -s redis.sock set k csumshim-value >/dev/null
		redis-cli -s redis.sock save | grep -q OK && ok || bad "redis save"
		redis-cli -s redis.sock shutdown nosave >/dev/null 2>&1
		wait "$RPID"
		RPID=
		head -c 8 p/dump.rdb | grep -q CSUMSHIM && ok || bad "dump.rdb not protected"
		"$CS" check p/dump.rdb >/dev/null && ok || bad "check dump.rdb"
		rm -f redis.sock
		if redis; then
			[ "$(redis-cli -s redis.sock get k)" = csumshim-value ] && ok || bad "redis get after restart"
			redis-cli -s redis.sock shutdown nosave >/dev/null 2>&1
			wait "$RPID"
			RPID=
		else
			bad "redis restart"
		fi
	else
		bad "csumshim run -- redis-server did not start"; tail -5 redis.out >&2
	fi
else
	echo "note: redis-server not installed"
fi
echo "allocators: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
