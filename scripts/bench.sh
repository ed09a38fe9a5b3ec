#!/usr/bin/env bash
# Runs ankmq's benchmark harness (issue 8): prepares the machine (scripts/test-env.sh), builds the
# release binaries, then runs bench/ (ank-bench), which prints a Markdown table and, with
# --json FILE, writes the full report. Every figure is measured beside its reference (raw podman,
# Mosquitto) in the same run. See docs/performance.md.
#
# Usage: scripts/bench.sh [--quick] [--json FILE] [--only 1,3,...] [--agents N] [--keep]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/test-env.sh
# shellcheck source=/dev/null
. .test-env/env
cargo build --release -p ank-controller -p ank-agent -p ank-cli -p ank-broker -p ank-bench
# 1,000 simulated agents hold one socket each, and so does the broker.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec target/release/ank-bench "$@"
