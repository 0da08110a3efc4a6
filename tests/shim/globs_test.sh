#!/usr/bin/env bash
# Globs (issue 17): "**" matches any depth, "exclude = GLOB" takes paths out
# of a section (they fall through to the next matching one), bad excludes
# are configuration errors (FILE:LINE, exit 78), and SQLite in WAL mode
# works under a plain directory glob: its "-shm" index is left unprotected
# by default, "exclude = none" takes that away.
# Usage: globs_test.sh PATH/TO/csumshim
set -u
CS=$(readlink -f "${1:?usage: globs_test.sh PATH/TO/csumshim}")
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
T=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-globs.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" && mkdir -p r/a/b/c z/a/b e f w s || exit 2
cat >conf <<CONF
[global]
log = $T/shim.log

[$T/r/**]

[$T/z/**/x.img]

[$T/e/*]
exclude = $T/e/*.log

[$T/f/*]
exclude = $T/f/*.sep
exclude = $T/f/*.txt

[$T/f/*.sep]
layout = separate

[$T/w/*]

[$T/s/*]
exclude = none
CONF
R() { "$CS" run --config "$T/conf" -- "$@"; }
raw_csum() { [ "$(head -c 8 "$1" | tr -d '\0')" = CSUMSHIM ]; }
protected() { # FILE: written through the shim, stored with a superblock
	R sh -c 'printf hello >"$1"' sh "$1" && [ "$(R cat "$1")" = hello ] && raw_csum "$1" && ok ||
		bad "$1 should be protected"
}
plain() { # FILE: written through the shim, stored as it is
	R sh -c 'printf hello >"$1"' sh "$1" && [ "$(cat "$1")" = hello ] && ok ||
		bad "$1 should not be protected"
}

protected r/f.img
protected r/a/b/c/deep.img
protected r/a/.hidden
protected z/x.img
protected z/a/b/x.img
plain z/a/b/y.img
protected e/a.img
plain e/a.log
protected f/a.img
plain f/a.txt
R sh -c 'printf hello >f/a.sep' && [ -s f/a.sep.csum ] && [ "$(cat f/a.sep)" = hello ] && ok ||
	bad "f/a.sep: should fall through to the separate layout's section"

# Configuration errors: FILE:LINE, exit 78, the program does not run.
conf_error() { # PATTERN CONFIG-TEXT
	printf '%b' "$2" >bad.conf
	rm -f ran
	"$CS" run --config bad.conf -- touch ran 2>err
	local rc=$?
	[ $rc -eq 78 ] && [ ! -e ran ] && grep -q -- "^csumshim: $T/bad.conf:$1" err && ok ||
		bad "config error '$1': exit $rc: $(cat err)"
}
conf_error "2: exclude: expected an absolute path glob or none" '[/a/*]\nexclude = b/*\n'
conf_error "2: unknown key 'exclude' in \\[global\\]" '[global]\nexclude = /a/*\n'
conf_error "3: exclude: expected an absolute path glob or none" '[/a/*]\nexclude = /a/x\nexclude =\n'

# SQLite WAL under a plain directory glob.
# (The stored files are copied, unshimmed, while SQLite has them open.)
mkdir snap
R sqlite3 w/t.db 'pragma journal_mode=wal; create table t(x); insert into t values(1),(2);
	select sum(x) from t;' '.shell env -u LD_PRELOAD cp w/t.db w/t.db-wal w/t.db-shm snap/' >out 2>err
[ "$(grep -v wal out | tail -1)" = 3 ] && ok || bad "sqlite WAL under [w/*]: $(cat out err)"
raw_csum snap/t.db && raw_csum snap/t.db-wal && ok || bad "w/t.db and w/t.db-wal should be protected"
[ -s snap/t.db-shm ] && ! raw_csum snap/t.db-shm && ok || bad "w/t.db-shm should be left unprotected"
# "exclude = none": -shm is protected, and SQLite's shared mapping refused.
R sqlite3 s/t.db 'pragma journal_mode=wal; create table t(x);' >out 2>err
[ $? -ne 0 ] && grep -q "shared writable mmap refused" shim.log && ok ||
	bad "exclude = none: the -shm mapping should be refused ($(cat out err))"

echo "globs: $pass passed, $fail failed"
[ $fail -eq 0 ]
