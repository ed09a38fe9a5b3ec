//! The agent against real podman and the embedded broker, with the test playing the controller.
//! Each test owns unique agent names and a topic prefix, and a drop guard removes its containers.

mod harness;

// Each state of Ankaios §2.1 reached for real.
mod states;
// Restart policies and backoff (§3.1).
mod restarts;
// Updates, adoption after an agent restart, orphans (§4).
mod lifecycle;
// Bad input and the first-snapshot rule.
mod bad_input;
// Dependencies across agents (§2.4).
mod dependencies;
// podman kube play / down.
mod kube;
// Log streams, and an exit reported through podman's events.
mod logs_and_exits;
// The agent's status: birth, resources, offline, will.
mod status;
// A podman that fails once or hangs.
mod podman_trouble;
// Workload files: private on the host, readable in the container.
mod files;
// Starts and updates without a `podman ps` of the instance (issue 17).
mod starts;
