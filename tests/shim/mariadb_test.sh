#!/usr/bin/env bash
# MariaDB with its whole datadir protected, with InnoDB's native AIO on
# (io_uring is refused, InnoDB falls back to libaio, which the shim serves)
# and off (its own threads with pread/pwrite): install, create and fill a
# table, restart, CHECKSUM TABLE equal to a run without the shim, every file
# `csumshim check` clean.  Then a bit flipped in a page of the table's .ibd
# makes a query fail and the shim log the block.  Each server is started
# here on a private datadir and socket with networking off, and only those
# servers are stopped.  Usage: mariadb_test.sh PATH/TO/csumshim
set -u
CS=$(readlink -f "${1:?usage: mariadb_test.sh PATH/TO/csumshim}")
for c in mariadbd mariadb-install-db mariadb mariadb-admin; do
	command -v "$c" >/dev/null || [ -x "/usr/sbin/$c" ] ||
		{ echo "SKIP: $c not installed (Debian mariadb-server)"; exit 77; }
done
PATH=$PATH:/usr/sbin
T=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-maria.XXXXXX")
chmod 755 "$T"
USER_OPT=--user=$(id -un)
if [ "$(id -u)" -eq 0 ] && id mysql >/dev/null 2>&1; then USER_OPT=--user=mysql; fi
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# A run directory: D/data (protected when shimmed), D/conf, D/sock.
prepare() { # DIR
	mkdir -p "$1/data"
	printf '[global]\nlog = %s/shim.log\n\n[%s/data/*]\n\n[%s/data/*/*]\n' "$1" "$1" "$1" >"$1/conf"
	touch "$1/shim.log"
	chmod 666 "$1/shim.log"
	[ "$USER_OPT" = --user=mysql ] && chown -R mysql: "$1"
}
maybe_shim() { # DIR SHIM CMD...: through the shim if SHIM=1
	local d=$1 s=$2; shift 2
	if [ "$s" = 1 ]; then "$CS" run --config "$d/conf" -- "$@"; else "$@"; fi
}
start() { # DIR SHIM NATIVE
	maybe_shim "$1" "$2" mariadbd --no-defaults --datadir="$1/data" "$USER_OPT" --skip-networking \
		--socket="$1/sock" --pid-file="$1/pid" --log-error="$1/err.log" \
		--innodb-use-native-aio="$3" --innodb-buffer-pool-size=64M >>"$1/server.out" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 300); do
		[ -S "$1/sock" ] && mariadb --socket="$1/sock" -uroot -e 'select 1' >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	echo "server in $1 did not start:" >&2
	tail -20 "$1/err.log" >&2
	return 1
}
stop() { # DIR
	local pid
	pid=$(cat "$1/pid" 2>/dev/null)
	mariadb-admin --socket="$1/sock" -uroot shutdown >/dev/null 2>&1
	for _ in $(seq 300); do
		{ [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; } && return 0
		sleep 0.2
	done
	return 1
}
sql() { mariadb --socket="$1/sock" -uroot -N -B -e "$2"; }

# One full run; prints the table's checksum.
run() { # DIR SHIM NATIVE
	local d=$1
	prepare "$d"
	maybe_shim "$d" "$2" mariadb-install-db --no-defaults --datadir="$d/data" "$USER_OPT" \
		--auth-root-authentication-method=normal --skip-test-db >"$d/install.out" 2>&1 ||
		{ bad "install in $d"; tail "$d/install.out" >&2; return 1; }
	start "$d" "$2" "$3" || { bad "start in $d"; return 1; }
	sql "$d" "create database t; use t;
		create table a (id int primary key, v varchar(200), n bigint, key(n)) engine=innodb;
		insert into a select seq, repeat(md5(seq), 4), seq * 7919 mod 100003 from seq_1_to_60000;
		update a set v = concat('u', v) where id % 7 = 0; delete from a where id % 11 = 0;" ||
		bad "fill in $d"
	stop "$d" || bad "stop in $d"
	start "$d" "$2" "$3" || { bad "restart in $d"; return 1; }
	sql "$d" "checksum table t.a" | awk '{print $2}' >"$d/checksum"
	stop "$d" || bad "second stop in $d"
}

all_clean() { # DIR
	local n=0 f
	while IFS= read -r f; do
		n=$((n + 1))
		"$CS" check "$f" >/dev/null 2>&1 || { bad "check $f: $("$CS" check "$f" 2>&1 | tail -1)"; return; }
	done < <(find "$1/data" -type f -size +0)
	[ "$n" -gt 20 ] && ok || bad "only $n files in $1/data"
}

run "$T/raw" 0 0
want=$(cat "$T/raw/checksum" 2>/dev/null)
[ -n "$want" ] && ok || bad "no checksum from the raw run"
for native in 1 0; do
	d=$T/shim$native
	run "$d" 1 "$native"
	got=$(cat "$d/checksum" 2>/dev/null)
	[ -n "$got" ] && [ "$got" = "$want" ] && ok || bad "native_aio=$native: checksum '$got', raw '$want'"
	all_clean "$d"
	grep -q "Using Linux native AIO" "$d/err.log" && native_seen=1 || native_seen=0
	[ "$native_seen" = "$native" ] && ok || bad "native_aio=$native: err.log disagrees"
	# The stored files are csumshim files, not MariaDB's bytes.
	head -c 8 "$d/data/ibdata1" | grep -q CSUMSHIM && ok || bad "ibdata1 not protected"
done
grep -q "io_uring_setup refused" "$T/shim1/shim.log" && ok || bad "io_uring refusal not logged"

# A flipped bit in a page of t/a.ibd: the query fails, the shim logs it.
d=$T/shim1
"$CS" corrupt "$d/data/t/a.ibd" --offset $((6 * 16384 + 1000)) --seed 3 >/dev/null ||
	bad "corrupt a.ibd"
if start "$d" 1 1; then
	sql "$d" "select count(*), sum(n) from t.a force index (primary)" >"$d/q.out" 2>&1
	rc=$?
	[ $rc -ne 0 ] && ok || bad "query over a corrupt page succeeded: $(cat "$d/q.out")"
	grep -q "a.ibd: checksum mismatch in block $((6 * 4 + 0)) " "$d/shim.log" && ok ||
		bad "mismatch not logged: $(grep -v uring "$d/shim.log" | tail -3)"
	stop "$d"
else
	bad "start over a corrupt page"
fi
echo "mariadb: $pass passed, $fail failed"
[ $fail -eq 0 ]
