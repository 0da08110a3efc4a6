#!/usr/bin/env bash
# Scale and memory: how csumshim's cost grows with the data.
#
#   bench/scale.sh [BUILD_DIR] [DIR_FOR_FILES]
#
# env: SIZES ("1 4 16", GiB), SPARSE (64, GiB), UPDATE_DOC (1: rewrite the
#      scale section of BENCHMARKS.md), OUT (bench-results)
#
# 1. format of a 1 TiB file (best and median of 5).
# 2. For each size: a plain file of random bytes, `csumshim import` of it
#    (every block hashed and written), then, page cache dropped before each
#    (root only; else hot): `cat` of the plain file, `csumshim check` of the
#    csumshim file, and `cat` of the csumshim file through the shim.  With
#    the cache hot as well for sizes that fit in half the memory.
# 3. Memory: `cat` through the shim of a SPARSE GiB csumshim file that was
#    never written (every block verified as zeros), its peak RSS against
#    the same `cat` of a sparse plain file, with the default metadata cache
#    (16 MiB) and with `cache = 1M`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$(readlink -f "${1:-$ROOT/build}")
DIR=$(readlink -f "${2:-.}")
ARGS="${1:-build} ${2:-.}" # as typed, for the command recorded in BENCHMARKS.md
SIZES=${SIZES:-1 4 16}
SPARSE=${SPARSE:-64}
OUT=$(readlink -f "${OUT:-bench-results}")
CS=$B/csumshim
[ -x "$CS" ] || {
	echo "bench: $CS not built (scripts/setup.sh $B)" >&2
	exit 1
}
mkdir -p "$OUT"
W=$(mktemp -d "$DIR/csm-scale.XXXXXX")
trap 'rm -rf "$W"' EXIT
mkdir "$W/p"
printf '[global]\nlog = %s/log\n\n[%s/p/*]\n' "$W" "$W" >"$W/conf"
printf '[global]\nlog = %s/log\ncache = 1M\n\n[%s/p/*]\n' "$W" "$W" >"$W/conf1m"
export CSUMSHIM_CONFIG=$W/conf
can_drop=0
if [ -w /proc/sys/vm/drop_caches ]; then can_drop=1; fi
memkb=$(awk '/MemTotal/ {print $2}' /proc/meminfo)

# measure LABEL CMD... : runs CMD (stdout to /dev/null), prints
# "seconds maxrss_kib" and appends both to the CSV.
CSV=$OUT/scale.csv
echo "what,size_gib,cache,seconds,maxrss_kib" >"$CSV"
measure() {
	local what=$1 size=$2 cache=$3
	shift 3
	python3 - "$@" <<'EOF' | tee -a /dev/stderr | sed "s/^/$what,$size,$cache,/" >>"$CSV"
import subprocess, sys, time
# Peak RSS: the process's own high-water mark (VmHWM), polled until it
# exits (getrusage would count the forked Python before the exec).
t = time.perf_counter()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
hwm = 0
while p.poll() is None:
    try:
        for line in open("/proc/%d/status" % p.pid):
            if line.startswith("VmHWM:"):
                hwm = max(hwm, int(line.split()[1]))
    except (OSError, ValueError):
        pass
    time.sleep(0.02)
dt = time.perf_counter() - t
if p.returncode:
    sys.exit("scale: %s exited with %d" % (sys.argv[1:], p.returncode))
print("%.3f,%d" % (dt, hwm))
EOF
}
drop() { [ $can_drop = 1 ] && sync && echo 3 >/proc/sys/vm/drop_caches; }

echo "scale: format 1 TiB, 5 times" >&2
for _ in 1 2 3 4 5; do
	rm -f "$W/p/tib"
	measure "format 1 TiB" 1024 - "$CS" format --size 1T "$W/p/tib"
done
"$CS" check "$W/p/tib" >/dev/null # a scrub of a never-written file reads only headers
rm -f "$W/p/tib"

for g in $SIZES; do
	echo "scale: $g GiB" >&2
	dd if=/dev/urandom of="$W/plain" bs=1M count=$((g * 1024)) status=none
	rm -f "$W/p/f"
	drop || true
	measure "import" "$g" cold "$CS" import "$W/plain" "$W/p/f"
	sync
	for temp in cold hot; do
		if [ $temp = cold ]; then
			[ $can_drop = 1 ] || continue
		else
			# both files must fit in the cache with room to spare
			[ $((g * 2 * 1024 * 1024 * 2)) -lt "$memkb" ] || continue
			cat "$W/plain" "$W/p/f" >/dev/null
		fi
		drop_if() { [ $temp = cold ] && drop; true; }
		drop_if
		measure "cat plain" "$g" $temp cat "$W/plain"
		drop_if
		measure "csumshim check" "$g" $temp "$CS" check "$W/p/f"
		drop_if
		measure "cat through the shim" "$g" $temp "$CS" run -- cat "$W/p/f"
	done
	rm -f "$W/plain" "$W/p/f"
