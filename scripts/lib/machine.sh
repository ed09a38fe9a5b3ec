# shellcheck shell=bash
# What ankmq needs from a Debian 12 machine, installed and then proven: sourced by
# scripts/test-env.sh (everything the tests use) and scripts/quickstart.sh (what running
# workloads needs). Each `prove_*` function exercises one capability for real and, when it is
# missing, stops at once with the missing piece and the package that provides it, so a gap never
# surfaces as a timeout deep inside a system test (issue 11). docs/testing.md lists the packages.
#
# The caller sets `machine_tag` (the prefix of every message) and `env_dir` (the project's own
# podman configuration, never the machine's global one) before calling anything.

log() { printf '%s: %s\n' "$machine_tag" "$*" >&2; }
die() { printf '%s: error: %s\n' "$machine_tag" "$*" >&2; exit 1; }
proved() { printf '%s: proved: %s\n' "$machine_tag" "$*" >&2; }

# The local test image: Debian's busybox-static in a tar, imported (no registry is reachable).
machine_image="localhost/ank-test/busybox:latest"

# --- packages -----------------------------------------------------------------------------------

# Whether the Debian package $1 is installed.
has_package() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# Installs the Debian packages among "$@" that are missing. policy-rc.d keeps Debian's
# mosquitto service from starting on port 1883 (our embedded broker's default); the tests start
# their own Mosquitto on free ports.
install_packages() {
  local need=() pkg
  for pkg in "$@"; do has_package "$pkg" || need+=("$pkg"); done
  [ ${#need[@]} -gt 0 ] || return 0
  [ "$(id -u)" = 0 ] || die "missing packages (${need[*]}) and not root: install them or rerun as root"
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  local policy=/usr/sbin/policy-rc.d had_policy=0
  [ -e "$policy" ] && had_policy=1
  [ $had_policy = 1 ] || { printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; }
  local status=0
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || status=$?
  [ $had_policy = 1 ] || rm -f "$policy"
  [ $status = 0 ] || die "apt-get install ${need[*]} failed"
  for pkg in "${need[@]}"; do has_package "$pkg" || die "package $pkg is still not installed"; done
}

# --- podman: the project's containers.conf and the test image ------------------------------------

# Why each setting (DESIGN.md, last section):
# - runtime "runc": crun fails on these VMs ("cgroups in hybrid mode not supported").
# - default_ulimits at or below the hard limits: podman's defaults exceed them and every container
#   would fail with "setrlimit RLIMIT_NOFILE/NPROC: operation not permitted".
write_containers_conf() { # nofile nproc
  mkdir -p "$env_dir"
  cat > "$env_dir/containers.conf" <<CONF
# Written by scripts/lib/machine.sh; do not edit (rerun scripts/test-env.sh instead).
[containers]
default_ulimits = ["nofile=$1:$1", "nproc=$2:$2"]

[engine]
runtime = "runc"
CONF
}

build_test_image() {
  podman image exists "$machine_image" && return 0
  [ -x /bin/busybox ] || die "/bin/busybox is missing (package busybox-static)"
  log "building $machine_image from Debian's busybox-static"
  local rootfs applet
  rootfs=$(mktemp -d)
  mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/etc"
  cp /bin/busybox "$rootfs/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
  echo 'root:x:0:' > "$rootfs/etc/group"
  tar -C "$rootfs" -cf "$rootfs.tar" .
  # PATH: podman kube play needs it in the image.
  if ! podman import --change 'ENV=PATH=/bin' --change 'CMD=["/bin/sh"]' "$rootfs.tar" "$machine_image" >/dev/null; then
    rm -rf "$rootfs" "$rootfs.tar"
    die "podman import of $machine_image failed"
  fi
  rm -rf "$rootfs" "$rootfs.tar"
}

# --- capabilities, each proven for real ----------------------------------------------------------

# A container starts with runc and the ulimits. Even values below `ulimit -Hu` can be refused
# (seen: 65536 refused with a hard limit of 96551), so this halves the limits until a container
# starts, and rewrites containers.conf with the values that worked.
prove_container_runs() {
  command -v runc >/dev/null || die "runc is missing (package runc): podman must use it on these machines"
  local nofile nproc out
  nofile=$(ulimit -Hn); nproc=$(ulimit -Hu)
  # "unlimited" is not a number podman accepts, and a workload needs far less.
  cap() { if [ "$1" = unlimited ] || [ "$1" -gt "$2" ]; then echo "$2"; else echo "$1"; fi; }
  nofile=$(cap "$nofile" 65536); nproc=$(cap "$nproc" 32768)
  write_containers_conf "$nofile" "$nproc"
  export CONTAINERS_CONF="$env_dir/containers.conf"
  build_test_image
  until out=$(podman run --rm "$machine_image" echo ank-env-ok 2>&1) && [ "$out" = ank-env-ok ]; do
    if [ "$nproc" -le 1024 ] && [ "$nofile" -le 1024 ]; then
      die "podman cannot run a container with runc and $CONTAINERS_CONF: $out"
    fi
    log "podman refused nofile=$nofile nproc=$nproc; halving"
    [ "$nproc" -le 1024 ] || nproc=$((nproc / 2))
    [ "$nofile" -le 1024 ] || nofile=$((nofile / 2))
    write_containers_conf "$nofile" "$nproc"
  done
  machine_ulimits="nofile=$nofile nproc=$nproc"
  proved "a container starts with podman $(podman --version | awk '{print $3}'), runc and ulimits $machine_ulimits"
}

# Two containers on one podman network resolve each other by name (podman-compose stacks need
# it). Podman 4.3 on Debian 12 networks with CNI, where only the dnsname plugin gives names.
prove_network_names() {
  local net=ank-env-probe-net server=ank-env-probe-server out
  [ -x /usr/lib/cni/dnsname ] \
    || die "the CNI dnsname plugin is missing (/usr/lib/cni/dnsname, package golang-github-containernetworking-plugin-dnsname): containers on one podman network cannot find each other by name"
  podman rm -f -t 0 "$server" >/dev/null 2>&1 || true
  podman network rm -f "$net" >/dev/null 2>&1 || true
  podman network create "$net" >/dev/null || die "podman network create failed"
  if ! out=$(podman run -d --name "$server" --network "$net" "$machine_image" sleep 60 2>&1); then
    podman network rm -f "$net" >/dev/null 2>&1 || true
    die "a container on a podman network did not start: $out"
  fi
  local status=0
  out=$(podman run --rm --network "$net" "$machine_image" nslookup "$server" 2>&1) || status=$?
  podman rm -f -t 0 "$server" >/dev/null 2>&1 || true
  podman network rm -f "$net" >/dev/null 2>&1 || true
  [ $status = 0 ] \
    || die "a container could not resolve another one on its podman network by name (dnsname plugin, package golang-github-containernetworking-plugin-dnsname; its dnsmasq: package dnsmasq-base): $out"
  proved "two containers on one podman network resolve each other by name"
}

# `podman kube play` of a one-container Pod starts it and `podman kube down` removes it. The pod's
# infra container needs catatonit as its init: podman builds its pause image from it.
prove_kube_play() {
  local pod=ank-env-probe-pod file out
  file=$(mktemp --suffix=.yaml)
  cat > "$file" <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: $pod
spec:
  restartPolicy: Never
  containers:
    - name: main
      image: $machine_image
      command: ["sleep", "60"]
YAML
  podman pod rm -f -t 0 "$pod" >/dev/null 2>&1 || true
  if ! out=$(podman kube play --quiet "$file" 2>&1); then
    rm -f "$file"
    case "$out" in
      *catatonit*) die "podman kube play cannot build its pause image: catatonit is missing (package catatonit): $out" ;;
      *) die "podman kube play of a one-container Pod failed: $out" ;;
    esac
  fi
  local state
  state=$(podman pod inspect "$pod" --format '{{.State}}' 2>&1) || state="not found: $state"
  if [ "$state" != Running ]; then
    podman kube down "$file" >/dev/null 2>&1 || true
    rm -f "$file"
    die "podman kube play started the Pod, but it is $state instead of Running"
  fi
  out=$(podman kube down "$file" 2>&1) || { rm -f "$file"; die "podman kube down failed: $out"; }
  rm -f "$file"
  ! podman pod exists "$pod" || die "podman kube down left the Pod $pod behind"
  proved "podman kube play starts a one-container Pod and podman kube down removes it"
}

