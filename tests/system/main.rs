//! ankmq's system tests: one binary, one module per area, all on real parts.

/// Every manifest in examples/ parses, validates and renders, with the local image only.
mod examples;
/// The machine can run containers the way the project needs (runc, ulimits, local image).
mod podman_smoke;
