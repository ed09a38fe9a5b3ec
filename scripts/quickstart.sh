#!/usr/bin/env bash
# ankmq in one command: installs what is missing, builds the release binaries, starts a
# controller (with its embedded MQTT broker and the live dashboard page) and one agent `agent_A`
# in the background, applies examples/quickstart.yaml with real podman containers, prints
# `ank get workloads` and the dashboard's URL.
#
# Usage (as root on Debian 12, from a clone of the repository):
#   scripts/quickstart.sh          start everything (again: starts only what is not running)
#   scripts/quickstart.sh start --secure
#                                  the same, secured (issue 13): `ank-broker setup` writes a CA,
#                                  certificates, passwords and the ACL to .quickstart/secure/
#                                  (0700); the embedded broker then takes only mutual TLS on
#                                  127.0.0.1:8883 (no plain listener), the agent and `ank` log in
#                                  with their certificates. `status` and `stop` follow the mode
#                                  `start` used. No dashboard in this mode (it logs in by password).
#   scripts/quickstart.sh status   the processes, agents and workloads
#   scripts/quickstart.sh stop     delete the quickstart's workloads, stop the processes
#
# Everything lives in .quickstart/ (state, logs, pid files, the agent's run folder); delete that
# folder after `stop` to forget the quickstart's state. Settings, from the environment:
#   QUICKSTART_PORT   broker port on 127.0.0.1 (default: the one `start` used last, else 1883,
#                     where `ank` looks by default)
#   QUICKSTART_WAIT   seconds to wait for each start-up step (default 60)
#   QUICKSTART_DASHBOARD_PORT  the dashboard page on 127.0.0.1 (default 8088); its MQTT-over-
#                     WebSocket listener is the next port (docs/dashboard.md)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
qs="$root/.quickstart"
# `start` remembers the port, so `status` and `stop` reach the same controller without the variable.
secure=0
if [ "${1:-start}" = start ] && [ "${2:-}" = --secure ]; then
  secure=1
elif [ "${1:-start}" = start ] && [ -n "${2:-}" ]; then
  echo "quickstart: unknown option '$2' (start takes --secure)" >&2; exit 2
elif [ "${1:-start}" != start ] && [ -f "$qs/secure.mode" ]; then
  secure=1 # status/stop: the mode `start` used
fi
# Each mode remembers its own port.
if [ $secure = 1 ]; then default_port=8883 port_file="$qs/secure.port"; else default_port=1883 port_file="$qs/port"; fi
port=${QUICKSTART_PORT:-$(cat "$port_file" 2>/dev/null || echo $default_port)}
wait_s=${QUICKSTART_WAIT:-60}
dash_port=${QUICKSTART_DASHBOARD_PORT:-8088}
agent=agent_A
bin="$root/target/release"
export ANK_BROKER="mqtt://127.0.0.1:$port"
sec="$qs/secure"
# The CLI user of the secure mode: `ank` reads its certificate from the config setup wrote.
cli_user=operator
if [ $secure = 1 ]; then
  export ANK_BROKER="mqtts://127.0.0.1:$port"
  export ANK_CONFIG="$sec/$cli_user.toml"
fi

env_dir="$root/.test-env"
machine_tag=quickstart
# log, die, install_packages and the capability proofs.
# shellcheck source=lib/machine.sh
. "$root/scripts/lib/machine.sh"

# --- processes, by pid file ---------------------------------------------------------------------
# A pid file names the process this script started. Before trusting it, check that the pid still
# runs the binary we started, so a recycled pid is never signalled.
pid_of() { # name -> pid on stdout, if that process is alive and is ours
  local file="$qs/$1.pid" pid
  [ -f "$file" ] || return 1
  pid=$(cat "$file")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$bin/$2" || return 1
  echo "$pid"
}

