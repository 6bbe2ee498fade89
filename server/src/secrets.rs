//! Secret files (TLS private keys, token hash files, wallet keys, session seeds, PIN files):
//! the library's one rule for every secret file (through [`crate::signing`]), which the
//! command line applies too. Other users may neither read nor write a secret file; group access
//! is allowed (orchestrators mount secrets for a group). A Kubernetes secret volume without
//! `defaultMode` mounts files as 0644, which the rule refuses with a message naming the fix.

pub use crate::signing::{check_permissions, read_secret, read_secret_text, SecretFileError as SecretError};

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn other_access_is_refused_group_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s");
        std::fs::write(&f, "x").unwrap();
        for (mode, ok) in [(0o600, true), (0o640, true), (0o440, true), (0o644, false), (0o602, false)] {
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(read_secret(&f).is_ok(), ok, "{mode:o}");
        }
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let msg = read_secret(&f).unwrap_err().to_string();
        assert!(msg.contains("defaultMode"), "{msg}");
    }
}