# A port on 127.0.0.1 that nothing listens on (the kernel picks it, python3 is on every machine).
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Mosquitto starts on a free port and carries a retained message from mosquitto_pub to
# mosquitto_sub (the system tests start one per test this way).
prove_mosquitto() {
  local bin=/usr/sbin/mosquitto dir port pid out
  [ -x "$bin" ] || die "mosquitto is missing ($bin, package mosquitto)"
  command -v mosquitto_sub >/dev/null || die "mosquitto_sub is missing (package mosquitto-clients)"
  dir=$(mktemp -d); port=$(free_port)
  printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" > "$dir/mosquitto.conf"
  "$bin" -c "$dir/mosquitto.conf" > "$dir/log" 2>&1 &
  pid=$!
  local ok=0
  for _ in $(seq 1 50); do
    if mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 -r -t ank-env/probe -m ank-env-ok 2>/dev/null; then ok=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  out=""
  [ $ok = 1 ] && out=$(mosquitto_sub -h 127.0.0.1 -p "$port" -t ank-env/probe -C 1 -W 5 2>&1 || true)
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local log; log=$(tail -n 5 "$dir/log" 2>/dev/null); rm -rf "$dir"
  [ "$out" = ank-env-ok ] || die "Mosquitto did not start and serve on 127.0.0.1:$port (package mosquitto): ${out:-no answer} ${log}"
  proved "Mosquitto starts on a free port (127.0.0.1:$port) and serves a retained message"
}