alive() { # name: the process of the pid file exists (right after the start it may not have
  # exec'd its binary yet, so `pid_of` would not recognise it)
  local pid
  pid=$(cat "$qs/$1.pid" 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

start_bg() { # name binary args... : start in its own session, log to .quickstart/logs/<name>.log
  local name=$1 program=$2; shift 2
  # setsid: a Ctrl-C in this terminal must not reach the daemons; it execs, so $! is their pid.
  setsid "$bin/$program" "$@" >"$qs/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$qs/$name.pid"
  log "started $program (pid $!), log: .quickstart/logs/$name.log"
}

stop_bg() { # name binary
  local pid
  pid=$(pid_of "$1" "$2") || { rm -f "$qs/$1.pid"; return 0; }
  log "stopping $2 (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do # 10 s for a clean shutdown (offline status, broker flushed)
    kill -0 "$pid" 2>/dev/null || { rm -f "$qs/$1.pid"; return 0; }
    sleep 0.1
  done
  log "$2 did not stop within 10 s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$qs/$1.pid"
}

# Polls `$@` every half second until it succeeds; fails after $wait_s seconds, or at once when
# the process named by $1 (a pid file name) has died, showing the end of its log.
wait_until() { # name program what command...
  local name=$1 program=$2 what=$3; shift 3
  local deadline=$((SECONDS + wait_s))
  until "$@" >/dev/null 2>&1; do
    if ! alive "$name"; then
      tail -n 20 "$qs/logs/$name.log" >&2 || true
      die "$program exited while waiting for $what (log above: .quickstart/logs/$name.log)"
    fi
    [ $SECONDS -lt $deadline ] || {
      tail -n 20 "$qs/logs/$name.log" >&2 || true
      die "no $what after ${wait_s}s (log above: .quickstart/logs/$name.log)"
    }
    sleep 0.5
  done
}

# The quickstart's own workloads are in a final state (not Pending, not Stopping).
quickstart_settled() {
  "$bin/ank" -q get workloads 2>/dev/null | awk '
    $1 == "hello" || $1 == "web" || $1 == "ticker" { seen++; if ($4 ~ /^(Pending|Stopping)/) busy = 1 }
    END { exit !(seen >= 3 && !busy) }'
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }
agent_online() { "$bin/ank" -q get agents | awk -v a="$agent" '$1 == a && $2 == "online" { ok = 1 } END { exit !ok }'; }

# --- installation -------------------------------------------------------------------------------
need_root_for() { [ "$(id -u)" = 0 ] || die "$1 is missing and only root can install it: rerun as root"; }

ensure_rust() {
  [ -d "$HOME/.cargo/bin" ] && export PATH="$HOME/.cargo/bin:$PATH"
  if ! command -v cc >/dev/null; then
    need_root_for "a C compiler (for the ring crate)"
    log "installing gcc and libc6-dev"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null
  fi
  if ! command -v cargo >/dev/null; then
    # Debian 12's own cargo (1.63) is far older than the workspace's rust-version: use rustup.
    log "installing the Rust toolchain with rustup (https://rustup.rs)"
    if ! command -v curl >/dev/null; then
      need_root_for curl
      DEBIAN_FRONTEND=noninteractive apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl ca-certificates >/dev/null
    fi
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain stable >/dev/null
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  local need have
  need=$(sed -n 's/^rust-version *= *"\(.*\)"/\1/p' "$root/Cargo.toml")
  have=$(rustc --version | awk '{print $2}')
  if [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n1)" != "$need" ]; then
    command -v rustup >/dev/null || die "rustc $have is older than the required $need; install a newer toolchain"
    log "rustc $have is older than $need: updating the stable toolchain"
    rustup update stable >/dev/null
  fi
}

# --- subcommands --------------------------------------------------------------------------------
cmd_start() {
  # A running quickstart keeps its mode: switching needs a stop (the processes hold their logins).
  if pid_of controller ank-controller >/dev/null; then
    local running=0; [ -f "$qs/secure.mode" ] && running=1
    [ $running = $secure ] || die "the quickstart runs in the other mode (secure=$running): scripts/quickstart.sh stop first"
  fi
  # What running workloads needs, installed and proven (scripts/lib/machine.sh): podman with
  # runc and the project's containers.conf (in .test-env/, shared with the tests), the local
  # image, and catatonit for the podman-kube example the summary suggests.
  install_packages podman runc catatonit busybox-static
  prove_container_runs
  prove_kube_play
  ensure_rust

  log "building the release binaries (the first build takes several minutes)"
  (cd "$root" && cargo build --release --bin ank-controller --bin ank-agent --bin ank --bin ank-broker)

  # The secure mode's identities, once: setup never overwrites, so a restart reuses them.
  local listen=(--listen "127.0.0.1:$port") agent_login=()
  if [ $secure = 1 ]; then
    if [ ! -f "$sec/ca.pem" ]; then
      mkdir -p "$qs"
      log "ank-broker setup .quickstart/secure (CA, certificates, passwords, ACL)"
      "$bin/ank-broker" setup "$sec" --agent "$agent" --user "$cli_user" \
        --tls-listen "127.0.0.1:$port" >"$qs/secure-setup.txt"
    fi
    listen=(--tls-listen "127.0.0.1:$port" --ca-pem "$sec/ca.pem" --crt-pem "$sec/server.pem"
      --key-pem "$sec/server.key" --acl "$sec/acl")
    agent_login=(--ca-pem "$sec/ca.pem" --crt-pem "$sec/agent-$agent.pem" --key-pem "$sec/agent-$agent.key")
    touch "$qs/secure.mode"
  else
    rm -f "$qs/secure.mode"
  fi

  # The dashboard page (issue 18): built with npm when Node is there; ankmq works without it.
  local dashboard=()
  if [ $secure = 1 ]; then
    log "the dashboard is not served in --secure mode: it logs in by password (docs/dashboard.md)"
  elif command -v npm >/dev/null && "$root/scripts/dashboard.sh"; then
    dashboard=(--dashboard-listen "127.0.0.1:$dash_port" --ws-listen "127.0.0.1:$((dash_port + 1))"
      --dashboard-dir "$root/dashboard/dist")
  else
    log "warning: the dashboard is not built (scripts/dashboard.sh needs Node 18+ and npm); starting without it"
  fi

  mkdir -p "$qs/logs" "$qs/controller" "$qs/run"

  if pid_of controller ank-controller >/dev/null; then
    log "ank-controller is already running (pid $(pid_of controller ank-controller))"
  else
    port_open && die "127.0.0.1:$port is taken by another program: stop it, or set QUICKSTART_PORT"
    start_bg controller ank-controller --state-dir "$qs/controller" "${listen[@]}" "${dashboard[@]}"
    echo "$port" >"$port_file"
    wait_until controller ank-controller "broker on 127.0.0.1:$port" port_open
  fi

  if pid_of agent ank-agent >/dev/null; then
    log "ank-agent is already running (pid $(pid_of agent ank-agent))"
  else
    start_bg agent ank-agent --name "$agent" --broker "$ANK_BROKER" --run-folder "$qs/run" "${agent_login[@]}"
  fi
  wait_until agent ank-agent "online status of $agent" agent_online
  log "$agent is online"

  log "ank apply examples/quickstart.yaml"
  # --timeout: a workload that never settles must not hang the quickstart.
  local applied=0
  "$bin/ank" apply --timeout 120s "$root/examples/quickstart.yaml" || applied=$?

  # "Nothing changed" (a persisted state from an earlier run) returns at once, while a freshly
  # started agent may still be starting the workloads: show them once they have settled.
  local deadline=$((SECONDS + wait_s))
  until quickstart_settled || [ $SECONDS -ge $deadline ]; do sleep 0.5; done

  echo
  echo "\$ ank get workloads"
  "$bin/ank" get workloads
  [ $applied = 0 ] || log "warning: ank apply exited with $applied (3: a workload failed; see .quickstart/logs/agent.log)"
  [ ${#dashboard[@]} = 0 ] || printf '\nThe live dashboard: http://127.0.0.1:%s/\n' "$dash_port"
  local how="embedded broker on 127.0.0.1:$port" env_lines
  env_lines=$( [ "$port" = 1883 ] || printf '\n  export ANK_BROKER=%s' "$ANK_BROKER")
  if [ $secure = 1 ]; then
    how="embedded broker with mutual TLS only on 127.0.0.1:$port"
    env_lines=$(printf '\n  export ANK_CONFIG=%s   # %s'"'"'s certificate (.quickstart/secure/README.txt)' "$ANK_CONFIG" "$cli_user")
    [ "$port" = 8883 ] || env_lines+=$(printf '\n  export ANK_BROKER=%s' "$ANK_BROKER")
  fi
  cat <<EOF

ankmq is running: ank-controller ($how) and ank-agent $agent.
Logs are in .quickstart/logs/. Try:
  export PATH="$bin:\$PATH"$env_lines
  ank get agents
  wget -qO- http://127.0.0.1:18080/     # the quickstart's web workload
  ank apply examples/podman-kube.yaml   # more in examples/README.md
Stop everything (workloads, agent, controller):
  scripts/quickstart.sh stop
EOF
  return $applied
}

cmd_status() {
  local name program pid
  for name in controller agent; do
    program=ank-$name
    if pid=$(pid_of "$name" "$program"); then echo "$program: running (pid $pid)"; else echo "$program: not running"; fi
  done
  pid_of controller ank-controller >/dev/null || return 0
  echo; "$bin/ank" get agents
  echo; "$bin/ank" get workloads
}

cmd_stop() {
  # First through ankmq itself: delete every workload and let the agent remove its containers.
  # The agent leaves workloads running when it stops (a restart must not touch them), so this is
  # the step that actually removes the containers.
  local names="" deleted=0
  if pid_of controller ank-controller >/dev/null && pid_of agent ank-agent >/dev/null; then
    names=$("$bin/ank" -q get workloads 2>/dev/null | awk 'NR > 1 && $1 != "" { print $1 }' | sort -u | tr '\n' ' ')
    if [ -z "${names// /}" ]; then
      deleted=1
    # shellcheck disable=SC2086 # one argument per workload name
    elif "$bin/ank" delete workload --timeout 60s $names; then
      deleted=1
    fi
  fi
  stop_bg agent ank-agent
  stop_bg controller ank-controller
  if [ $deleted = 0 ]; then
    # The controller or the agent was not running: remove what the agent left, by its labels.
    [ -f "$env_dir/containers.conf" ] && export CONTAINERS_CONF="$env_dir/containers.conf"
    local pods containers
    pods=$(podman pod ps -q --filter "label=ankmq.agent=$agent" 2>/dev/null || true)
    containers=$(podman ps -aq --filter "label=ankmq.agent=$agent" 2>/dev/null || true)
    if [ -n "$pods$containers" ]; then
      log "removing the containers and pods labelled ankmq.agent=$agent (without the agent, nothing else will)"
      # shellcheck disable=SC2086
      [ -z "$pods" ] || podman pod rm -f -t 0 $pods >/dev/null
      # shellcheck disable=SC2086
      [ -z "$containers" ] || podman rm -f -t 0 --ignore $containers >/dev/null
    fi
  fi
  log "stopped. The desired state stays in .quickstart/controller/ (rm -rf .quickstart to forget it)"
}

case "${1:-start}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  -h|--help|help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" ;;
  *) die "unknown subcommand '$1' (use start, status or stop)" ;;
esac
