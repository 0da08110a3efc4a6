#!/usr/bin/env bash
# A broken configuration never lets a program run unprotected: for each
# kind of error, both `csumshim run` and a bare LD_PRELOAD print one line
# "csumshim: FILE:LINE: ..." (or "FILE: ...") and exit 78, and the command
# does not run.  A case this machine cannot run (/etc/csumshim.conf exists,
# no static libc) is skipped: the other cases still run, then exit 77 with
# the reasons.  Usage: config_test.sh PATH/TO/csumshim PATH/TO/libcsumshim.so
set -u
CS=$(readlink -f "$1") LIB=$(readlink -f "$2")
T=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-conf.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 2
pass=0 fail=0
skips=()

# case NAME PATTERN CONFIG-TEXT
case_() {
	local name=$1 pat=$2
	printf '%b' "$3" >c.conf
	for how in run preload; do
		rm -f ran
		if [ $how = run ]; then
			"$CS" run --config c.conf -- touch ran 2>err
		else
			CSUMSHIM_CONFIG=$T/c.conf LD_PRELOAD=$LIB touch ran 2>err
		fi
		local rc=$?
		if [ $rc -eq 78 ] && [ ! -e ran ] && [ "$(wc -l <err)" -eq 1 ] && grep -qE -- "^csumshim: $pat" err; then
			pass=$((pass + 1))
		else
			fail=$((fail + 1))
			echo "FAIL ($name, $how): exit $rc, ran=$([ -e ran ] && echo yes || echo no)"
			sed 's/^/    | /' err
		fi
	done
}

case_ "syntax" "$T/c.conf:2: syntax error" '[/a/*]\nno equals sign here\n'
case_ "unknown key" "$T/c.conf:3: unknown key 'colour'" '[/a/*]\nlayout = separate\ncolour = red\n'
case_ "unknown global key" "$T/c.conf:2: unknown key 'verbose' in \\[global\\]" '[global]\nverbose = 1\n'
case_ "block_size" "$T/c.conf:2: block_size: must be 512" '[/a/*]\nblock_size = 1000\n'
case_ "layout" "$T/c.conf:2: layout: expected interleaved or separate" '[/a/*]\nlayout = mirror\n'
case_ "checksum" "$T/c.conf:2: checksum: expected crc32c or xxh3" '[/a/*]\nchecksum = md5\n'
case_ "create" "$T/c.conf:2: create: expected yes or no" '[/a/*]\ncreate = maybe\n'
case_ "on_mismatch" "$T/c.conf:2: on_mismatch: expected error or log" '[/a/*]\non_mismatch = ignore\n'
case_ "solo" "$T/c.conf:2: solo: expected yes or no" '[/a/*]\nsolo = sometimes\n'
case_ "format" "$T/c.conf:2: format: expected csumshim or dm-csum" '[/a/*]\nformat = dm-sum\n'
case_ "dm-csum log" "$T/c.conf:3: format = dm-csum: on_mismatch = log is not available" '[/a/*]\nformat = dm-csum\non_mismatch = log\n'
case_ "dm-csum strict" "$T/c.conf:3: format = dm-csum: durability = strict is not available" '[/a/*]\ndurability = strict\nformat = dm-csum\n'
case_ "metadata" "$T/c.conf:3: metadata: unknown escape" '[/a/*]\nlayout = separate\nmetadata = %q.csum\n'
case_ "log" "$T/c.conf:2: log: expected stderr, syslog or an absolute path" '[global]\nlog = somewhere\n'
case_ "cache" "$T/c.conf:2: cache: not a size" '[global]\ncache = lots\n'
case_ "relative section" "$T/c.conf:1: section \\[data/\\*.img\\]: expected \\[global\\], \\[faults\\] or an absolute path glob" '[data/*.img]\n'
case_ "unclosed section" "$T/c.conf:3: section header without" '[/a/*]\n\n[/b/*\n'
case_ "key outside section" "$T/c.conf:1: " 'layout = separate\n'

# Missing files.
rm -f c.conf ran
"$CS" run --config "$T/nope.conf" -- touch ran 2>err
[ $? -eq 78 ] && [ ! -e ran ] && grep -q "nope.conf: cannot read the config" err &&
	pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: missing --config"; cat err; }
