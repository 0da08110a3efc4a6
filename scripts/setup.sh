#!/usr/bin/env bash
# Install what csumshim needs to build and test (Debian 12), then build it.
#   scripts/setup.sh [BUILD_DIR]      default: build
# Packages are installed with apt-get only when missing.  Set
# CSUMSHIM_NO_APT=1 to skip the package step.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}

PKGS=(build-essential cmake pkg-config uthash-dev libxxhash-dev libinih-dev python3
      clang libclang-rt-14-dev e2fsprogs util-linux sqlite3 fio qemu-utils postgresql
      # asynchronous I/O, mappings and start-up under other allocators (issue 16)
      libaio-dev mariadb-server python3-lmdb python3-plyvel libjemalloc2
      libtcmalloc-minimal4 redis-server)

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

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCSUMSHIM_WERROR=ON >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
