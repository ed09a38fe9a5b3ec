#!/usr/bin/env bash
# Builds the image docker-compose.yml runs, localhost/ankmq:latest, without any registry.
#
# No image registry is reachable on the project's machines, so the image is assembled locally:
# the base is the test image `localhost/ank-test/busybox:latest` (built by scripts/test-env.sh
# from Debian's busybox-static, so it has a shell), plus
#   - the four binaries, stripped: ank-broker, ank-controller, ank-agent, ank;
#   - the host's podman binary, used inside the agent container as a *remote* client
#     (CONTAINER_HOST=unix://…) that drives the host's podman through its API socket;
#   - every shared library `ldd` lists for those programs, copied from the host.
# The Containerfile is scripts/ankmq.Containerfile; `podman build` only copies files, it runs
# nothing inside the image.
#
# Usage: scripts/compose-images.sh            (after scripts/test-env.sh; as root)
# Settings, from the environment:
#   ANKMQ_IMAGE     the tag to build (default localhost/ankmq:latest)
#   ANKMQ_PROFILE   cargo profile of the binaries: release (default) or debug
#   ANKMQ_SKIP_BUILD=1  use the binaries already in target/ instead of running cargo (the system
#                   tests set it: a `cargo build -p …` during the test run relinks binaries that
#                   other tests are starting at that moment)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
image=${ANKMQ_IMAGE:-localhost/ankmq:latest}
profile=${ANKMQ_PROFILE:-release}
base="localhost/ank-test/busybox:latest"

log() { printf 'compose-images: %s\n' "$*" >&2; }
die() { printf 'compose-images: error: %s\n' "$*" >&2; exit 1; }

# The project's containers.conf (runc, ulimits): podman on these machines needs it.
[ -f "$root/.test-env/env" ] && . "$root/.test-env/env"

for tool in cargo podman ldd; do
  command -v "$tool" >/dev/null || die "$tool is not installed (run scripts/test-env.sh)"
done
podman image exists "$base" || die "the base image $base is missing: run scripts/test-env.sh"

case "$profile" in
  release) cargo_flags=(--release); target_dir=release ;;
  debug) cargo_flags=(); target_dir=debug ;;
  *) die "ANKMQ_PROFILE must be release or debug, not '$profile'" ;;
esac

if [ "${ANKMQ_SKIP_BUILD:-0}" = 1 ]; then
  log "using the $profile binaries already built"
else
  log "building the binaries ($profile)"
  (cd "$root" && cargo build "${cargo_flags[@]}" \
    -p ank-broker -p ank-controller -p ank-agent -p ank-cli --bins) \
    || die "cargo build failed"
fi
bin_dir=$(cd "$root" && cargo metadata --format-version 1 --no-deps 2>/dev/null \
  | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin_dir="${bin_dir:-$root/target}/$target_dir"

podman_bin=$(command -v podman)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
rootfs="$stage/rootfs"
mkdir -p "$rootfs/usr/local/bin" "$rootfs/usr/bin" "$rootfs/var/lib/ankmq" "$rootfs/root"

programs=()
for name in ank-broker ank-controller ank-agent ank; do
  [ -x "$bin_dir/$name" ] || die "$bin_dir/$name was not built"
  cp "$bin_dir/$name" "$rootfs/usr/local/bin/$name"
  # Debug builds carry ~100 MB of debug info each; the image needs none of it.
  command -v strip >/dev/null && strip --strip-debug "$rootfs/usr/local/bin/$name"
  programs+=("$rootfs/usr/local/bin/$name")
done
cp "$podman_bin" "$rootfs/usr/bin/podman"
programs+=("$podman_bin")

# Every library ldd resolves (`name => /path (addr)`) and the loader (`/lib64/ld-… (addr)`),
# copied to the same path, following symlinks so the image holds real files.
libs=$(for p in "${programs[@]}"; do ldd "$p"; done \
  | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
[ -n "$libs" ] || die "ldd listed no libraries (are the binaries static?)"
for lib in $libs; do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
# The loader must sit where the ELF headers name it, whatever ldd printed.
if [ ! -e "$rootfs/lib64/ld-linux-x86-64.so.2" ] && [ -e /lib64/ld-linux-x86-64.so.2 ]; then
  mkdir -p "$rootfs/lib64"
  cp -L /lib64/ld-linux-x86-64.so.2 "$rootfs/lib64/"
fi

cp "$root/scripts/ankmq.Containerfile" "$stage/Containerfile"
log "building $image (base $base, $(du -sh "$rootfs" | cut -f1) added)"
podman build --quiet --tag "$image" --build-arg "BASE=$base" --file "$stage/Containerfile" \
  "$stage" >/dev/null || die "podman build failed"
for name in ank-broker ank-controller ank-agent ank; do
  podman run --rm "$image" "$name" --version >/dev/null \
    || die "$name does not start inside $image (a missing library?)"
done
podman run --rm "$image" podman --version >/dev/null \
  || die "the podman client does not start inside $image"
log "built $image"
