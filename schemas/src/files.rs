//! The rules of workload files (Ankaios §1.6) that both sides apply: the controller refuses a
//! manifest that breaks them, and the agent checks every file again before it writes anything
//! (a snapshot is outside input, and may come from an older controller). One function per
//! rule, so the two sides can never disagree (issue 12). Writing the files is the agent's job.

use base64::Engine;

use crate::manifest::FileContent;

/// Why a workload file cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileProblem {
    /// The mount point is not an absolute path.
    #[error("mount point '{0}' is not an absolute path")]
    NotAbsolute(String),
    /// The mount point ends with `/`, so it names a folder.
    #[error("mount point '{0}' ends with `/`; it must name a file")]
    NamesAFolder(String),
    /// The mount point has a `.` or `..` component.
    #[error("mount point '{0}' contains a `.` or `..` component")]
    DotComponent(String),
    /// `binaryData` is not standard base64 with padding.
    #[error("binaryData of '{mount_point}' is not valid base64: {reason}")]
    Base64 {
        /// Whose data.
        mount_point: String,
        /// The decoder's complaint.
        reason: base64::DecodeError,
    },
}

impl FileProblem {
    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            FileProblem::Base64 { .. } => "standard base64 (RFC 4648) with padding",
            _ => "an absolute path naming a file, without `.` or `..`",
        }
    }
}

/// Checks a mount point: absolute, naming a file, without `.` or `..` components.
pub fn check_mount_point(mount_point: &str) -> Result<(), FileProblem> {
    if !mount_point.starts_with('/') {
        Err(FileProblem::NotAbsolute(mount_point.to_owned()))
    } else if mount_point.ends_with('/') {
        Err(FileProblem::NamesAFolder(mount_point.to_owned()))
    } else if mount_point.split('/').any(|c| c == "." || c == "..") {
        Err(FileProblem::DotComponent(mount_point.to_owned()))
    } else {
        Ok(())
    }
}

/// The bytes of a file's content: `data` as UTF-8, `binaryData` decoded from standard base64
/// after whitespace and newlines are stripped (as Ankaios does).
pub fn file_bytes(mount_point: &str, content: &FileContent) -> Result<Vec<u8>, FileProblem> {
    match content {
        FileContent::Data(text) => Ok(text.clone().into_bytes()),
        FileContent::BinaryData(b64) => {
            let compact: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|reason| FileProblem::Base64 {
                    mount_point: mount_point.to_owned(),
                    reason,
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_must_be_absolute_file_paths_without_dot_components() {
        let table: &[(&str, bool)] = &[
            ("/etc/app.conf", true),
            ("/a", true),
            ("/etc/.hidden", true),
            ("relative", false),
            ("/etc/", false),
            ("/etc/../passwd", false),
            ("/./a", false),
            ("", false),
        ];
        for (mount_point, ok) in table {
            assert_eq!(check_mount_point(mount_point).is_ok(), *ok, "{mount_point}");
        }
    }

    #[test]
    fn binary_data_is_decoded_after_whitespace_is_stripped() {
        let bytes = file_bytes("/b", &FileContent::BinaryData("aGVs\nbG8=".into()));
        assert_eq!(bytes.as_deref(), Ok(&b"hello"[..]));
        for bad in ["aGVsbG8", "!!!!", "***"] {
            let err = file_bytes("/b", &FileContent::BinaryData(bad.into())).unwrap_err();
            assert!(matches!(err, FileProblem::Base64 { .. }), "{bad}");
        }
        assert_eq!(
            file_bytes("/t", &FileContent::Data("x".into())).as_deref(),
            Ok(&b"x"[..])
        );
    }
}
