//! The key that signs audit checkpoints: an ed25519 key held like a session key (PKCS#11 or
//! memory), opened through the same key stores.

use std::path::PathBuf;
use std::sync::Arc;

use lit_session_signer::keystore::{KeyId, MemoryKeyStore, Pkcs11KeyStore, SessionKeyStore};

use super::error_chain;
use super::profile::{parse_uri, read_key32};

/// Where the audit checkpoint key lives (`[audit]`): an ed25519 key like a session key.
#[derive(Debug, Clone)]
pub enum AuditKeySpec {
    /// A fresh in-memory key (lost at exit; tests and dev mode).
    Memory,
    /// An in-memory key from a 32-byte hex seed file (a secret file).
    SeedFile(PathBuf),
    /// A key on a PKCS#11 token, by a URI with `object=` or `id=`.
    Pkcs11(String),
}

/// The key that signs audit checkpoints. Its private half stays in the token (or in memory).
pub struct AuditKey {
    keys: Arc<dyn SessionKeyStore>,
    id: KeyId,
    public: String,
    /// `memory` or `pkcs11`.
    pub backend: &'static str,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKey").field("public", &self.public).field("backend", &self.backend).finish()
    }
}

impl AuditKey {
    /// Opens the key (blocking: a PKCS#11 log-in and look-up).
    pub fn open(spec: &AuditKeySpec) -> Result<Self, String> {
        let (keys, id, backend): (Arc<dyn SessionKeyStore>, KeyId, &'static str) = match spec {
            AuditKeySpec::Memory => {
                let store = MemoryKeyStore::new();
                let id = store.generate("audit-checkpoint").map_err(|e| e.to_string())?;
                (Arc::new(store), id, "memory")
            }
            AuditKeySpec::SeedFile(path) => {
                let store = MemoryKeyStore::new();
                let seed = read_key32(path).map_err(|e| format!("audit key seed: {e}"))?;
                let id = store.import_seed("audit-checkpoint", seed).map_err(|e| e.to_string())?;
                (Arc::new(store), id, "memory")
            }
            AuditKeySpec::Pkcs11(uri) => {
                let parsed = parse_uri(uri).map_err(|e| format!("audit key: {e}"))?;
                if parsed.id.is_none() && parsed.object.is_none() {
                    return Err("audit key: the pkcs11: URI must name the key (object= or id=)".into());
                }
                let store = Pkcs11KeyStore::open(&parsed).map_err(|e| format!("audit key: {e}"))?;
                let id = store.resolve(&parsed).map_err(|e| format!("audit key: {e}"))?;
                (Arc::new(store), id, "pkcs11")
            }
        };
        let public = hex::encode(keys.public_key(&id).map_err(|e| format!("audit key: {e}"))?.as_bytes());
        Ok(Self { keys, id, public, backend })
    }

    /// The public key, lowercase hex (32 bytes).
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// Signs `message` (pure ed25519). Blocking: call off the runtime.
    pub fn sign(&self, message: &[u8]) -> Result<[u8; 64], String> {
        self.keys.sign(&self.id, message).map(|s| s.to_bytes()).map_err(|e| format!("audit key: {}", error_chain(&e)))
    }
}
