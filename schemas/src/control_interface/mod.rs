//! Ankaios' control interface, the contract part: the protobuf messages a workload and its agent
//! exchange over the FIFO pair, their framing, the Hello version rule, the access rules as one
//! pure function (used by the agent and again by the controller) and the mapping to ankmq's JSON
//! state. No I/O: the agent's FIFO server is `node-agent/src/control_interface/`.
//!
//! - [`proto`]: the messages, hand-written with prost's derives.
//! - `framing`: varint-length framing with a bound, and the Hello version check.
//! - `authorizer`: StateRule/LogRule evaluation ([`authorize`]).
//! - `convert`: proto ↔ ankmq JSON (complete state, manifest).
//! - `paths`: the fixed paths inside the container and in the instance folder.

mod authorizer;
mod convert;
mod framing;
mod paths;
pub mod proto;

pub use authorizer::{authorize, AccessDenied, Operation};
pub use convert::{complete_state_from_proto, complete_state_to_proto};
pub use framing::{
    check_protocol_version, encode_frame, FrameError, FrameReader, MAX_FRAME_LEN, SUPPORTED_MAJOR,
};
pub use paths::{needs_control_interface, CONTAINER_PATH, FOLDER_NAME, INPUT_FIFO, OUTPUT_FIFO};
