#!/usr/bin/env bash
# The project's test command (README "Test it"; CI calls exactly this through .ci/run).
# Sets up the machine (scripts/test-env.sh), then runs the same checks a reviewer would:
# formatting, clippy with warnings as errors, and every test of the workspace on real podman
# and real brokers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/test-env.sh
# shellcheck source=/dev/null
. .test-env/env

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
