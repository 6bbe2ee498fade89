//! The configuration file (TOML) plus environment overrides. Secrets are never in it: it names
//! files (PINs through `pin-source=file:` in PKCS#11 URIs, wallet keys, seeds, the token hash
//! file, the TLS key), and those files follow the secret-file rule of [`crate::secrets`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::app::{AppSettings, Limits, PolicySource};
use crate::audit_jobs::{AuditSection, AuditSettings};
use crate::auth::Tokens;
use crate::duration::{self, parse_duration};
use crate::server::ListenSettings;
use crate::signing::{KeyRotation, ProfileSpec, SessionKeySpec, WalletSpec};
use crate::store::{StoreSection, StoreSettings};
use crate::tls::TlsSection;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Listeners and limits.
    #[serde(default)]
    pub server: ServerSection,
    /// TLS and client certificates.
    #[serde(default)]
    pub tls: Option<TlsSection>,
    /// Bearer tokens.
    #[serde(default)]
    pub auth: AuthSection,
    /// The store.
    #[serde(default)]
    pub store: StoreSection,
    /// The audit log's checkpoints, archive and retention.
    #[serde(default)]
    pub audit: AuditSection,
    /// The policy file.
    #[serde(default)]
    pub policy: PolicySection,
    /// Signer profiles by name.
    #[serde(default)]
    pub signers: BTreeMap<String, SignerSection>,
    /// Logging.
    #[serde(default)]
    pub log: LogSection,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// The API listener.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The metrics listener (no authentication: keep it on loopback or a private network).
    #[serde(default)]
    pub metrics_listen: Option<String>,
    /// Plain HTTP on a non-loopback address (only behind a TLS-terminating proxy).
    #[serde(default)]
    pub allow_plaintext: bool,
    /// Largest request body.
    #[serde(default = "default_body_limit")]
    pub body_limit_bytes: usize,
    /// Longest request, from headers received to response.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: String,
    /// Longest time to receive the headers (and finish the TLS handshake) or the body.
    #[serde(default = "default_header_timeout")]
    pub header_timeout: String,
    /// How long in-flight requests may take to finish after SIGTERM.
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace: String,
    /// Concurrent connections.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Interval of the readiness probes (HSM, store, audit).
    #[serde(default = "default_health_interval")]
    pub health_interval: String,
    /// Threads for blocking work (PKCS#11, SQLite): a bounded pool, whatever the load.
    #[serde(default = "default_blocking_threads")]
    pub blocking_threads: usize,
    /// The signer profile used when a request names none.
    #[serde(default)]
    pub default_signer: Option<String>,
}

fn default_listen() -> String {
    "127.0.0.1:8470".into()
}
fn default_body_limit() -> usize {
    256 * 1024
}
fn default_request_timeout() -> String {
    "30s".into()
}
fn default_header_timeout() -> String {
    "10s".into()
}
fn default_shutdown_grace() -> String {
    "30s".into()
}
fn default_max_connections() -> usize {
    1024
}
fn default_health_interval() -> String {
    "5s".into()
}
fn default_blocking_threads() -> usize {
    32
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            metrics_listen: None,
            allow_plaintext: false,
            body_limit_bytes: default_body_limit(),
            request_timeout: default_request_timeout(),
            header_timeout: default_header_timeout(),
            shutdown_grace: default_shutdown_grace(),
            max_connections: default_max_connections(),
            health_interval: default_health_interval(),
            blocking_threads: default_blocking_threads(),
            default_signer: None,
        }
    }
}

/// `[auth]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// Bearer token hashes: lines `CLIENT sha256:HEX`, at most two per client (a secret file).
    #[serde(default)]
    pub tokens_file: Option<PathBuf>,
}

/// `[policy]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    /// The policy file (TOML).
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// `json` (default) or `text`.
    #[serde(default)]
    pub format: Option<String>,
    /// A tracing filter, e.g. `info` or `lit_session_server=debug`.
    #[serde(default)]
    pub level: Option<String>,
}

