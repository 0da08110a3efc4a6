#!/usr/bin/env bash
# Install what csumshim needs to build and test (Debian 12), then build it.
#   scripts/setup.sh [BUILD_DIR]      default: build
# Packages are installed with apt-get only when missing.  Set
# CSUMSHIM_NO_APT=1 to skip the package step.  The list covers every step of
# scripts/test.sh on a minimal Debian 12 (debootstrap --variant=minbase):
# the build, every test (the programs run under the shim, loop devices,
# PostgreSQL, the static-binary case), scripts/lint.sh and the fuzzers.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}

PKGS=(
	build-essential cmake pkg-config uthash-dev libxxhash-dev libinih-dev # the build
	python3 procps util-linux mount e2fsprogs sqlite3 fio qemu-utils postgresql tar # the tests
	redis-server redis-tools                                # the tests: Redis
	libaio-dev mariadb-server python3-lmdb lmdb-utils python3-plyvel # the tests: asynchronous I/O, mappings (issue 16)
	libjemalloc2 libtcmalloc-minimal4                       # the tests: start-up under other allocators
	golang-go                                               # the tests: `csumshim run` warns for a Go binary
	clang libclang-rt-14-dev                                # the fuzzers (a clang build)
	git clang-format clang-tidy cppcheck                    # scripts/lint.sh
)

if [ "${CSUMSHIM_NO_APT:-0}" != 1 ]; then
	missing=()
	for p in "${PKGS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "setup: installing ${missing[*]}"
		SUDO=""
		[ "$(id -u)" -ne 0 ] && SUDO=sudo
		export DEBIAN_FRONTEND=noninteractive
		$SUDO apt-get update -qq
		$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
fi
# Every program a step calls, whatever installed it: one missing is an error
# here (a warning with CSUMSHIM_NO_APT=1), never a step that passes without
# running.
missing_tools=()
for t in cc clang cmake ctest pkg-config python3 git clang-format clang-tidy cppcheck pgrep \
	losetup blockdev blkdiscard runuser sqlite3 fio qemu-img mke2fs debugfs e2fsck nm objcopy go mdb_dump mdb_load mdb_stat; do
	PATH=$PATH:/usr/sbin:/sbin command -v "$t" >/dev/null || missing_tools+=("$t")
done
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing_tools+=(postgres)
if [ ${#missing_tools[@]} -gt 0 ]; then
	if [ "${CSUMSHIM_NO_APT:-0}" = 1 ]; then
		echo "setup: warning: not installed: ${missing_tools[*]} (tests needing them will fail or skip)" >&2
	else
		echo "setup: not found after installing packages: ${missing_tools[*]}" >&2
		exit 1
	fi
fi

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCSUMSHIM_WERROR=ON >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
