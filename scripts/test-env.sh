#!/usr/bin/env bash
# Prepares this machine for ankmq's tests, idempotently, and proves that it can run them: installs
# every Debian package the tests use that a fresh machine lacks, writes the project's own
# containers.conf (never the machine's global one), builds the local test image, installs the
# Python clients the tests drive, then exercises each capability the tests rely on and stops at
# once, naming the missing piece and its package, when one is absent (scripts/lib/machine.sh).
#
# Usage: scripts/test-env.sh            (as root, on Debian 12)
# Then:  source .test-env/env            (exports CONTAINERS_CONF and the tests' settings)
#
# docs/testing.md lists every package and why it is needed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
env_dir="$root/.test-env"
machine_tag=test-env
# shellcheck source=lib/machine.sh
. "$root/scripts/lib/machine.sh"

# Keep in step with the table in docs/testing.md.
install_packages \
  podman runc catatonit \
  golang-github-containernetworking-plugin-dnsname dnsmasq-base \
  busybox-static \
  mosquitto mosquitto-clients \
  openssl \
  podman-compose \
  chromium fonts-dejavu-core protobuf-compiler
install_python_packages paho-mqtt==2.2.0
# The control-interface tests run the unchanged Ankaios SDK inside workloads, from its own folder.
install_python_packages_into "$env_dir/ankaios-sdk" ankaios-sdk==1.0.1

prove_container_runs
prove_kube_play
prove_network_names
prove_mosquitto
prove_chromium
# The dashboard's page (served by the tests' controllers) and its npm packages (playwright-core
# for the browser tests); Node and npm come with the machine.
command -v npm >/dev/null || die "npm is missing: the dashboard's build needs Node 18+ with npm"
"$root/scripts/dashboard.sh"
prove_playwright "$root/dashboard"
PYTHONPATH="$env_dir/python" python3 -c 'import paho.mqtt.client' 2>/dev/null \
  || die "the Python package paho-mqtt does not import from $env_dir/python"
proved "python3 $(python3 -c 'import sys; print(sys.version.split()[0])') imports paho-mqtt from .test-env/python"
prove_ankaios_python_sdk
command -v protoc >/dev/null || die "protoc is missing (package protobuf-compiler): the Ankaios Rust SDK's build script needs it"
proved "$(protoc --version) for the Ankaios Rust SDK's build script (tests/examples/rust_sdk_probe.rs)"

cat > "$env_dir/env" <<ENV
# Written by scripts/test-env.sh. Source it: . .test-env/env
export CONTAINERS_CONF="$env_dir/containers.conf"
export ANK_TEST_IMAGE="$machine_image"
export ANK_TEST_MOSQUITTO=/usr/sbin/mosquitto
export ANK_TEST_PYTHONPATH="$env_dir/python"
export ANK_TEST_ANKAIOS_SDK="$env_dir/ankaios-sdk"
ENV
log "ready: podman with runc ($machine_ulimits), image $machine_image, Mosquitto, chromium, the built dashboard, python clients in .test-env/python"
