#!/usr/bin/env bash
# Runs test_async under the shim with a config protecting DIR/p/ (DIR/q/ is
# plain), then: every protected file passes `csumshim check`, and the
# syscall() model's file exported through verification equals the model.
# Usage: run_async.sh PATH/TO/csumshim PATH/TO/test_async
set -u
CS=$(readlink -f "$1"); BIN=$(readlink -f "$2")
T=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-async.XXXXXX")
trap 'rm -rf "$T"' EXIT
mkdir "$T/p" "$T/q"
printf '[global]\nlog = %s/log\n\n[%s/p/*]\n' "$T" "$T" >"$T/conf"
"$CS" run --config "$T/conf" -- "$BIN" "$T"
rc=$?
pass=0 fail=0
for f in "$T"/p/*; do
	if "$CS" check "$f" >"$T/check.out" 2>&1; then pass=$((pass + 1)); else
		fail=$((fail + 1)); echo "FAIL: check $f:"; cat "$T/check.out"
	fi
done
if "$CS" export "$T/p/model.img" "$T/q/model.out" && cmp "$T/q/model.out" "$T/q/model.expect"; then
	pass=$((pass + 1))
else
	fail=$((fail + 1)); echo "FAIL: the syscall model's file differs from the model"
fi
grep -q "io_uring_setup refused" "$T/log" && pass=$((pass + 1)) || {
	fail=$((fail + 1)); echo "FAIL: io_uring refusal not logged"
}
echo "async files: $pass passed, $fail failed"
[ "$rc" -eq 0 ] && [ "$fail" -eq 0 ]
