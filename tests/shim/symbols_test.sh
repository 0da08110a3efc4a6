#!/usr/bin/env bash
# libcsumshim.so exports exactly the names in src/shim/calls.h (plus its
# version query), and a program that defines functions and variables with
# the library's internal names still works under it: nothing internal can
# collide.  Usage: symbols_test.sh SRC_DIR PATH/TO/libcsumshim.so PATH/TO/csumshim
set -u
SRC=$1 LIB=$(readlink -f "$2") CS=$(readlink -f "$3")
T=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-sym.XXXXXX")
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
want=$(grep -oE 'X\([^,()]+, *[A-Za-z0-9_]+,' "$SRC/src/shim/calls.h" | sed -E 's/.*, *([A-Za-z0-9_]+),$/\1/' | sort -u)
want=$(printf '%s\ncsumshim_version\n' "$want" | sort -u)
got=$(nm -D --defined-only "$LIB" | awk '{print $3}' | sed 's/@.*//' | sort -u)
if [ "$want" = "$got" ]; then pass=$((pass + 1)); else
	fail=$((fail + 1)); echo "FAIL: exported symbols differ from calls.h:"; diff <(echo "$want") <(echo "$got")
fi
n=$(echo "$want" | wc -l)
[ "$n" -ge 70 ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: only $n names"; }

# A host program whose own symbols share the library's internal names.
cat >"$T/host.c" <<'C'
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int csm_open(void) { return 41; }
int shim_open(void) { return 42; }
int shim_fd(int x) { return x + 1; }
long csm_pread(void) { return 43; }
int csm_cfg = 44, csm_real = 45, csm_guard = 46;
void report(void) {}
int main(int argc, char **argv)
{
	(void)argc;
	int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
	char b[8] = {0};
	if (fd < 0 || write(fd, "abc", 3) != 3 || pread(fd, b, 8, 0) != 3 || strcmp(b, "abc"))
		return 1;
	printf("%d %d %d %ld %d %d %d\n", csm_open(), shim_open(), shim_fd(1), csm_pread(), csm_cfg,
	       csm_real, csm_guard);
	return close(fd);
}
C
cc -O1 -o "$T/host" "$T/host.c" -rdynamic || exit 2
mkdir "$T/p"
printf '[%s/p/*]\n' "$T" >"$T/conf"
out=$("$CS" run --config "$T/conf" -- "$T/host" "$T/p/x.img")
if [ $? -eq 0 ] && [ "$out" = "41 42 2 43 44 45 46" ]; then pass=$((pass + 1)); else
	fail=$((fail + 1)); echo "FAIL: host program with colliding names: '$out'"
fi
# ... and its file really went through the shim.
sz=$(stat -c %s "$T/p/x.img")
[ "$sz" -gt 3 ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: file not formatted ($sz bytes)"; }
echo "symbols: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