# Debian's chromium renders a page headless to a PNG (the dashboard's browser tests, issue 18).
prove_chromium() {
  local bin=/usr/bin/chromium dir
  [ -x "$bin" ] || die "chromium is missing ($bin, package chromium)"
  dir=$(mktemp -d)
  # --no-sandbox: as root, chromium's sandbox needs namespaces a CI machine may not give.
  timeout 60 "$bin" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --window-size=320,200 --screenshot="$dir/probe.png" 'data:text/html,<p>ank-env</p>' >"$dir/log" 2>&1 || true
  local size; size=$(stat -c %s "$dir/probe.png" 2>/dev/null || echo 0)
  local log; log=$(tail -n 5 "$dir/log" 2>/dev/null); rm -rf "$dir"
  [ "$size" -gt 0 ] || die "headless chromium wrote no screenshot (package chromium): $log"
  proved "headless chromium $("$bin" --version 2>/dev/null | awk '{print $2}') renders a page to a PNG"
}

# playwright-core (the dashboard's pinned dev dependency) drives the system chromium: the
# dashboard must have been built (scripts/dashboard.sh installs its npm packages).
prove_playwright() { # dashboard_dir
  local dir=$1
  [ -d "$dir/node_modules/playwright-core" ] || die "playwright-core is not installed in $dir (scripts/dashboard.sh installs it)"
  (cd "$dir" && timeout 90 node --input-type=module -e "
    import { chromium } from 'playwright-core';
    const b = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
    const p = await b.newPage();
    await p.setContent('<p id=x>ank-env</p>');
    const t = await p.textContent('#x');
    await b.close();
    if (t !== 'ank-env') process.exit(1);
  ") || die "playwright-core could not drive /usr/bin/chromium from $dir"
  proved "playwright-core $(cd "$dir" && node -p "require('playwright-core/package.json').version") drives the system chromium"
}

# The Python packages the tests drive as third-party clients, in $env_dir/python (never the
# machine's site-packages): "name==version" arguments.
install_python_packages() {
  install_python_packages_into "$env_dir/python" "$@"
}

# Like install_python_packages, into the folder $1 (e.g. one that is bind-mounted into workloads).
install_python_packages_into() {
  local target="$1" spec missing=()
  shift
  command -v python3 >/dev/null || die "python3 is missing (package python3)"
  for spec in "$@"; do
    local name=${spec%%==*} version=${spec##*==}
    PYTHONPATH="$target" python3 - "$name" "$version" <<'PY' 2>/dev/null || missing+=("$spec")
import importlib.metadata as m, sys
sys.exit(0 if m.version(sys.argv[1]) == sys.argv[2] else 1)
PY
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  python3 -m pip --version >/dev/null 2>&1 || die "pip is missing for $(command -v python3) (package python3-pip)"
  log "installing ${missing[*]} into $target"
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --target "$target" --upgrade "${missing[@]}" \
    || die "pip install ${missing[*]} failed"
}

# The unchanged Ankaios Python SDK runs inside a workload the way the control-interface system
# tests run it (tests/system/control_interface/): the busybox test image with the host's Python
# and the SDK folder mounted read-only, importing the SDK and its protobuf runtime.
prove_ankaios_python_sdk() {
  local sdk="$env_dir/ankaios-sdk" out
  [ -x /usr/bin/python3 ] || die "/usr/bin/python3 is missing (package python3): the SDK apps run the host's Python in a container"
  out=$(podman run --rm -v /usr:/usr:ro -v /usr/lib:/lib:ro -v /usr/lib64:/lib64:ro \
    -v "$sdk:/opt/sdk:ro" -e PYTHONPATH=/opt/sdk "$machine_image" \
    /usr/bin/python3 -c 'import ankaios_sdk, google.protobuf; print("sdk-ok")' 2>&1) || true
  [ "$out" = sdk-ok ] || die "the Ankaios Python SDK does not import inside a container from $sdk (pip ankaios-sdk): $out"
  proved "ankaios-sdk imports inside a container (busybox image + the host's python3 + .test-env/ankaios-sdk)"
}
