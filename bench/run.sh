#!/usr/bin/env bash
# The performance benchmark: the same I/O raw and through the shim,
# alternating in one run so machine noise hits both alike.
#
#   bench/run.sh [BUILD_DIR] [DIR_FOR_FILES]
#
# env: REPEATS (3), SECONDS_PER_RUN (8), SIZE (512M, fio's file),
#      ROWS (200000, sqlite3 workload), COLD_PAIRS (5: cold runs of each
#      side per repeat, alternating which goes first), LAYOUT (interleaved
#      or separate, for the shim's files), UPDATE_DOC (1:
#      rewrite the results section of BENCHMARKS.md), OUT (bench-results:
#      CSV, PNG, table), ONLY (all; libaio: the Linux AIO pairs alone;
#      hot1: the hot psync pairs at numjobs=1 alone — issue 14's two speed
#      lines among them; with anything but all, nothing else runs and
#      BENCHMARKS.md is left as it is)
#
# fio (ioengine=psync): sequential read and write of 1 MiB, random read and
# write of 4 KiB, numjobs 1 and 2, and random read and write of 4 KiB with
# ioengine=libaio at iodepth 32, page cache hot (the file read once
# before); reads with a cold cache (caches dropped before each run, the file
# read once, not time based).  sqlite3 (through Python's sqlite3 module,
# which links libsqlite3 dynamically): bulk insert in transactions, indexed
# lookups, a full scan.  The checksum micro-benchmark.  Results: a CSV of
# every run, a Markdown table of median ratios (shim / raw) with their
# spread (lowest and highest ratio of the repeats), a PNG chart (gnuplot).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$(readlink -f "${1:-$ROOT/build}")
DIR=$(readlink -f "${2:-.}")
ARGS="${1:-build} ${2:-.}" # as typed, for the command recorded in BENCHMARKS.md
REP=${REPEATS:-3}
SECS=${SECONDS_PER_RUN:-8}
SIZE=${SIZE:-512M}
ROWS=${ROWS:-200000}
COLD=${COLD_PAIRS:-5}
LAYOUT=${LAYOUT:-interleaved}
OUT=$(readlink -f "${OUT:-bench-results}")
ONLY=${ONLY:-all}
case $ONLY in all | libaio | hot1) ;; *) echo "bench: ONLY=$ONLY: all, libaio or hot1" >&2; exit 1 ;; esac
[ "$ONLY" = all ] || UPDATE_DOC=0
CS=$B/csumshim
for tool in fio sqlite3 gnuplot python3; do
	command -v "$tool" >/dev/null || {
		echo "bench: $tool is missing (apt-get install fio sqlite3 gnuplot-nox)" >&2
		exit 1
	}
