#!/usr/bin/env bash
# Cost of the durability modes: fio random writes of 4 KiB with an fsync
# every 1 and every 32 writes, on a plain file (raw) and through the shim
# (durability = default, and strict), alternating in one run.
#
# Usage: bench/durability.sh [BUILD_DIR] [DIR_FOR_FILES]
#   env: SECONDS_PER_RUN (default 10), REPEATS (default 2), SIZE (default 256M)
# Prints a Markdown table (median IOPS of the repeats, ratio to raw) and
# writes durability.csv in the current directory.
set -eu
B=$(readlink -f "${1:-build}")
DIR=$(readlink -f "${2:-.}")
SECS=${SECONDS_PER_RUN:-10}
REP=${REPEATS:-2}
SIZE=${SIZE:-256M}
CS=$B/csumshim
W=$(mktemp -d "$DIR/csm-dur.XXXXXX")
trap 'rm -rf "$W"' EXIT
mkdir "$W/p"
for mode in default strict; do
	printf '[global]\nlog = %s/log\n\n[%s/p/*]\ndurability = %s\n' "$W" "$W" "$mode" >"$W/$mode.conf"
done
truncate -s "$SIZE" "$W/raw.img"
dd if=/dev/zero of="$W/raw.img" bs=1M count="${SIZE%M}" conv=notrunc status=none
"$CS" format --size "$SIZE" "$W/p/shim.img" >/dev/null
# Write every block once so no run pays first-write costs.
CSUMSHIM_CONFIG=$W/default.conf "$CS" run -- dd if=/dev/zero of="$W/p/shim.img" bs=1M \
	count="${SIZE%M}" conv=notrunc status=none

run_fio() { # file fsync [prefix command...] -> IOPS
	local file=$1 fs=$2
	shift 2
	"$@" fio --name=d --filename="$file" --rw=randwrite --bs=4k --ioengine=psync --fsync="$fs" \
		--size="$SIZE" --runtime="$SECS" --time_based --randseed=7 --output-format=json \
		2>/dev/null | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["jobs"][0]["write"]["iops"]))'
}

echo "fsync,mode,repeat,iops" >durability.csv
for fs in 1 32; do
	for r in $(seq "$REP"); do
		echo "$fs,raw,$r,$(run_fio "$W/raw.img" "$fs")" >>durability.csv
		for mode in default strict; do
			iops=$(run_fio "$W/p/shim.img" "$fs" env CSUMSHIM_CONFIG="$W/$mode.conf" "$CS" run --)
			echo "$fs,$mode,$r,$iops" >>durability.csv
		done
	done
done
python3 - <<'EOF'
import csv, statistics
rows = list(csv.DictReader(open("durability.csv")))
print("| fio randwrite 4 KiB, psync | raw IOPS | default IOPS (ratio) | strict IOPS (ratio) |")
print("|---|---|---|---|")
for fs in ("1", "32"):
    med = {m: statistics.median(int(r["iops"]) for r in rows if r["fsync"] == fs and r["mode"] == m)
           for m in ("raw", "default", "strict")}
    print("| fsync=%s | %d | %d (%.2f) | %d (%.2f) |" % (fs, med["raw"], med["default"],
          med["default"] / med["raw"], med["strict"], med["strict"] / med["raw"]))
EOF
