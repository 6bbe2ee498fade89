//! Secret files (TLS private keys, token hash files, wallet keys, session seeds, PIN files).
//!
//! One rule for all of them: a secret file must not be readable or writable by "other" users
//! (mode `o-rwx`). Group access is allowed, because orchestrators mount secrets for a group
//! (`/run/secrets`, a Kubernetes secret volume with `fsGroup`). A Kubernetes secret volume
//! without `defaultMode` mounts files as 0644, which this rule refuses, and the message says
//! how to fix it. Contents are held in zeroizing buffers and never printed.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// Why a secret file was refused or could not be read. Never carries the file's contents.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The file could not be read.
    #[error("cannot read secret file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Other users may read or write it.
    #[error(
        "secret file {} is accessible by other users (mode {mode:o}); run `chmod o-rwx` on it (0600 or 0640), \
         or for a Kubernetes secret volume set `defaultMode: 0440` (or 0400) and an `fsGroup` the server runs in",
        path.display()
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is not UTF-8 text.
    #[error("secret file {} is not UTF-8 text", path.display())]
    NotText {
        /// The file.
        path: PathBuf,
    },
}

/// Checks the permission rule for `path` (without reading it).
pub fn check_permissions(path: &Path) -> Result<(), SecretError> {
    let meta = std::fs::metadata(path).map_err(|source| SecretError::Read { path: path.to_path_buf(), source })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode();
        if mode & 0o007 != 0 {
            return Err(SecretError::Permissions { path: path.to_path_buf(), mode: mode & 0o7777 });
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    Ok(())
}

/// Reads a secret file as bytes after checking the permission rule.
pub fn read_secret(path: &Path) -> Result<Zeroizing<Vec<u8>>, SecretError> {
    check_permissions(path)?;
    std::fs::read(path).map(Zeroizing::new).map_err(|source| SecretError::Read { path: path.to_path_buf(), source })
}

/// Reads a secret file as text after checking the permission rule.
pub fn read_secret_text(path: &Path) -> Result<Zeroizing<String>, SecretError> {
    let bytes = read_secret(path)?;
    match std::str::from_utf8(&bytes) {
        Ok(s) => Ok(Zeroizing::new(s.to_string())),
        Err(_) => Err(SecretError::NotText { path: path.to_path_buf() }),
    }
}

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
