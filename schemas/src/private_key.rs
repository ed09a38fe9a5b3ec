//! The rule for private key files (issue 13), shared by every binary that reads one: like ssh,
//! a key that group or others may read, write or execute is refused, naming the file, its mode
//! and the fix. Pure: the caller stats the file it opened and passes the mode here.

/// The permission bits a private key file must not have: any access for group or others.
pub const PRIVATE_KEY_FORBIDDEN_BITS: u32 = 0o077;

/// A private key file others may access.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the private key {path} is accessible by group or others (mode {mode:04o}); refusing to use \
     it: run `chmod 600 {path}`"
)]
pub struct KeyModeError {
    /// The file, as given.
    pub path: String,
    /// Its permission bits.
    pub mode: u32,
}

/// Refuses `mode` (a file's `st_mode`) for the private key `path` when group or others have
/// any access.
pub fn check_private_key_mode(path: &str, mode: u32) -> Result<(), KeyModeError> {
    if mode & PRIVATE_KEY_FORBIDDEN_BITS == 0 {
        return Ok(());
    }
    Err(KeyModeError {
        path: path.to_owned(),
        mode: mode & 0o7777,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_13_only_owner_only_key_modes_are_accepted() {
        for (mode, accepted) in [
            (0o100600, true),
            (0o100400, true),
            (0o100700, true),
            (0o100640, false),
            (0o100604, false),
            (0o100644, false),
            (0o100610, false),
            (0o100601, false),
        ] {
            assert_eq!(
                check_private_key_mode("k", mode).is_ok(),
                accepted,
                "{mode:o}"
            );
        }
        let error = check_private_key_mode("/etc/ank/agent.key", 0o100644).expect_err("0644");
        assert_eq!(
            error.to_string(),
            "the private key /etc/ank/agent.key is accessible by group or others (mode 0644); \
             refusing to use it: run `chmod 600 /etc/ank/agent.key`"
        );
    }
}
