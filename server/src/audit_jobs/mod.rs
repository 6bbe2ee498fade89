//! The audit log's upkeep over the store and the disk: signed checkpoints written as rows come
//! in ([`checkpointer`]), closed segments exported to an archive and pruned from the database
//! ([`export`]), the feed for a SIEM ([`tail`]), and the check of archive and database as one
//! chain ([`verify`]). The formats are `crate::audit`'s; this module moves them.
//!
//! Every replica runs the checkpoint writer (and, with `export_interval`, the exporter); a
//! lease in the store (`audit_jobs`) lets one process at a time do each job, and every write of
//! a job checks in its transaction that its lease still holds.

pub mod checkpointer;
pub mod export;
pub mod tail;
pub mod verify;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::duration;
use crate::signing::{self, AuditKey, AuditKeySpec};
use crate::store::ServiceStore;

/// Default of `audit.checkpoint_rows`.
pub const DEFAULT_CHECKPOINT_ROWS: u64 = 1000;
/// Default of `audit.checkpoint_interval`.
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(10);

/// `[audit]` as the configuration file writes it.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AuditSection {
    /// The checkpoint key: `memory`, or a `pkcs11:` URI naming an ed25519 key (`object=` or
    /// `id=`). Without a key (or seed file) no checkpoints are written.
    #[serde(default)]
    pub checkpoint_key: Option<String>,
    /// A 32-byte hex seed file for an in-memory checkpoint key (a secret file).
    #[serde(default)]
    pub checkpoint_key_seed_file: Option<PathBuf>,
    /// A checkpoint after at most this many rows (default 1000).
    #[serde(default)]
    pub checkpoint_rows: Option<u64>,
    /// A checkpoint at most this long after a row (default 10s).
    #[serde(default)]
    pub checkpoint_interval: Option<String>,
    /// Further public keys `audit verify` accepts (hex; e.g. a key rotated out).
    #[serde(default)]
    pub public_keys: Vec<String>,
    /// Where `audit export` writes segments.
    #[serde(default)]
    pub archive_dir: Option<PathBuf>,
    /// The service exports (and prunes) this often; without it, only `audit export` does.
    #[serde(default)]
    pub export_interval: Option<String>,
    /// How long exported rows stay in the database: a duration (`30d`) or a row count
    /// (`"1000000 rows"`). Without it nothing is pruned.
    #[serde(default)]
    pub retention: Option<String>,
    /// Where `audit verify` remembers the last checkpoint it verified.
    #[serde(default)]
    pub verify_state: Option<PathBuf>,
}

/// How long exported rows stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Segments whose checkpoint is older than this.
    Age(Duration),
    /// Keep at least this many rows.
    Rows(u64),
}

impl Retention {
    /// Parses `30d` or `1000000 rows`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if let Some(n) = t.strip_suffix("rows").map(str::trim) {
            return n.parse().map(Retention::Rows).map_err(|_| format!("{text:?}: expected N rows"));
        }
        duration::setting(t, "audit.retention").map(Retention::Age)
    }
}

/// `[audit]`, resolved.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// The checkpoint key, if any.
    pub key: Option<AuditKeySpec>,
    /// Rows per checkpoint at most.
    pub checkpoint_rows: u64,
    /// Longest time a row waits for its checkpoint.
    pub checkpoint_interval: Duration,
    /// Further trusted public keys.
    pub public_keys: Vec<String>,
    /// The archive.
    pub archive_dir: Option<PathBuf>,
    /// Background export.
    pub export_interval: Option<Duration>,
    /// Pruning of exported segments.
    pub retention: Option<Retention>,
    /// The verifier's memory.
    pub verify_state: Option<PathBuf>,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            key: None,
            checkpoint_rows: DEFAULT_CHECKPOINT_ROWS,
            checkpoint_interval: DEFAULT_CHECKPOINT_INTERVAL,
            public_keys: Vec::new(),
            archive_dir: None,
            export_interval: None,
            retention: None,
            verify_state: None,
        }
    }
}

