//! `ank`: the Ankaios-compatible command line over MQTT (issue #6).
//!
//! Not built yet. This crate exists so that the workspace already has the shape of the
//! architecture (see README.md); it deliberately offers no binary until the CLI works.
