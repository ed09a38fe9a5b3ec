//! `ank-controller`: the single writer of the desired state (issue #4).
//!
//! Not built yet. This crate exists so that the workspace already has the shape of the
//! architecture (see README.md); it deliberately offers no binary until the controller works.
