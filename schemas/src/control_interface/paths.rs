//! Where the control interface lives: fixed by the Ankaios SDKs, which have no setting for it.

use crate::manifest::ControlInterfaceAccess;

/// Where the FIFO folder is mounted in the container (both SDKs hard-code it).
pub const CONTAINER_PATH: &str = "/run/ankaios/control_interface";

/// The folder beside `files/` in the instance folder that holds the FIFOs.
pub const FOLDER_NAME: &str = "control_interface";

/// The FIFO the agent writes and the workload reads (named from the workload's point of view).
pub const INPUT_FIFO: &str = "input";

/// The FIFO the workload writes and the agent reads.
pub const OUTPUT_FIFO: &str = "output";

/// Whether a workload gets the FIFOs at all: only with allow rules (Ankaios'
/// `needs_control_interface`); deny rules alone do nothing.
pub fn needs_control_interface(access: &ControlInterfaceAccess) -> bool {
    !access.allow_rules.is_empty()
}
