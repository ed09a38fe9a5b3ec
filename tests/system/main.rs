//! ankmq's system tests: one binary, one module per area, all on real parts.

/// The `ank` CLI end to end: waiting, exit codes, masks, watch, logs, controller down (issue 6).
mod cli;
/// docker-compose.yml under podman-compose: broker, controller and an agent on the host's podman.
mod compose;
/// Configs with templating, and files mounted into containers.
mod configs_files;
/// Ankaios' control interface with the real SDKs inside workloads (issue 15).
mod control_interface;
/// Dependencies across two agents: add conditions and delete conditions.
mod dependencies;
/// Every manifest in examples/ parses, validates and renders, with the local image only.
mod examples;
/// A full disk under the controller's state directory and the broker's storage (issue 14).
mod full_disk;
/// Hostile payloads on every subscribed topic: components keep serving, logs stay bounded
/// (issue 14 point 5).
mod hostile_payloads;
/// The podman-kube runtime: a Pod with a ConfigMap, and a Deployment.
mod kube;
/// A workload's states, restart policies and removal, on both brokers.
mod lifecycle;
/// Log streams end with their requester: leases, cancel, caps, errors (issue 14).
mod logs;
/// Names that become topic levels, and retained messages the broker cannot take (issue 14).
mod names_and_sizes;
/// The machine can run containers the way the project needs (runc, ulimits, local image).
mod podman_smoke;
/// kill -9 of an agent, the controller and the broker; an agent frozen with SIGSTOP.
mod recovery;
/// A plain MQTT reader sees the states `ank get workloads` prints.
mod third_party;
/// Updates: a new runtimeConfig recreates, new tags do not.
mod updates;
