//! `ank-agent`: reconciles one node's desired workloads with podman (issue #5).
//!
//! Not built yet. This crate exists so that the workspace already has the shape of the
//! architecture (see README.md); it deliberately offers no binary until the agent works.