impl AuditSection {
    /// Validates the section; messages name the key (`audit.…`).
    pub fn settings(&self) -> Result<AuditSettings, String> {
        let key = match (self.checkpoint_key.as_deref(), &self.checkpoint_key_seed_file) {
            (Some(_), Some(_)) => return Err("audit: give checkpoint_key or checkpoint_key_seed_file, not both".into()),
            (None, Some(p)) => Some(AuditKeySpec::SeedFile(p.clone())),
            (Some("memory"), None) => Some(AuditKeySpec::Memory),
            (Some(uri), None) if uri.starts_with("pkcs11:") => Some(AuditKeySpec::Pkcs11(uri.to_string())),
            (Some(_), None) => {
                return Err("audit.checkpoint_key: expected memory or a pkcs11: URI [value withheld]".into())
            }
            (None, None) => None,
        };
        let checkpoint_rows = self.checkpoint_rows.unwrap_or(DEFAULT_CHECKPOINT_ROWS);
        if checkpoint_rows == 0 || checkpoint_rows > 1_000_000 {
            return Err("audit.checkpoint_rows: between 1 and 1000000".into());
        }
        let checkpoint_interval = duration::setting_or(
            self.checkpoint_interval.as_deref(),
            DEFAULT_CHECKPOINT_INTERVAL,
            "audit.checkpoint_interval",
        )?;
        crate::audit::checkpoint::TrustedKeys::parse(&self.public_keys)
            .map_err(|e| format!("audit.public_keys: {e}"))?;
        let export_interval =
            self.export_interval.as_deref().map(|s| duration::setting(s, "audit.export_interval")).transpose()?;
        let retention = self.retention.as_deref().map(Retention::parse).transpose()?;
        if (export_interval.is_some() || retention.is_some()) && self.archive_dir.is_none() {
            return Err("audit.export_interval and audit.retention need audit.archive_dir".into());
        }
        if export_interval.is_some() && key.is_none() {
            return Err("audit.export_interval: segments end at checkpoints; configure audit.checkpoint_key".into());
        }
        Ok(AuditSettings {
            key,
            checkpoint_rows,
            checkpoint_interval,
            public_keys: self.public_keys.clone(),
            archive_dir: self.archive_dir.clone(),
            export_interval,
            retention,
            verify_state: self.verify_state.clone(),
        })
    }
}

/// A holder name for a job lease: this process and a random tag.
pub fn holder() -> String {
    format!("pid-{}-{}", std::process::id(), signing::random_hex(4))
}

/// Opens the checkpoint key off the runtime.
pub async fn open_key(spec: &AuditKeySpec) -> Result<Arc<AuditKey>, String> {
    let spec = spec.clone();
    tokio::task::spawn_blocking(move || AuditKey::open(&spec))
        .await
        .map_err(|e| format!("audit key: {e}"))?
        .map(Arc::new)
}

/// Starts the service's audit jobs: the checkpoint writer (with a key) and the exporter (with
/// `export_interval`). They end when `stop` turns true.
pub fn spawn(
    store: Arc<dyn ServiceStore>,
    key: Option<Arc<AuditKey>>,
    settings: &AuditSettings,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    if let Some(key) = key {
        let every = settings.checkpoint_interval;
        let rows = settings.checkpoint_rows;
        let (store, stop) = (store.clone(), stop.clone());
        tasks.push(tokio::spawn(checkpointer::run(store, key, rows, every, stop)));
    }
    if let (Some(every), Some(dir)) = (settings.export_interval, settings.archive_dir.clone()) {
        let retention = settings.retention;
        tasks.push(tokio::spawn(export::run(store, dir, retention, every, stop)));
    }
    tasks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_is_an_age_or_a_row_count() {
        assert_eq!(Retention::parse("30d"), Ok(Retention::Age(Duration::from_secs(30 * 86_400))));
        assert_eq!(Retention::parse("1000000 rows"), Ok(Retention::Rows(1_000_000)));
        assert!(Retention::parse("many rows").is_err());
        let section = AuditSection { retention: Some("2m".into()), ..Default::default() };
        assert!(section.settings().unwrap_err().contains("archive_dir"));
        let section = AuditSection { checkpoint_key: Some("pkcs11-ish secret".into()), ..Default::default() };
        let err = section.settings().unwrap_err();
        assert!(!err.contains("secret"), "{err}");
    }
}