/// `[signers.NAME]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SignerSection {
    /// `memory`, or a `pkcs11:` URI (as the CLI takes it).
    #[serde(default)]
    pub session_key: Option<String>,
    /// A 32-byte hex session seed file (in-memory key; a secret file).
    #[serde(default)]
    pub session_key_seed_file: Option<PathBuf>,
    /// Label prefix of managed token keys (a URI without object=/id=).
    #[serde(default)]
    pub session_key_label_prefix: Option<String>,
    /// Rotation period of managed token keys.
    #[serde(default)]
    pub session_key_rotate_after: Option<String>,
    /// Who rotates managed token keys: `fleet` (default: every process sharing the store,
    /// together) or `process` (each process on its own; one process on a SQLite file only).
    #[serde(default)]
    pub session_key_rotation: Option<String>,
    /// Fleet rotation: how long the next key is published before it becomes current (default
    /// 1m; at least the health interval lets every replica switch at the same moment).
    #[serde(default)]
    pub session_key_overlap: Option<String>,
    /// `random` (in memory, lost at exit), or a `pkcs11:` URI with object= or id=.
    #[serde(default)]
    pub wallet: Option<String>,
    /// A 32-byte hex secp256k1 key file (a secret file).
    #[serde(default)]
    pub wallet_key_file: Option<PathBuf>,
    /// Lifetime of new AuthSigs (default 24h).
    #[serde(default)]
    pub auth_sig_lifetime: Option<String>,
    /// Replace a cached AuthSig this long before it expires (default 5m).
    #[serde(default)]
    pub expiry_margin: Option<String>,
}

/// A configuration error, naming the setting.
#[derive(Debug, thiserror::Error)]
#[error("config: {0}")]
pub struct ConfigError(pub String);

/// The settings the server runs with, resolved from the file. Each part is defined by the
/// module that uses it, and `run` hands each its own.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The listeners: addresses, TLS, connection bounds, the probe interval.
    pub listen: ListenSettings,
    /// The running service: default profile, request limits, policy and token sources.
    pub app: AppSettings,
    /// The store.
    pub store: StoreSettings,
    /// The audit log's checkpoints, archive and retention.
    pub audit: AuditSettings,
    /// Signer profiles.
    pub signers: Vec<ProfileSpec>,
    /// Threads for blocking work.
    pub blocking_threads: usize,
    /// JSON logs.
    pub log_json: bool,
    /// Log filter.
    pub log_level: String,
}

fn std_duration(s: &str, what: &str) -> Result<Duration, ConfigError> {
    duration::setting(s, what).map_err(ConfigError)
}

fn time_duration(s: Option<&str>, default: time::Duration, what: &str) -> Result<time::Duration, ConfigError> {
    match s {
        None => Ok(default),
        Some(s) => parse_duration(s).map_err(|e| ConfigError(format!("{what}: {e}"))),
    }
}

/// Parses a listen address.
pub fn socket_addr(s: &str, what: &str) -> Result<SocketAddr, ConfigError> {
    s.parse().map_err(|_| ConfigError(format!("{what}: {s:?} is not IP:PORT")))
}

/// The `LITSIGNER_*` variables, each with the key it sets.
#[allow(clippy::type_complexity)]
const ENV: &[(&str, fn(&mut ConfigFile, String))] = &[
    ("LITSIGNER_LISTEN", |f, v| f.server.listen = v),
    ("LITSIGNER_METRICS_LISTEN", |f, v| f.server.metrics_listen = Some(v)),
    ("LITSIGNER_STORE_PATH", |f, v| f.store.path = Some(v.into())),
    ("LITSIGNER_STORE_BACKEND", |f, v| f.store.backend = Some(v)),
    ("LITSIGNER_STORE_POSTGRES", |f, v| f.store.postgres = Some(v)),
    ("LITSIGNER_POLICY_FILE", |f, v| f.policy.file = Some(v.into())),
    ("LITSIGNER_TOKENS_FILE", |f, v| f.auth.tokens_file = Some(v.into())),
    ("LITSIGNER_LOG", |f, v| f.log.level = Some(v)),
    ("LITSIGNER_LOG_FORMAT", |f, v| f.log.format = Some(v)),
];