done

echo "scale: memory, $SPARSE GiB sparse" >&2
truncate -s "${SPARSE}G" "$W/sparse"
"$CS" format --size "${SPARSE}G" "$W/p/sparse" >/dev/null
measure "cat sparse plain" "$SPARSE" - cat "$W/sparse"
measure "cat sparse through the shim" "$SPARSE" 16M "$CS" run -- cat "$W/p/sparse"
CSUMSHIM_CONFIG=$W/conf1m measure "cat sparse through the shim" "$SPARSE" 1M "$CS" run -- cat "$W/p/sparse"
rm -f "$W/sparse" "$W/p/sparse"
if grep -q "checksum mismatch\|not zero" "$W/log" 2>/dev/null; then
	echo "scale: the shim logged a mismatch" >&2
	exit 1
fi

python3 - "$CSV" "$OUT" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
out = []
fmt = sorted(float(r["seconds"]) for r in rows if r["what"] == "format 1 TiB")
out.append("format of a 1 TiB file: best %.3f s, median %.3f s (5 runs)." % (fmt[0], statistics.median(fmt)))
out.append("")
out.append("| size | cache | import GB/s | cat plain GB/s | check GB/s | check / cat | cat through the shim GB/s | shim / cat |")
out.append("|---|---|---|---|---|---|---|---|")
def get(what, size, cache):
    for r in rows:
        if r["what"] == what and r["size_gib"] == size and r["cache"] == cache:
            return float(r["seconds"])
sizes = []
for r in rows:
    if r["what"] == "cat plain" and (r["size_gib"], r["cache"]) not in sizes:
        sizes.append((r["size_gib"], r["cache"]))
for size, cache in sizes:
    b = int(size) * 2**30 / 1e9
    imp, cat, chk, shim = get("import", size, "cold"), get("cat plain", size, cache), \
        get("csumshim check", size, cache), get("cat through the shim", size, cache)
    out.append("| %s GiB | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |" % (
        size, cache, b / imp, b / cat, b / chk, cat / chk, b / shim, cat / shim))
out.append("")
out.append("| %s GiB sparse, read end to end | metadata cache | peak RSS |" % rows[-1]["size_gib"])
out.append("|---|---|---|")
for r in rows:
    if r["what"].startswith("cat sparse"):
        out.append("| %s | %s | %.1f MiB |" % (r["what"].replace("cat sparse ", "cat, "), r["cache"],
                                             int(r["maxrss_kib"]) / 1024))
open(sys.argv[2] + "/scale.md", "w").write("\n".join(out) + "\n")
print("\n".join(out))
EOF

if [ "${UPDATE_DOC:-1}" = 1 ]; then
	python3 - "$ROOT/BENCHMARKS.md" "$OUT" "$SIZES" "$SPARSE" "$can_drop" "$ARGS" <<'EOF'
import datetime, os, platform, subprocess, sys
doc, out, sizes, sparse, cold, args = sys.argv[1:7]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
body = ["<!-- bench/scale.sh: begin (generated; do not edit by hand) -->",
        "Measured %s on %s, %d cores, kernel %s, file system of the work directory: %s." % (
            datetime.date.today().isoformat(), cpu, os.cpu_count(), platform.release(),
            subprocess.run(["stat", "-f", "-c", "%T", out], capture_output=True, text=True).stdout.strip()),
        "Command: `SIZES=\"%s\" SPARSE=%s bench/scale.sh %s`%s" % (
            sizes, sparse, args, "" if cold == "1" else " (not root: no cold-cache runs)"),
        "", open(out + "/scale.md").read().rstrip(), "",
        "<!-- bench/scale.sh: end -->"]
text = open(doc).read()
a = text.find("<!-- bench/scale.sh: begin")
b = text.find("<!-- bench/scale.sh: end -->")
if a < 0 or b < 0:
    sys.exit("bench: BENCHMARKS.md has no bench/scale.sh markers")
text = text[:a] + "\n".join(body) + text[b + len("<!-- bench/scale.sh: end -->"):]
open(doc, "w").write(text)
EOF
	echo "scale: BENCHMARKS.md updated" >&2
fi
