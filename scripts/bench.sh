#!/usr/bin/env bash
# Runs ankmq's benchmark harness (issue 8): prepares the machine (scripts/test-env.sh), builds the
# release binaries, then runs bench/ (ank-bench), which prints a Markdown table and, with
# --json FILE, writes the full report. Every figure is measured beside its reference (raw podman,
# Mosquitto) in the same run. See docs/performance.md.
#
# Measurement 7 runs Eclipse Ankaios 1.0.1 beside ankmq (issue 17) from ANK_BENCH_ANKAIOS, by
# default ../shared/peers/ankaios-1.0.1 next to the main checkout (worktrees share it); without
# those binaries it is skipped with a note.
#
# Usage: scripts/bench.sh [--quick] [--json FILE] [--only 1,3,7,...] [--agents N] [--keep]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/test-env.sh
# shellcheck source=/dev/null
. .test-env/env
cargo build --release -p ank-controller -p ank-agent -p ank-cli -p ank-broker -p ank-bench
# 1,000 simulated agents hold one socket each, and so does the broker.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
main_checkout=$(cd "$(git rev-parse --git-common-dir)/.." && pwd)
export ANK_BENCH_ANKAIOS="${ANK_BENCH_ANKAIOS:-$main_checkout/../shared/peers/ankaios-1.0.1}"
exec target/release/ank-bench "$@"
