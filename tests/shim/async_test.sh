#!/usr/bin/env bash
# fio's asynchronous engines under the shim, on both layouts, each write
# verified by fio itself (verify=crc32c) and by `csumshim check`:
#   libaio (iodepth 32, buffered and O_DIRECT), posixaio: served, verified;
#   io_uring: the ring is refused (ENOSYS), fio fails loudly, nothing raw.
# A flipped stored bit must make a libaio verify pass fail with an I/O error.
# Usage: async_test.sh PATH/TO/csumshim
set -u
CS=$(readlink -f "${1:?usage: async_test.sh PATH/TO/csumshim}")
command -v fio >/dev/null || { echo "SKIP: fio not installed"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-async.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 2
mkdir p s
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
printf '[global]\nlog = %s/shim.log\n\n[%s/p/*]\n\n[%s/s/*.dat]\nlayout = separate\n' \
	"$T" "$T" "$T" >conf
R() { "$CS" run --config "$T/conf" -- "$@"; }
clean() { # FILE: `csumshim check` clean with every block written
	local out
	out=$("$CS" check "$1" 2>&1) && echo "$out" | grep -q "0 bad blocks, 0 damaged" && ok ||
		bad "check $1: $out"
}

for f in p/a.img s/a.dat; do
	for eng in "libaio --iodepth=32" "libaio --iodepth=32 --direct=1" "posixaio --iodepth=8"; do
		# shellcheck disable=SC2086 # the engine's options are words
		R fio --name=v --filename="$f" --size=16M --bs=4k --rw=randwrite --ioengine=$eng \
			--verify=crc32c --do_verify=1 --verify_fatal=1 --output=fio.out >/dev/null 2>&1
		rc=$?
		if [ $rc -eq 0 ] && grep -q "err= 0" fio.out; then ok; else
			bad "fio $eng on $f (exit $rc)"; sed 's/^/    | /' fio.out >&2
		fi
		clean "$f"
		rm -f "$f" "$f.csum"
	done
	# io_uring: refused, loudly; what fio laid out went through the shim.
	R fio --name=u --filename="$f" --size=4M --bs=4k --rw=randwrite --ioengine=io_uring \
		--iodepth=32 --verify=crc32c --output=fio.out >fio.err 2>&1
	rc=$?
	if [ $rc -ne 0 ] && grep -q "support io_uring\|Function not implemented" fio.out fio.err; then ok; else
		bad "fio io_uring on $f: exit $rc"
	fi
	clean "$f"
	rm -f "$f" "$f.csum"
done
grep -q "io_uring_setup refused" shim.log && ok || bad "io_uring refusal not logged"

# A flipped stored bit: fio's libaio verify pass fails with an I/O error.
R fio --name=c --filename=p/c.img --size=2M --bs=4k --rw=write --ioengine=libaio --iodepth=32 \
	--verify=crc32c --do_verify=0 --output=fio.out >/dev/null 2>&1 || bad "fio libaio write"
"$CS" corrupt p/c.img --offset 1000000 --seed 6 >/dev/null
R fio --name=c --filename=p/c.img --size=2M --bs=4k --rw=write --ioengine=libaio --iodepth=32 \
	--verify=crc32c --verify_only --output=fio.out >/dev/null 2>&1
rc=$?
[ $rc -ne 0 ] && grep -qi "input/output error\|err= *5" fio.out && ok ||
	bad "fio libaio verify of a corrupt file (exit $rc)"
grep -q "c.img: checksum mismatch in block 244 " shim.log && ok || bad "mismatch not logged"

echo "async programs: $pass passed, $fail failed"
[ $fail -eq 0 ]
