#!/usr/bin/env bash
# Prepares this machine for ankmq's tests, idempotently: installs what is missing, writes the
# project's own containers.conf (never the machine's global one) and builds the local test image.
#
# Usage: scripts/test-env.sh            (as root, on Debian 12)
# Then:  source .test-env/env            (exports CONTAINERS_CONF for podman and the tests)
#
# Why each setting (see docs/testing.md):
# - runtime "runc": crun fails on these VMs ("cgroups in hybrid mode not supported").
# - default_ulimits at the hard limits: podman's defaults exceed them and every container would
#   fail with "setrlimit RLIMIT_NOFILE/NPROC: operation not permitted".
# - The image is imported from Debian's busybox-static: no registry is reachable from CI.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
env_dir="$root/.test-env"
image="localhost/ank-test/busybox:latest"

log() { printf 'test-env: %s\n' "$*" >&2; }
die() { printf 'test-env: error: %s\n' "$*" >&2; exit 1; }

# --- packages ---------------------------------------------------------------------------------
need=()
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
[ -x /bin/busybox ] && /bin/busybox --list >/dev/null 2>&1 || need+=(busybox-static)
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_sub >/dev/null || need+=(mosquitto-clients)
command -v openssl >/dev/null || need+=(openssl)  # TLS tests make their own CA
command -v podman-compose >/dev/null || need+=(podman-compose)  # tests/system/compose.rs
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing packages (${need[*]}) and not root: install them or rerun as root"
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  # policy-rc.d keeps Debian's mosquitto service from starting on port 1883, which our own
  # embedded broker uses by default; the tests start their own Mosquitto on free ports.
  policy=/usr/sbin/policy-rc.d
  had_policy=0; [ -e "$policy" ] && had_policy=1
  [ $had_policy = 1 ] || { printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; }
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
    || die "apt-get install ${need[*]} failed"
  [ $had_policy = 1 ] || rm -f "$policy"
fi
mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)
[ -x "$mosquitto_bin" ] || die "mosquitto is not installed"

# --- containers.conf --------------------------------------------------------------------------
mkdir -p "$env_dir"
nofile=$(ulimit -Hn); nproc=$(ulimit -Hu)
# Cap at sane values: "unlimited" is not a number podman accepts, and a workload needs far less.
cap() { if [ "$1" = unlimited ] || [ "$1" -gt "$2" ]; then echo "$2"; else echo "$1"; fi; }
nofile=$(cap "$nofile" 65536); nproc=$(cap "$nproc" 32768)
write_conf() {
  cat > "$env_dir/containers.conf" <<CONF
# Written by scripts/test-env.sh; do not edit (rerun the script instead).
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]

[engine]
runtime = "runc"
CONF
}
write_conf
cat > "$env_dir/env" <<ENV
# Written by scripts/test-env.sh. Source it: . .test-env/env
export CONTAINERS_CONF="$env_dir/containers.conf"
export ANK_TEST_IMAGE="$image"
export ANK_TEST_MOSQUITTO="$mosquitto_bin"
ENV
export CONTAINERS_CONF="$env_dir/containers.conf"

# --- test image -------------------------------------------------------------------------------
if ! podman image exists "$image"; then
  log "building $image from Debian's busybox-static"
  rootfs=$(mktemp -d)
  trap 'rm -rf "$rootfs"' EXIT
  mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/etc"
  cp /bin/busybox "$rootfs/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
  echo 'root:x:0:' > "$rootfs/etc/group"
  tar -C "$rootfs" -cf "$rootfs.tar" .
  podman import --change 'ENV=PATH=/bin' --change 'CMD=["/bin/sh"]' "$rootfs.tar" "$image" >/dev/null \
    || die "podman import of $image failed"
  rm -f "$rootfs.tar"
fi

# --- can podman run a container? ------------------------------------------------------------
# Even values below `ulimit -Hu` can be refused (seen: 65536 refused with a hard limit of 96551),
# so halve the limits until a container starts, and say so if none does.
run_probe() { podman run --rm "$image" echo ank-test-env-ok 2>&1; }
until out=$(run_probe) && [ "$out" = ank-test-env-ok ]; do
  if [ "$nproc" -le 1024 ] && [ "$nofile" -le 1024 ]; then
    die "podman cannot run a container with $CONTAINERS_CONF: $out"
  fi
  log "podman refused nofile=$nofile nproc=$nproc; halving"
  [ "$nproc" -le 1024 ] || nproc=$((nproc / 2))
  [ "$nofile" -le 1024 ] || nofile=$((nofile / 2))
  write_conf
done
log "ready: podman $(podman --version | awk '{print $3}') with runc (nofile=$nofile nproc=$nproc), image $image, $mosquitto_bin"
