#!/usr/bin/env bash
# Issue 14's read figure alone: hot sequential 1 MiB reads (fio psync,
# --invalidate=0) of a file written through the shim by dd, against a raw
# file written by dd, alternating raw and shim in one run.
#
#   bench/seqread.sh [BUILD_DIR] [DIR_FOR_FILES]
#
# env: REPEATS (5), SECONDS_PER_RUN (5), SIZE (512M), LAYOUT (interleaved),
#      FORMAT_VERSION (2; 1 for an old-format file), UNALIGNED (1: a version 2
#      interleaved file without 2 MiB-aligned data runs, as before them).
# Prints one line per run and the median ratio shim / raw.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$(readlink -f "${1:-$ROOT/build}")
DIR=$(readlink -f "${2:-.}")
REP=${REPEATS:-5}
SECS=${SECONDS_PER_RUN:-5}
SIZE=${SIZE:-512M}
LAYOUT=${LAYOUT:-interleaved}
FV=${FORMAT_VERSION:-2}
UNAL=()
[ "${UNALIGNED:-0}" = 1 ] && UNAL=(--unaligned)
CS=$B/csumshim
MB=${SIZE%M}
W=$(mktemp -d "$DIR/csm-seqread.XXXXXX")
trap 'rm -rf "$W"' EXIT
mkdir "$W/raw" "$W/p"
printf '[global]\nlog = %s/log\n\n[%s/p/*]\nlayout = %s\n' "$W" "$W" "$LAYOUT" >"$W/conf"
head -c "$((MB << 20))" /dev/urandom >"$W/src"
dd if="$W/src" of="$W/raw/f" bs=1M status=none
"$CS" format --size 0 --layout "$LAYOUT" --format-version "$FV" "${UNAL[@]}" "$W/p/f" >/dev/null
"$CS" run --config "$W/conf" -- dd if="$W/src" of="$W/p/f" bs=1M conv=notrunc status=none
"$CS" info "$W/p/f" | grep -E 'format version|logical size|layout'
run() { # DIR [shim]
	local pre=()
	[ "${2:-}" = shim ] && pre=("$CS" run --config "$W/conf" --)
	cat "$1/f" >/dev/null
	"${pre[@]}" fio --name=r --filename="$1/f" --rw=read --bs=1m --ioengine=psync --invalidate=0 \
		--size="$SIZE" --time_based --runtime="$SECS" --output-format=json 2>/dev/null |
		python3 -c 'import json,sys; print(round(json.load(sys.stdin)["jobs"][0]["read"]["bw"]/1024))'
}
ratios=()
for r in $(seq "$REP"); do
	raw=$(run "$W/raw")
	shim=$(run "$W/p" shim)
	ratio=$(python3 -c "print('%.3f' % ($shim / $raw))")
	ratios+=("$ratio")
	echo "repeat $r: raw $raw MB/s, shim $shim MB/s, ratio $ratio"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print "median shim/raw: " a[int((NR+1)/2)]}'