impl ConfigFile {
    /// Reads a configuration file.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))
    }

    /// Applies `LITSIGNER_*` environment variables over the file's values.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) {
        for (name, set) in ENV {
            if let Some(v) = env(name) {
                set(self, v);
            }
        }
    }

    /// Validates and resolves the file into [`Settings`]; `policy.file` is required.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        self.resolve(None)
    }

    /// [`Self::settings`] with the policy from elsewhere (dev mode's fixed text).
    pub fn settings_with_policy(&self, policy: PolicySource) -> Result<Settings, ConfigError> {
        self.resolve(Some(policy))
    }

    fn resolve(&self, policy: Option<PolicySource>) -> Result<Settings, ConfigError> {
        let s = &self.server;
        let signers = self.signers.iter().map(|(name, sec)| signer_spec(name, sec)).collect::<Result<Vec<_>, _>>()?;
        if signers.is_empty() {
            return Err(ConfigError("no [signers.NAME] profile is configured".into()));
        }
        let default_signer = match &s.default_signer {
            Some(d) if !self.signers.contains_key(d) => {
                return Err(ConfigError(format!("server.default_signer: no profile {d:?}")))
            }
            Some(d) => d.clone(),
            None if self.signers.contains_key("default") => "default".into(),
            None if self.signers.len() == 1 => self.signers.keys().next().cloned().unwrap_or_default(),
            None => return Err(ConfigError("server.default_signer: several profiles and none named default".into())),
        };
        let store = self.store.settings().map_err(ConfigError)?;
        let audit = self.audit.settings().map_err(ConfigError)?;
        if matches!(store, StoreSettings::Postgres(_)) {
            refuse_rotating_session_keys(&signers)?;
        }
        let log_json = match self.log.format.as_deref() {
            None | Some("json") => true,
            Some("text") => false,
            Some(o) => return Err(ConfigError(format!("log.format: {o:?} (json or text)"))),
        };
        // Checked in the order the file lists them.
        let listen = socket_addr(&s.listen, "server.listen")?;
        let metrics_listen =
            s.metrics_listen.as_deref().map(|m| socket_addr(m, "server.metrics_listen")).transpose()?;
        let request_timeout = std_duration(&s.request_timeout, "server.request_timeout")?;
        let header_timeout = std_duration(&s.header_timeout, "server.header_timeout")?;
        let shutdown_grace = std_duration(&s.shutdown_grace, "server.shutdown_grace")?;
        let health_interval = std_duration(&s.health_interval, "server.health_interval")?;
        let policy = match policy {
            Some(p) => p,
            None => PolicySource::File(
                self.policy.file.clone().ok_or_else(|| ConfigError("policy.file is required".into()))?,
            ),
        };
        Ok(Settings {
            listen: ListenSettings {
                listen,
                metrics_listen,
                allow_plaintext: s.allow_plaintext,
                tls: self.tls.clone(),
                max_connections: s.max_connections.max(1),
                header_timeout,
                shutdown_grace,
                health_interval,
            },
            app: AppSettings {
                default_signer,
                // The body must arrive within the header time limit too.
                limits: Limits {
                    body_limit: s.body_limit_bytes.max(1024),
                    request_timeout,
                    body_timeout: header_timeout,
                },
                policy,
                tokens_file: self.auth.tokens_file.clone(),
                extra_tokens: Tokens::default(),
                audit_spool: self.store.audit_spool.clone(),
                key_settle: health_interval + request_timeout,
            },
            store,
            audit,
            signers,
            blocking_threads: s.blocking_threads.clamp(2, 512),
            log_json,
            log_level: self.log.level.clone().unwrap_or_else(|| "info".into()),
        })
    }
}

/// Replicas on one database share AuthSigs: keys rotated by each process on its own clock would
/// be deleted while another still signs with them. A shared store rotates keys as a fleet.
fn refuse_rotating_session_keys(signers: &[ProfileSpec]) -> Result<(), ConfigError> {
    for spec in signers {
        if let SessionKeySpec::Pkcs11 { uri, rotation: KeyRotation::Process, .. } = &spec.session_key {
            let names_key = crate::signing::session_uri_names_key(uri)
                .map_err(|e| ConfigError(format!("signers.{}.session_key: {e}", spec.name)))?;
            if !names_key {
                return Err(ConfigError(format!(
                    "signers.{}.session_key_rotation = \"process\": each process would make and rotate labelled keys \
                     on its own clock, which replicas sharing the PostgreSQL store cannot do (one would delete the \
                     key another signs with); use session_key_rotation = \"fleet\" (the default), or name one key \
                     with object=LABEL or id=HEX",
                    spec.name
                )));
            }
        }
    }
    Ok(())
}

