//! ankmq's system tests: one binary, one module per area, all on real parts.

/// Ankaios' ank-server.conf, ank-agent.conf and ank.conf as they come (issue 16 point 3).
mod ankaios_config;
/// The `ank` CLI end to end: waiting, exit codes, masks, watch, logs, controller down (issue 6).
mod cli;
/// docker-compose.yml under podman-compose: broker, controller and an agent on the host's podman.
mod compose;
/// Configs with templating, and files mounted into containers.
mod configs_files;
/// Ankaios' control interface with the real SDKs inside workloads (issue 15).
mod control_interface;
/// The live dashboard in headless chromium, on both brokers and under a viewer login (issue 18).
mod dashboard;
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
/// The whole slice under mutual TLS; identities from certificates (issue 13).
mod mutual_tls;
/// Names that become topic levels, and retained messages the broker cannot take (issue 14).
mod names_and_sizes;
/// The machine can run containers the way the project needs (runc, ulimits, local image).
mod podman_smoke;
/// Device restarts: services run again, an agent-only restart re-runs nothing (issue 16 point 1).
mod reboots;
/// kill -9 of an agent, the controller and the broker; an agent frozen with SIGSTOP.
mod recovery;
/// A manifest mixing runtimes: each agent refuses only what it cannot run (issue 16 point 2).
mod runtimes;
/// `ank-broker setup`: the secure installation in one step, on both brokers, under mutual TLS and
/// under passwords with the generated ACL (issue 13).
mod secure_setup;
/// A plain MQTT reader sees the states `ank get workloads` prints.
mod third_party;
/// Updates: a new runtimeConfig recreates, new tags do not.
mod updates;