done
[ -x "$CS" ] || {
	echo "bench: $CS not built (scripts/setup.sh $B)" >&2
	exit 1
}
mkdir -p "$OUT"
W=$(mktemp -d "$DIR/csm-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
mkdir "$W/raw" "$W/p"
printf '[global]\nlog = %s/log\n\n[%s/p/*]\nlayout = %s\n' "$W" "$W" "$LAYOUT" >"$W/conf"
export CSUMSHIM_CONFIG=$W/conf
SHIM=("$CS" run --)
MB=${SIZE%M}

# Both files written in full, so no run pays first-write costs.
for j in 0 1; do
	dd if=/dev/urandom of="$W/raw/f.$j.0" bs=1M count="$MB" status=none
	"$CS" format --size "$SIZE" --layout "$LAYOUT" "$W/p/f.$j.0" >/dev/null
	"${SHIM[@]}" dd if="$W/raw/f.$j.0" of="$W/p/f.$j.0" bs=1M conv=notrunc status=none
done

can_drop=0
if [ -w /proc/sys/vm/drop_caches ]; then can_drop=1; fi
drop() { sync && echo 3 >/proc/sys/vm/drop_caches; }

# fio_run DIR rw bs jobs mode [ENGINE DEPTH] -> MB/s or IOPS (one number)
fio_run() {
	local dir=$1 rw=$2 bs=$3 jobs=$4 mode=$5 eng=${6:-psync} depth=${7:-1} pre=()
	[ "$dir" = "$W/p" ] && pre=("${SHIM[@]}")
	# fio drops the file's pages before a job unless told not to.
	local tb=(--time_based --runtime="$SECS" --invalidate=0)
	if [ "$mode" = cold ]; then
		drop
		tb=()
	else # hot: the files read once before, from a dropped cache where
		# possible: pages left by an earlier random read are single-page
		# folios, which copy at half the speed of the large ones read-ahead
		# builds, and would favour whichever side ran its cold run first.
		if [ $can_drop = 1 ]; then drop; fi
		cat "$dir"/f.* >/dev/null
	fi
	# One file per job (f.N.0), so a run measures I/O, not two jobs
	# fighting over one file's blocks.
	# shellcheck disable=SC2016 # $jobnum is fio's, not the shell's
	"${pre[@]}" fio --name=f --directory="$dir" --filename_format='f.$jobnum.0' \
		--rw="$rw" --bs="$bs" --ioengine="$eng" --iodepth="$depth" --numjobs="$jobs" --size="$SIZE" \
		"${tb[@]}" --randseed=7 --group_reporting --output-format=json 2>/dev/null |
		python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
side = j["read"] if j["read"]["io_bytes"] else j["write"]
print(round(side["iops"]) if sys.argv[1] == "4k" else round(side["bw"] / 1024))' "$bs"
}

CSV=$OUT/results.csv
echo "workload,unit,repeat,raw,shim,ratio" >"$CSV"
record() { # name unit repeat raw shim
	python3 -c 'import sys; r, s = float(sys.argv[4]), float(sys.argv[5])
print("%s,%s,%s,%s,%s,%.3f" % (*sys.argv[1:6], s / r if r else 0))' "$@" >>"$CSV"
}

echo "bench: fio, $REP repeats of ${SECS} s per run, $SIZE per file" >&2
for r in $(seq "$REP"); do
	for jobs in 1 2; do
		[ "$ONLY" = all ] || { [ "$ONLY" = hot1 ] && [ "$jobs" = 1 ]; } || break
		for w in "read 1m MB/s" "write 1m MB/s" "randread 4k IOPS" "randwrite 4k IOPS"; do
			# shellcheck disable=SC2086 # split on purpose
			set -- $w
			raw=$(fio_run "$W/raw" "$1" "$2" "$jobs" hot)
			shim=$(fio_run "$W/p" "$1" "$2" "$jobs" hot)
			record "fio $1 $2 numjobs=$jobs hot" "$3" "$r" "$raw" "$shim"
		done
	done
	# Linux AIO: the shim carries protected iocbs out inside io_submit.
	for rw in randread randwrite; do
		[ "$ONLY" = hot1 ] && break
		raw=$(fio_run "$W/raw" $rw 4k 1 hot libaio 32)
		shim=$(fio_run "$W/p" $rw 4k 1 hot libaio 32)
		record "fio $rw 4k libaio iodepth=32 hot" IOPS "$r" "$raw" "$shim"
	done
	if [ $can_drop = 1 ] && [ "$ONLY" = all ]; then
		# This VM's disk switches between about 3 GB/s and 0.6 GB/s from
		# one cold run to the next, whichever file is read: several pairs
		# per repeat, each starting with the other side, so the median
		# measures the shim rather than the disk's mood.
		for w in "read 1m MB/s" "randread 4k IOPS"; do
			# shellcheck disable=SC2086 # split on purpose
			set -- $w
			for k in $(seq "$COLD"); do
				if [ $((k % 2)) = 1 ]; then
					raw=$(fio_run "$W/raw" "$1" "$2" 1 cold)
					shim=$(fio_run "$W/p" "$1" "$2" 1 cold)
				else
					shim=$(fio_run "$W/p" "$1" "$2" 1 cold)
					raw=$(fio_run "$W/raw" "$1" "$2" 1 cold)
				fi
				record "fio $1 $2 numjobs=1 cold" "$3" "$r.$k" "$raw" "$shim"
			done
		done
	fi
	echo "bench: fio repeat $r done" >&2
done

# sqlite3: seconds per phase (lower is better; the ratio is raw / shim time,
# so like the others 1.0 is "as fast as raw").
SQL_PY='
import os, random, sqlite3, sys, time
path, rows = sys.argv[1], int(sys.argv[2])
for suffix in ("", "-journal", "-wal"):
    try: os.unlink(path + suffix)
    except FileNotFoundError: pass
db = sqlite3.connect(path, isolation_level=None)
db.execute("pragma journal_mode=delete")
db.execute("create table t(id integer primary key, k integer, v text)")
db.execute("create index tk on t(k)")
r = random.Random(1)
t0 = time.perf_counter()
for start in range(0, rows, 10000):
    db.execute("begin")
    db.executemany("insert into t(k, v) values (?, ?)",
                   ((r.randrange(1 << 30), "x" * r.randrange(20, 200)) for _ in range(min(10000, rows - start))))
    db.execute("commit")
t1 = time.perf_counter()
keys = [k for (k,) in db.execute("select k from t where id % 97 = 0")]
db.close()
db = sqlite3.connect(path, isolation_level=None)
t2 = time.perf_counter()
for k in keys * 4:
    db.execute("select v from t where k = ?", (k,)).fetchall()
t3 = time.perf_counter()
n = db.execute("select count(*), sum(length(v)) from t").fetchone()
t4 = time.perf_counter()
print("%.4f %.4f %.4f" % (t1 - t0, t3 - t2, t4 - t3))
'
sql_run() { # dir -> three times
	local pre=()
	[ "$1" = "$W/p" ] && pre=("${SHIM[@]}")
	"${pre[@]}" python3 -c "$SQL_PY" "$1/db.sqlite" "$ROWS"
}
[ "$ONLY" = all ] && echo "bench: sqlite3, $ROWS rows" >&2
for r in $(seq "$REP"); do
	[ "$ONLY" = all ] || break
	read -r ri rl rs < <(sql_run "$W/raw")
	read -r si sl ss < <(sql_run "$W/p")
	# time ratios inverted: raw_time / shim_time
	record "sqlite3 bulk insert" "s" "$r" "$si" "$ri"
	record "sqlite3 indexed lookups" "s" "$r" "$sl" "$rl"
	record "sqlite3 full scan" "s" "$r" "$ss" "$rs"
done
grep -q "checksum mismatch" "$W/log" 2>/dev/null && {
	echo "bench: the shim logged a mismatch during the benchmark" >&2
	exit 1
}
# Every write went through the shim: a scrub of the files fio wrote finds
# each block matching its checksum (a write that bypassed it would not).
for j in 0 1; do
	"$CS" check "$W/p/f.$j.0" >/dev/null || {
		echo "bench: csumshim check $W/p/f.$j.0 failed after the benchmark" >&2
		exit 1
	}
done

# Table, chart.
python3 - "$CSV" "$OUT" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
order = []
for r in rows:
    if r["workload"] not in order:
        order.append(r["workload"])
lines = ["| workload | unit | raw (median) | shim (median) | shim / raw: median [lowest, highest] |",
         "|---|---|---|---|---|"]
summary = []
for w in order:
    rs = [r for r in rows if r["workload"] == w]
    ratios = sorted(float(r["ratio"]) for r in rs)
    raw = statistics.median(float(r["raw"]) for r in rs)
    shim = statistics.median(float(r["shim"]) for r in rs)
    unit = rs[0]["unit"]
    if unit == "s":  # stored as (shim time, raw time): show the times the right way round
        raw, shim, unit = shim, raw, "s (lower is better)"
    med = statistics.median(ratios)
    num = lambda v: "%.0f" % v if v >= 1000 else "%g" % round(v, 3)
    lines.append("| %s | %s | %s | %s | %.2f [%.2f, %.2f] |" % (
        w, unit, num(raw), num(shim), med, ratios[0], ratios[-1]))
    summary.append((w, med, ratios[0], ratios[-1]))
open(sys.argv[2] + "/table.md", "w").write("\n".join(lines) + "\n")
with open(sys.argv[2] + "/ratios.dat", "w") as f:
    for i, (w, med, lo, hi) in enumerate(summary):
        f.write('%d "%s" %.3f %.3f %.3f\n' % (i, w.replace("fio ", "").replace("numjobs=", "j"), med, lo, hi))
print("\n".join(lines))
EOF
gnuplot <<EOF
set terminal pngcairo size 1100,600 noenhanced
set output "$OUT/ratios.png"
set title "csumshim: shim / raw (median of $REP, bars: lowest to highest)"
set yrange [0:1.3]
set ylabel "shim / raw (1.0 = as fast as raw)"
set xtics rotate by -35 font ",9"
set style fill solid 0.6
set boxwidth 0.6
set grid ytics
plot "$OUT/ratios.dat" using 1:3:xtic(2) with boxes notitle, \
     "" using 1:3:4:5 with yerrorbars lc rgb "black" pt 0 notitle, \
     0.8 with lines dt 2 lc rgb "red" title "0.80"
EOF
[ "$ONLY" = all ] && "$B/bench/checksum_bench" >"$OUT/checksum.txt"
echo "bench: wrote $CSV, $OUT/table.md, $OUT/ratios.png, $OUT/checksum.txt" >&2

if [ "${UPDATE_DOC:-1}" = 1 ]; then
	python3 - "$ROOT/BENCHMARKS.md" "$OUT" "$REP" "$SECS" "$SIZE" "$ROWS" "$can_drop" "$ARGS" "$COLD" "$LAYOUT" <<'EOF'
import datetime, os, platform, subprocess, sys
doc, out, rep, secs, size, rows, cold, args, pairs, layout = sys.argv[1:11]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "0")
body = ["<!-- bench/run.sh: begin (generated; do not edit by hand) -->",
        "Measured %s on %s, %d cores, %.0f GiB, kernel %s, file system of the work directory: %s." % (
            datetime.date.today().isoformat(), cpu, os.cpu_count(), int(mem) / 2**20,
            platform.release(),
            subprocess.run(["stat", "-f", "-c", "%T", out], capture_output=True, text=True).stdout.strip()),
        "Command: `REPEATS=%s SECONDS_PER_RUN=%s SIZE=%s ROWS=%s COLD_PAIRS=%s%s bench/run.sh %s`%s" % (
            rep, secs, size, rows, pairs, "" if layout == "interleaved" else " LAYOUT=" + layout, args,
            "" if cold == "1" else " (not root: no cold-cache runs)"),
        "", open(out + "/table.md").read().rstrip(), "",
        "![shim / raw](bench/ratios.png)", "",
        "<!-- bench/run.sh: end -->"]
text = open(doc).read()
a = text.find("<!-- bench/run.sh: begin")
b = text.find("<!-- bench/run.sh: end -->")
if a < 0 or b < 0:
    sys.exit("bench: BENCHMARKS.md has no bench/run.sh markers")
text = text[:a] + "\n".join(body) + text[b + len("<!-- bench/run.sh: end -->"):]
open(doc, "w").write(text)
EOF
	cp "$OUT/ratios.png" "$ROOT/bench/ratios.png"
	echo "bench: BENCHMARKS.md updated" >&2
fi
