#!/usr/bin/env python3
"""Fail if ctest skipped a test this machine can run.

Usage: check_skips.py JUNIT.xml...   (ctest --output-junit files)

Every skipped test must have printed its reason ("SKIP: ...") and must be
in EXPECTED below with a condition that holds on this machine; anything
else skipped fails the run, as does a file with no test in it.  The README
("Skips") lists the same conditions.
"""
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


FLAGS = cpu_flags()


def no_fold():
    need = {"avx512f", "avx512vl", "avx512bw", "vpclmulqdq", "pclmulqdq", "sse4_2"}
    missing = need - FLAGS
    return ("the CPU lacks " + " ".join(sorted(missing))) if missing else None


def no_sse42():
    return None if "sse4_2" in FLAGS else "the CPU lacks sse4_2"


def no_loop():
    if os.geteuid() != 0:
        return "not root"
    try:
        r = subprocess.run(["losetup", "-f"], capture_output=True, text=True)
    except OSError:
        return "no losetup"
    return None if r.returncode == 0 else "no free loop device: " + r.stderr.strip()


def etc_config():
    return "/etc/csumshim.conf exists" if os.path.exists("/etc/csumshim.conf") else None


# test name (a "_san" twin shares its entry) -> why it may be skipped here,
# or None when this machine must run it.
EXPECTED = {
    "test_checksum_fold": no_fold,
    "test_checksum": no_sse42,
    "cli_blockdev": no_loop,
    "shim_programs_loop": no_loop,
    "shim_device": no_loop,
    "shim_dmcsum_device": no_loop,
    "shim_config": etc_config,
}


def main(paths):
    bad = []
    total = skipped = 0
    for path in paths:
        cases = ET.parse(path).getroot().iter("testcase")
        n = 0
        for tc in cases:
            n += 1
            if tc.get("status") != "skipped" and tc.find("skipped") is None:
                continue
            skipped += 1
            name = tc.get("name")
            out = tc.findtext("system-out") or ""
            reasons = re.findall(r"^SKIP: .*$", out, re.M)
            base = re.sub(r"_san$", "", name)
            allowed = EXPECTED.get(base)
            why = allowed() if allowed else None
            print("skipped: %-24s %s%s" % (name, reasons[0] if reasons else "(no reason printed)",
                                             "  [expected here: %s]" % why if why else ""))
            if not reasons:
                bad.append("%s: skipped without printing 'SKIP: reason'" % name)
            if not why:
                bad.append("%s: skipped, but this machine can run it" % name)
        if n == 0:
            bad.append("%s: no test ran" % path)
        total += n
    for b in bad:
        print("FAIL:", b)
    print("skips: %d of %d tests skipped, %d unexpected" % (skipped, total, len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
