#!/usr/bin/env bash
# Set up, build, and run the demo on a built-in example.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build >/dev/null
exec examples/demo.sh build/csumshim
