#!/usr/bin/env bash
# fio with verify=crc32c under read errors on 1 % of blocks: fio writes
# 16 MiB with its own checksums, then reads them back with a seeded rule
# failing 1 % of the 4 KiB block reads with EIO.  fio must see exactly the
# injected errors, each as EIO, and no block failing its own verification.
# Usage: examples/fault-fio.sh [PATH/TO/csumshim]
set -uo pipefail
CS=$(readlink -f "${1:-build/csumshim}")
command -v fio >/dev/null || { echo "SKIP: fio is not installed"; exit 77; }
D=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-ffio.XXXXXX")
trap 'rm -rf "$D"' EXIT
cd "$D" || exit 1
printf '[global]\nlog = %s/log\n[%s/data/*]\n[faults]\ncontrol = yes\n' "$D" "$D" >conf
mkdir data
run() { "$CS" run --config conf -- "$@"; }
job=(--filename=data/fio --size=16M --bs=4k --verify=crc32c --ioengine=psync)
run fio --name=write "${job[@]}" --rw=write --do_verify=0 >write.out 2>&1 ||
	{ echo "FAIL: fio write"; cat write.out; exit 1; }
"$CS" fault add data/fio eio op=read probability=1% seed=${SEED:-1} || exit 1
run fio --name=verify "${job[@]}" --rw=read --verify_only=1 --continue_on_error=read \
	>verify.out 2>&1
list=$("$CS" fault list data/fio)
echo "$list"
injected=$(sed -n 's/.*injected \([0-9]*\))$/\1/p' <<<"$list")
total=$(sed -n 's/.*errors *: total=\([0-9]*\), first_error=5\/<Input\/output error>.*/\1/p' verify.out)
grep -E 'errors|err=' verify.out
fails=0
[ -n "$total" ] && [ "$total" = "$injected" ] && [ "$injected" -gt 0 ] &&
	echo "ok: fio saw $total EIOs, the $injected injected" ||
	{ echo "FAIL: fio errors '$total', injected '$injected'"; fails=1; }
[ "$(grep -c 'injected: EIO, read' log)" = "$injected" ] || { echo "FAIL: log lines"; fails=1; }
if grep -qiE 'verify failed|bad magic|bad header|crc32c' verify.out; then
	echo "FAIL: fio found a block failing its own verification"; fails=1
else
	echo "ok: no block failed fio's verification"
fi
exit $fails