CSUMSHIM_CONFIG=$T/nope.conf LD_PRELOAD=$LIB touch ran 2>err
[ $? -eq 78 ] && [ ! -e ran ] && grep -q "nope.conf: no configuration" err &&
	pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: missing CSUMSHIM_CONFIG"; cat err; }
env -u CSUMSHIM_CONFIG HOME=$T XDG_CONFIG_HOME=$T/xdg LD_PRELOAD=$LIB touch ran 2>err
rc=$?
if [ -e /etc/csumshim.conf ]; then
	skips+=("/etc/csumshim.conf exists: the 'no configuration anywhere' case cannot run")
else
	[ $rc -eq 78 ] && [ ! -e ran ] && grep -q "no configuration" err &&
		pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: no config anywhere"; cat err; }
fi
# The XDG location is found.
mkdir -p xdg/csumshim && printf '[/a/*]\n' >xdg/csumshim/csumshim.conf
env -u CSUMSHIM_CONFIG XDG_CONFIG_HOME=$T/xdg LD_PRELOAD=$LIB touch ran 2>err
[ $? -eq 0 ] && [ -e ran ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: XDG config"; cat err; }
# `run` warns about a statically linked command (nothing can be intercepted).
printf '[/a/*]\n' >ok.conf
printf 'int main(void){return 0;}\n' >st.c
if cc -static -o st st.c 2>/dev/null; then
	"$CS" run --config ok.conf -- ./st 2>err
	[ $? -eq 0 ] && grep -q "warning: ./st is statically linked" err && pass=$((pass + 1)) ||
		{ fail=$((fail + 1)); echo "FAIL: no warning for a static binary"; cat err; }
	"$CS" run --config ok.conf -- /bin/true 2>err
	[ ! -s err ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: warning for a dynamic binary"; cat err; }
else
	skips+=("no static libc (libc6-dev): the static-binary warning case cannot run")
fi
# `run` warns about a Go program (its system calls bypass libc) and runs it:
# copies of /bin/true given each section the Go linker writes, and a real
# Go program when the toolchain is here.
printf 'go1.19\n' >gosect
if command -v objcopy >/dev/null; then
	for s in .go.buildinfo .note.go.buildid; do
		cp /bin/true "gotrue$s" && objcopy --add-section "$s=gosect" "gotrue$s" || continue
		"$CS" run --config ok.conf -- "./gotrue$s" 2>err
		[ $? -eq 0 ] && [ "$(wc -l <err)" -eq 1 ] && grep -q "warning: ./gotrue$s is a Go program" err &&
			pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: no warning for an ELF with $s"; cat err; }
	done
	cp /bin/true notgo && objcopy --add-section .go.notbuildinfo=gosect notgo &&
		"$CS" run --config ok.conf -- ./notgo 2>err
	[ $? -eq 0 ] && [ ! -s err ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: warning for ./notgo"; cat err; }
else
	skips+=("no objcopy (binutils): the Go-section warning cases cannot run")
fi
if command -v go >/dev/null; then
	mkdir gohello && printf 'package main\n\nfunc main() { println("hello") }\n' >gohello/main.go
	if (cd gohello && HOME=$T GOCACHE=$T/gocache GOPATH=$T/gopath GO111MODULE=off GOFLAGS= \
		go build -o ../hello main.go) >goerr 2>&1; then
		"$CS" run --config ok.conf -- ./hello >out 2>err
		[ $? -eq 0 ] && grep -q "warning: ./hello is a Go program" err && grep -q hello err &&
			pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: no warning for a Go binary"; cat err; }
	else
		fail=$((fail + 1))
		echo "FAIL: go build"
		cat goerr
	fi
else
	skips+=("no Go toolchain (Debian golang-go): the real Go binary case cannot run")
fi
echo "config: $pass passed, $fail failed"
[ "$fail" -eq 0 ] || exit 1
if [ ${#skips[@]} -gt 0 ]; then
	printf 'SKIP: %s\n' "${skips[@]}"
	exit 77
fi
