//! The audit spool (opt-in, `store.audit_spool`): where a replica writes the audit rows of
//! requests it could answer from memory while the database is away, so reuse of an AuthSig it
//! holds keeps working without an unaudited 200.
//!
//! A row is appended to a local file and fsynced before the response leaves. When the store is
//! back, the rows are added to the hash chain in file order (each skipped if a row with its
//! request id and time is already there, so a flush cut short by a crash is redone without
//! doubles) and the file is removed. Only requests that need nothing else from the store are
//! spooled: a new AuthSig, a rate-limit charge or a store that answered with an error still
//! fail. The guarantee is that of the local disk until the flush.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::audit::AuditEntry;
use crate::store::{ServiceStore, StoreError};

/// The spool file and its flush.
#[derive(Debug)]
pub struct AuditSpool {
    path: PathBuf,
    // Rows being flushed; renamed from `path`, so new rows go to a fresh file meanwhile.
    flushing: PathBuf,
    writer: Mutex<()>,
    flush: tokio::sync::Mutex<()>,
}

impl AuditSpool {
    /// A spool at `path` (its directory must exist; the file is made on first use, mode 0600).
    pub fn new(path: &Path) -> Self {
        let mut flushing = path.as_os_str().to_owned();
        flushing.push(".flushing");
        Self { path: path.to_path_buf(), flushing: flushing.into(), writer: Mutex::new(()), flush: Default::default() }
    }

    /// Appends `entry` durably (written and fsynced). Blocking: call off the runtime.
    pub fn append(&self, entry: &AuditEntry) -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let _one = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut file = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(&self.path)?;
        file.write_all(&line)?;
        file.sync_data()
    }

    /// Whether rows wait to be flushed.
    pub fn pending(&self) -> bool {
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        size(&self.path) > 0 || size(&self.flushing) > 0
    }

    /// Adds the spooled rows to the store's chain; returns how many were added. Stops at the
    /// first store error (the rest stay for the next flush).
    pub async fn flush(&self, store: &dyn ServiceStore) -> Result<usize, StoreError> {
        let _one = self.flush.lock().await;
        if !self.flushing.exists() {
            let _w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            match std::fs::rename(&self.path, &self.flushing) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
                Err(e) => return Err(io_error(e)),
            }
        }
        let file = std::fs::File::open(&self.flushing).map_err(io_error)?;
        let mut added = 0;
        for line in std::io::BufReader::new(file).lines() {
            let line = line.map_err(io_error)?;
            // A torn last line (a crash mid-write) was never acknowledged.
            let Ok(entry) = serde_json::from_str::<AuditEntry>(&line) else { continue };
            if !store.audit_contains(&entry.request_id, &entry.at).await? {
                store.append_audit(entry, None).await?;
                added += 1;
            }
        }
        std::fs::remove_file(&self.flushing).map_err(io_error)?;
        Ok(added)
    }
}

fn io_error(e: std::io::Error) -> StoreError {
    StoreError::Unavailable { op: "audit spool", message: e.to_string() }
}
