# Shared set-up of the shim tests with real mapping databases
# (lmdb_test.sh, leveldb_test.sh, sqlite_mmap_test.sh), sourced after CS is
# set.  Not a test by itself.

# mapdb_python MODULE WHY: PY becomes a python3 that can import MODULE (the
# pyenv one first on PATH may lack Debian's modules), or the test skips.
mapdb_python() {
	PY=
	local p
	for p in python3 /usr/bin/python3; do
		if command -v "$p" >/dev/null && "$p" -c "import $1" 2>/dev/null; then
			PY=$(command -v "$p")
			return 0
		fi
	done
	echo "SKIP: no python3 with the $1 module${2:+ ($2)}"
	exit 77
}

# mapdb_setup NAME: the test's private directory T with raw/ and p/ (removed
# at exit, after every pid in BG is killed), conf protecting p/, the
# counters with ok/bad, R (a command under the shim) and logged (a pattern
# in the shim's log).
mapdb_setup() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-$1.XXXXXX")
	BG=()
	trap mapdb_cleanup EXIT
	pass=0 fail=0
	mkdir "$T/raw" "$T/p"
	printf '[global]\nlog = %s/log\n\n[%s/p/*]\n' "$T" "$T" >"$T/conf"
}
mapdb_cleanup() {
	local p
	for p in "${BG[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$T"
}
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
R() { "$CS" run --config "$T/conf" -- "$@"; }
logged() { grep -q -- "$1" "$T/log" 2>/dev/null; }