/// `session_key_rotation` and `session_key_overlap`: fleet rotation publishes the next key
/// `overlap` before it takes over, so the overlap must be shorter than a key's turn.
fn key_rotation(
    sec: &SignerSection,
    rotate_after: Option<time::Duration>,
    at: &dyn Fn(&str) -> String,
) -> Result<KeyRotation, ConfigError> {
    let overlap =
        time_duration(sec.session_key_overlap.as_deref(), time::Duration::minutes(1), &at("session_key_overlap"))?;
    match sec.session_key_rotation.as_deref() {
        None | Some("fleet") => {
            if overlap.is_negative() {
                return Err(ConfigError(format!("{}: must not be negative", at("session_key_overlap"))));
            }
            if let Some(turn) = rotate_after.filter(|r| *r <= overlap) {
                return Err(ConfigError(format!(
                    "{}: {turn} is not longer than session_key_overlap ({overlap}): every key would be replaced \
                     before it took over",
                    at("session_key_rotate_after")
                )));
            }
            Ok(KeyRotation::Fleet { overlap })
        }
        Some("process") if sec.session_key_overlap.is_some() => {
            Err(ConfigError(format!("{}: belongs to session_key_rotation = \"fleet\"", at("session_key_overlap"))))
        }
        Some("process") => Ok(KeyRotation::Process),
        Some(o) => Err(ConfigError(format!("{}: {o:?} (fleet or process)", at("session_key_rotation")))),
    }
}

