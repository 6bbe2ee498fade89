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
    use crate::audit::checkpoint::TrustedKeys;
    use crate::audit::segment::{self, Segment};
    use crate::store::sqlite::SqliteStore;
    use crate::store::{testing, AuditUpkeep, StoreSettings};

    fn entry(n: i64) -> crate::audit::AuditEntry {
        serde_json::from_value(serde_json::json!({
            "seq": 0, "at": "2026-01-01T00:00:00.000Z", "requestId": format!("r{n}"), "client": "c",
            "auth": "bearer", "endpoint": "keys", "decision": "approved", "rule": null, "reasons": [],
            "signer": null, "sessionKey": null, "resources": [], "nodeCount": 0, "expiration": null,
            "authSig": null, "status": 200
        }))
        .unwrap()
    }

    /// The whole upkeep on one SQLite store: checkpoints, export, retention by rows, a crash
    /// left behind by an exporter, verify full, incremental and db-only, and the feed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checkpoints_export_prune_verify_and_tail_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let StoreSettings::Sqlite(options) = testing::fast_sqlite(dir.path().join("s.sqlite")) else { unreachable!() };
        let store = SqliteStore::open(&options).unwrap();
        let key = open_key(&AuditKeySpec::Memory).await.unwrap();
        let keys = TrustedKeys::parse(&[key.public_key()]).unwrap();
        for n in 1..=25 {
            store.append_audit(entry(n), None).await.unwrap();
        }
        assert_eq!(checkpointer::write_due(&store, &key, 10, Duration::from_secs(3600)).await, Ok(3));
        assert_eq!(checkpointer::write_due(&store, &key, 10, Duration::from_secs(3600)).await, Ok(0), "none due");
        for n in 26..=32 {
            store.append_audit(entry(n), None).await.unwrap();
        }
        let archive = dir.path().join("archive");

        // An exporter that crashed after writing the first segment's file (and a temporary
        // file of the second) but before recording either.
        std::fs::create_dir(&archive).unwrap();
        let first = store.checkpoints(0, 1).await.unwrap().remove(0);
        let rows = store.audit_rows(0, 10).await.unwrap();
        let bytes = Segment { rows, checkpoint: first }.encode().unwrap();
        std::fs::write(archive.join(segment::file_name(1, 10)), &bytes).unwrap();
        std::fs::write(archive.join(format!(".tmp-{}-ab", segment::file_name(11, 20))), b"torn").unwrap();

        let report = export::export(&store, &archive, Some(Retention::Rows(5))).await.unwrap();
        assert_eq!(report.exported.len(), 3);
        assert_eq!((report.pruned_segments, report.pruned_rows), (3, 25));
        assert_eq!(std::fs::read(archive.join(segment::file_name(1, 10))).unwrap(), bytes, "kept as it was");
        let names: Vec<String> =
            export::list_segments(&archive).unwrap().iter().map(|(a, b, _)| segment::file_name(*a, *b)).collect();
        assert_eq!(names.len(), 3);
        assert_eq!(std::fs::read_dir(&archive).unwrap().count(), 3, "the temporary file is gone");
        let again = export::export(&store, &archive, Some(Retention::Rows(5))).await.unwrap();
        assert_eq!(again, export::ExportReport::default(), "a rerun does nothing");
        assert_eq!(store.audit_first_seq().await.unwrap(), Some(26));

        let run = |archive: Option<std::path::PathBuf>, since: Option<verify::Trusted>| {
            let options = verify::VerifyOptions { keys: keys.clone(), archive, since };
            let store = store.clone();
            async move { verify::verify(&store, &options).await.unwrap() }
        };
        // The database alone starts at the checkpoint its first row links to.
        let db = run(None, None).await.unwrap();
        assert_eq!((db.summary.rows, db.summary.checkpoints, db.summary.unsigned), (7, 1, Some((26, 32))));
        // With the archive: one chain from row 1.
        let all = run(Some(archive.clone()), None).await.unwrap();
        assert_eq!((all.summary.rows, all.summary.checkpoints, all.segments), (32, 3, 3));
        let last = all.summary.last_checkpoint.clone().unwrap();
        assert_eq!(last.checkpoint.last_seq, 25);
        // Incremental from a checkpoint that was pruned from the database: through the archive.
        let from20 = Segment::decode(&std::fs::read(archive.join(segment::file_name(11, 20))).unwrap()).unwrap();
        let t20 = verify::Trusted { last_seq: 20, hash: from20.checkpoint.hash.clone() };
        let inc = run(Some(archive.clone()), Some(t20.clone())).await.unwrap();
        assert_eq!((inc.summary.rows, inc.segments), (12, 2));
        let options = verify::VerifyOptions { keys: keys.clone(), archive: None, since: Some(t20) };
        let pruned = verify::verify(&store, &options).await.unwrap_err();
        assert!(pruned.contains("give --archive"), "{pruned}");
        // A checkpoint hash that was never trusted.
        let wrong = verify::Trusted { last_seq: 25, hash: "00".repeat(32) };
        assert_eq!(run(None, Some(wrong)).await.unwrap_err().seq, 21);

        // The feed: rows after 28, then (following) nothing more; a resumed file.
        let mut out = Vec::new();
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let options =
            tail::TailOptions { after: Some(28), follow: false, poll: Duration::from_millis(10), output: None };
        assert_eq!(tail::tail(&store, &options, &mut out, rx.clone()).await.unwrap(), 4);
        let text = String::from_utf8(out).unwrap();
        assert!(text.lines().next().unwrap().starts_with(r#"{"seq":29,"#), "{text}");
        let file = dir.path().join("feed.jsonl");
        let to_file = tail::TailOptions { after: None, output: Some(file.clone()), ..options.clone() };
        assert_eq!(tail::tail(&store, &to_file, &mut Vec::new(), rx.clone()).await.unwrap(), 7);
        assert_eq!(checkpointer::write_due(&store, &key, 10, Duration::ZERO).await, Ok(1));
        store.append_audit(entry(33), None).await.unwrap();
        assert_eq!(tail::tail(&store, &to_file, &mut Vec::new(), rx.clone()).await.unwrap(), 1, "resumed");
        let lines = std::fs::read_to_string(&file).unwrap();
        assert_eq!(lines.lines().count(), 9, "rows 26..33 and the checkpoint over 26..32:\n{lines}");
        // A checkpoint written after its rows were sent is sent before the next row.
        assert!(lines.lines().nth(7).unwrap().starts_with(r#"{"checkpoint":{"first_seq":26,"last_seq":32"#));
        // Rows asked for that were pruned are a gap, not silence.
        let gap = tail::TailOptions { after: Some(3), ..options };
        assert!(tail::tail(&store, &gap, &mut Vec::new(), rx).await.is_err());
    }

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
