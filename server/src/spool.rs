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
use std::sync::{Arc, Mutex};

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

    /// Adds the spooled rows to the store's chain; returns how many were added. Stops at the
    /// first store error (the rest stay for the next flush). The file work runs on the
    /// blocking pool.
    pub async fn flush(self: &Arc<Self>, store: &dyn ServiceStore) -> Result<usize, StoreError> {
        let _one = self.flush.lock().await;
        let this = self.clone();
        let entries = blocking(move || this.take_rows()).await??;
        let Some(entries) = entries else { return Ok(0) };
        let mut added = 0;
        for entry in entries {
            if !store.audit_contains(&entry.request_id, &entry.at).await? {
                store.append_audit(entry, None).await?;
                added += 1;
            }
        }
        let flushing = self.flushing.clone();
        blocking(move || std::fs::remove_file(&flushing)).await?.map_err(io_error)?;
        Ok(added)
    }

    /// Moves the spool aside (unless a flush cut short left one) and reads its rows; `None`
    /// when there is nothing to flush.
    fn take_rows(&self) -> Result<Option<Vec<AuditEntry>>, StoreError> {
        if !self.flushing.exists() {
            let _w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            match std::fs::rename(&self.path, &self.flushing) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io_error(e)),
            }
        }
        let file = std::fs::File::open(&self.flushing).map_err(io_error)?;
        let mut entries = Vec::new();
        for line in std::io::BufReader::new(file).lines() {
            let line = line.map_err(io_error)?;
            // A torn last line (a crash mid-write) was never acknowledged.
            if let Ok(entry) = serde_json::from_str::<AuditEntry>(&line) {
                entries.push(entry);
            }
        }
        Ok(Some(entries))
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Unavailable { op: "audit spool", message: format!("background task failed: {e}") })
}

fn io_error(e: std::io::Error) -> StoreError {
    StoreError::Unavailable { op: "audit spool", message: e.to_string() }
}