fn signer_spec(name: &str, sec: &SignerSection) -> Result<ProfileSpec, ConfigError> {
    let at = |what: &str| format!("signers.{name}.{what}");
    let session_key = match (sec.session_key.as_deref(), &sec.session_key_seed_file) {
        (Some(_), Some(_)) => {
            return Err(ConfigError(format!(
                "{}: give session_key or session_key_seed_file, not both",
                at("session_key")
            )))
        }
        (None, Some(path)) => SessionKeySpec::SeedFile(path.clone()),
        (Some("memory"), None) | (None, None) => SessionKeySpec::Memory,
        (Some(uri), None) if uri.starts_with("pkcs11:") => {
            let rotate_after = sec
                .session_key_rotate_after
                .as_deref()
                .map(|r| parse_duration(r).map_err(|e| ConfigError(format!("{}: {e}", at("session_key_rotate_after")))))
                .transpose()?;
            SessionKeySpec::Pkcs11 {
                uri: uri.to_string(),
                label_prefix: sec.session_key_label_prefix.clone(),
                rotate_after,
                rotation: key_rotation(sec, rotate_after, &at)?,
            }
        }
        (Some(_), None) => {
            return Err(ConfigError(format!(
                "{}: expected memory or a pkcs11: URI [value withheld]",
                at("session_key")
            )))
        }
    };
    let wallet = match (sec.wallet.as_deref(), &sec.wallet_key_file) {
        (Some(_), Some(_)) => {
            return Err(ConfigError(format!("{}: give wallet or wallet_key_file, not both", at("wallet"))))
        }
        (None, Some(path)) => WalletSpec::KeyFile(path.clone()),
        (Some("random"), None) => WalletSpec::Random,
        (Some(uri), None) if uri.starts_with("pkcs11:") => WalletSpec::Pkcs11(uri.to_string()),
        (Some(_), None) => {
            return Err(ConfigError(format!("{}: expected random or a pkcs11: URI [value withheld]", at("wallet"))))
        }
        (None, None) => return Err(ConfigError(format!("{}: no wallet (wallet or wallet_key_file)", at("wallet")))),
    };
    Ok(ProfileSpec {
        name: name.to_string(),
        session_key,
        wallet,
        auth_sig_lifetime: time_duration(
            sec.auth_sig_lifetime.as_deref(),
            time::Duration::hours(24),
            &at("auth_sig_lifetime"),
        )?,
        expiry_margin: time_duration(sec.expiry_margin.as_deref(), time::Duration::minutes(5), &at("expiry_margin"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> Result<Settings, ConfigError> {
        toml::from_str::<ConfigFile>(text).map_err(|e| ConfigError(e.to_string()))?.settings()
    }

    const PG: &str = "[store]\nbackend = \"postgres\"\npostgres = \"host=db user=u dbname=d\"\n";
    const SQLITE: &str = "[store]\npath = \"/tmp/x.sqlite\"\n";

    fn with_signer(store: &str, session_key: &str) -> String {
        format!(
            "[policy]\nfile = \"/p.toml\"\n{store}\n[signers.default]\nsession_key = \"{session_key}\"\nwallet = \"random\"\n"
        )
    }

    #[test]
    fn a_shared_store_rotates_keys_as_a_fleet_never_per_process() {
        let labelled = "pkcs11:token=t?module-path=/m.so&pin-source=file:/pin";
        let fleet = settings(&with_signer(PG, labelled)).unwrap();
        let SessionKeySpec::Pkcs11 { rotation, .. } = &fleet.signers[0].session_key else { panic!("pkcs11") };
        assert_eq!(*rotation, KeyRotation::Fleet { overlap: time::Duration::minutes(1) });
        let per_process = format!("{}session_key_rotation = \"process\"\n", with_signer(PG, labelled));
        let err = settings(&per_process).unwrap_err().to_string();
        assert!(
            err.contains("signers.default.session_key_rotation") && err.contains("\"fleet\" (the default)"),
            "{err}"
        );
        assert!(!err.contains("/m.so"), "the message does not repeat the URI: {err}");
        let fixed = "pkcs11:token=t;object=session-1?module-path=/m.so&pin-source=file:/pin";
        settings(&format!("{}session_key_rotation = \"process\"\n", with_signer(PG, fixed))).unwrap();
        // One process on a SQLite file may rotate on its own (several processes on one file: fleet).
        settings(&format!("{}session_key_rotation = \"process\"\n", with_signer(SQLITE, labelled))).unwrap();

        // The overlap is shorter than a key's turn, and belongs to fleet rotation.
        let turn = |extra: &str| settings(&format!("{}{extra}", with_signer(SQLITE, labelled)));
        let s = turn("session_key_rotate_after = \"3s\"\nsession_key_overlap = \"1s\"\n").unwrap();
        let SessionKeySpec::Pkcs11 { rotation, rotate_after, .. } = &s.signers[0].session_key else { panic!() };
        assert_eq!(
            (*rotation, *rotate_after),
            (KeyRotation::Fleet { overlap: time::Duration::seconds(1) }, Some(time::Duration::seconds(3)))
        );
        let err = turn("session_key_rotate_after = \"1s\"\nsession_key_overlap = \"1s\"\n").unwrap_err().to_string();
        assert!(err.contains("session_key_rotate_after") && err.contains("not longer than"), "{err}");
        let err = turn("session_key_rotation = \"process\"\nsession_key_overlap = \"1s\"\n").unwrap_err().to_string();
        assert!(err.contains("session_key_overlap: belongs to"), "{err}");
        let err = turn("session_key_rotation = \"cluster\"\n").unwrap_err().to_string();
        assert!(err.contains("(fleet or process)"), "{err}");
    }

    #[test]
    fn audit_spool_belongs_to_postgres_and_mint_sign_timeout_parses() {
        let spool = format!("{SQLITE}audit_spool = \"/tmp/spool.jsonl\"\n");
        let err = settings(&with_signer(&spool, "memory")).unwrap_err().to_string();
        assert!(err.contains("store.audit_spool belongs to backend = \"postgres\""), "{err}");
        let pg_spool = format!("{PG}audit_spool = \"/tmp/spool.jsonl\"\nmint_sign_timeout = \"90s\"\n");
        let s = settings(&with_signer(&pg_spool, "memory")).unwrap();
        assert_eq!(s.store.mint_sign_timeout(), Duration::from_secs(90));
        let s = settings(&with_signer(SQLITE, "memory")).unwrap();
        assert_eq!(s.store.mint_sign_timeout(), crate::store::DEFAULT_MINT_SIGN_TIMEOUT);
    }
}
