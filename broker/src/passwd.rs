//! The password file: `username:argon2-hash` lines, the format mqtt5's broker reads.
//!
//! `ank-broker passwd FILE USER` adds or changes one user here; the broker loads the file at
//! start. Hashes come from mqtt5's own `PasswordAuthProvider::hash_password`, so the format can
//! never drift from what mqtt5 verifies. Writes are atomic (temp file, fsync, rename) and the
//! file is created with mode 0600 because it is a list of crackable hashes.

use crate::BrokerError;
use mqtt5::broker::PasswordAuthProvider;
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

/// Users and their argon2 hashes, as loaded from a password file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PasswordFile {
    users: BTreeMap<String, String>,
}

impl PasswordFile {
    /// Parses the file's text. Blank lines and `#` comments are skipped; any other line without
    /// `:` or with an empty name is an error (mqtt5 would only warn and skip it).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut users = BTreeMap::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, hash)) = line.split_once(':') else {
                return Err(format!("line {}: expected `user:hash`", index + 1));
            };
            let (user, hash) = (user.trim(), hash.trim());
            if user.is_empty() || hash.is_empty() {
                return Err(format!("line {}: empty user or hash", index + 1));
            }
            users.insert(user.to_owned(), hash.to_owned());
        }
        Ok(Self { users })
    }

    /// Reads and parses a password file.
    pub fn load(path: &Path) -> Result<Self, BrokerError> {
        let text = std::fs::read_to_string(path).map_err(|e| auth_file(path, e.to_string()))?;
        Self::parse(&text).map_err(|reason| auth_file(path, reason))
    }

    /// The usernames, sorted.
    pub fn usernames(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    /// Whether `password` is right for `username`. Runs argon2: call it off the async runtime.
    pub fn verify(&self, username: &str, password: &str) -> bool {
        self.users
            .get(username)
            .is_some_and(|hash| PasswordAuthProvider::verify_password(password, hash))
    }

    /// Adds `username` or replaces its password.
    pub fn set(&mut self, username: &str, password: &str) -> Result<(), String> {
        if username.is_empty() || username.contains(':') || username.contains(char::is_whitespace) {
            return Err(format!(
                "invalid username `{username}`: it must be non-empty, without `:` or whitespace"
            ));
        }
        if password.is_empty() {
            return Err("the password is empty".into());
        }
        let hash = PasswordAuthProvider::hash_password(password)
            .map_err(|e| format!("hashing the password failed: {e}"))?;
        self.users.insert(username.to_owned(), hash);
        Ok(())
    }

    /// The file's text.
    pub fn render(&self) -> String {
        self.users
            .iter()
            .map(|(user, hash)| format!("{user}:{hash}\n"))
            .collect()
    }
}

/// Adds or changes one user in the password file at `path`, creating the file if needed.
pub fn set_password(path: &Path, username: &str, password: &str) -> Result<(), BrokerError> {
    let mut file = if path.exists() {
        PasswordFile::load(path)?
    } else {
        PasswordFile::default()
    };
    file.set(username, password)
        .map_err(|reason| auth_file(path, reason))?;
    write_atomically(path, file.render().as_bytes()).map_err(|e| auth_file(path, e.to_string()))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file path"))?;
    let tmp = dir
        .unwrap_or(Path::new("."))
        .join(format!(".{}.tmp", name.to_string_lossy()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Reads a password: from a prompt without echo when stdin is a terminal, else the first line
/// of stdin (so `echo secret | ank-broker passwd FILE USER` works in scripts).
pub fn read_password(prompt: &str) -> std::io::Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    rpassword::prompt_password(prompt).map(|line| line.trim_end_matches(['\r', '\n']).to_owned())
}

fn auth_file(path: &Path, reason: String) -> BrokerError {
    BrokerError::AuthFile {
        path: path.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_password_creates_updates_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("passwd");
        set_password(&path, "alice", "one").unwrap();
        set_password(&path, "bob", "two").unwrap();
        set_password(&path, "alice", "three").unwrap();
        let file = PasswordFile::load(&path).unwrap();
        assert_eq!(file.usernames().collect::<Vec<_>>(), ["alice", "bob"]);
        assert!(file.verify("alice", "three"));
        assert!(!file.verify("alice", "one"));
        assert!(file.verify("bob", "two"));
        assert!(!file.verify("carol", "two"));
        let mode = std::fs::metadata(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn parse_refuses_malformed_lines() {
        assert!(PasswordFile::parse("# c\n\nalice:$argon2id$x\n").is_ok());
        assert!(PasswordFile::parse("alice").unwrap_err().contains("line 1"));
        assert!(PasswordFile::parse("a:b\n:hash")
            .unwrap_err()
            .contains("line 2"));
    }

    #[test]
    fn set_refuses_bad_usernames_and_empty_passwords() {
        let mut file = PasswordFile::default();
        for user in ["", "a:b", "a b"] {
            assert!(file.set(user, "pw").is_err(), "{user}");
        }
        assert!(file.set("alice", "").is_err());
    }
}
