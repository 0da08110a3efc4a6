#!/usr/bin/env bash
# Runs test_calls under the shim with a config protecting DIR/p/ and,
# in the separate layout, DIR/s/*.dat.
# Usage: run_calls.sh PATH/TO/csumshim PATH/TO/test_calls
set -u
CS=$(readlink -f "$1"); BIN=$(readlink -f "$2")
T=$(mktemp -d "${TMPDIR:-/tmp}/csumshim-calls.XXXXXX")
trap 'rm -rf "$T"' EXIT
mkdir "$T/p" "$T/s"
printf '[global]\nlog = %s/log\n\n[%s/p/*]\n\n[%s/s/*.dat]\nlayout = separate\n' "$T" "$T" "$T" >"$T/conf"
"$CS" run --config "$T/conf" -- "$BIN" "$T"
