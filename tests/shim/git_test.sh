#!/usr/bin/env bash
# git with the whole repository, .git included, under a "**" glob: init,
# add, commit, gc, fsck --strict, all verified; then a bit flipped in the
# pack makes git fail with an I/O error.
# Usage: git_test.sh PATH/TO/csumshim
set -u
CS=$(readlink -f "${1:?usage: git_test.sh PATH/TO/csumshim}")
command -v git >/dev/null || { echo "SKIP: git is not installed"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-git.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 2
printf '[global]\nlog = %s/shim.log\n\n[%s/repo/**]\n' "$T" "$T" >conf
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
export HOME=$T GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.invalid \
	GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.invalid
G() { "$CS" run --config "$T/conf" -- git -C "$T/repo" "$@"; }
step() { # NAME CMD...
	local name=$1; shift
	if "$@" >out 2>err; then ok; else bad "$name (exit $?)"; sed 's/^/    | /' err >&2; fi
}
mkdir repo
step "git init" G init -q
for i in 1 2 3; do
	mkdir -p repo/d$i/sub
	head -c $((30000 * i)) /dev/urandom | od -An -tx1 >w.txt
	"$CS" run --config "$T/conf" -- cp w.txt repo/d$i/sub/f$i.txt
	step "git add $i" G add -A
	step "git commit $i" G commit -qm "commit $i"
done
step "git gc" G gc -q
step "git fsck --strict" G fsck --strict
step "git log -p" G log -p
[ "$(G rev-list --count HEAD 2>/dev/null)" = 3 ] && ok || bad "three commits"
# Everything under repo/, .git included, is protected and checks clean.
n=0
while IFS= read -r -d '' f; do
	n=$((n + 1))
	[ "$(head -c 8 "$f" | tr -d '\0')" = CSUMSHIM ] || { bad "not protected: $f"; continue; }
	"$CS" check "$f" >/dev/null 2>&1 || bad "check $f"
done < <(find repo -type f -size +0 -print0)
[ $n -gt 10 ] && ok || bad "only $n files under repo/"
pack=$(ls repo/.git/objects/pack/*.pack 2>/dev/null | head -1)
if [ -z "$pack" ]; then
	bad "no pack after gc"
else
	size=$("$CS" info "$pack" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["logical_size"])')
	"$CS" corrupt "$pack" --offset $((size / 2)) --seed 4 >/dev/null || bad "corrupt $pack"
	G fsck --strict >out 2>err; rc1=$?
	G log -p >out2 2>err2; rc2=$?
	if { [ $rc1 -ne 0 ] && grep -qi "input/output error" err; } ||
		{ [ $rc2 -ne 0 ] && grep -qi "input/output error" err2; }; then ok; else
		bad "flipped bit: fsck exit $rc1, log exit $rc2: $(head -3 err err2)"
	fi
	grep -q "$(basename "$pack"): checksum mismatch" shim.log && ok || bad "no log line for the pack"
fi
echo "git: $pass passed, $fail failed"
[ $fail -eq 0 ]
