//! The TLS listener's configuration: rustls with the ring provider, TLS 1.3 only, optional
//! client certificates verified against a CA (WebPKI) and optionally pinned by SHA-256.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use serde::Deserialize;

use crate::auth;
use crate::secrets;

/// `[tls]` of the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// Server certificate chain (PEM).
    pub cert_file: PathBuf,
    /// Server private key (PEM; a secret file).
    pub key_file: PathBuf,
    /// CA bundle for client certificates (PEM); enables mTLS.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// Pinned client certificates: lines `NAME sha256:HEX` (a secret file). With it, only these
    /// certificates are accepted and the client is the line's NAME.
    #[serde(default)]
    pub client_fingerprints_file: Option<PathBuf>,
    /// Refuse handshakes without a client certificate (default: true unless bearer tokens are
    /// configured too).
    #[serde(default)]
    pub require_client_cert: Option<bool>,
}

/// A TLS configuration error (names files, never key material).
#[derive(Debug, thiserror::Error)]
#[error("tls: {0}")]
pub struct TlsError(pub String);

/// Pinned client certificates: fingerprint → client name.
#[derive(Clone, Debug, Default)]
pub struct Pins(BTreeMap<String, String>);

impl Pins {
    /// Parses `NAME sha256:HEX` lines.
    pub fn parse(text: &str) -> Result<Self, TlsError> {
        let mut out = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (Some(name), Some(fp), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(TlsError(format!("fingerprints file line {}: expected NAME sha256:HEX", n + 1)));
            };
            let hex_part = fp.strip_prefix("sha256:").unwrap_or(fp).replace(':', "").to_ascii_lowercase();
            if hex_part.len() != 64 || !hex_part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(TlsError(format!("fingerprints file line {}: not a SHA-256 fingerprint", n + 1)));
            }
            out.insert(hex_part, name.to_string());
        }
        Ok(Self(out))
    }

    /// The client name pinned to this certificate.
    pub fn name_for(&self, der: &[u8]) -> Option<&str> {
        self.0.get(&auth::fingerprint(der)).map(String::as_str)
    }
}

/// Wraps the WebPKI verifier: the chain must verify, then the leaf must be pinned.
#[derive(Debug)]
struct PinnedVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    pins: Pins,
}

impl ClientCertVerifier for PinnedVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.inner.verify_client_cert(end_entity, intermediates, now)?;
        if self.pins.name_for(end_entity).is_none() {
            return Err(rustls::Error::General("client certificate is not in the pinned fingerprints".into()));
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| TlsError(format!("{}: {e}", path.display())))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(TlsError(format!("{}: no certificate in the file", path.display())));
    }
    Ok(certs)
}

/// A built TLS configuration and the pins (to name clients).
pub struct Built {
    /// The rustls server configuration.
    pub config: Arc<rustls::ServerConfig>,
    /// Pinned fingerprints, if configured.
    pub pins: Option<Pins>,
}

/// Builds the server configuration. `tokens_configured` decides whether clients without a
/// certificate may connect (to present a bearer token) unless `require_client_cert` says.
pub fn build(section: &TlsSection, tokens_configured: bool) -> Result<Built, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = read_certs(&section.cert_file)?;
    let key_pem = secrets::read_secret(&section.key_file).map_err(|e| TlsError(e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| TlsError(format!("{}: no usable private key ({e})", section.key_file.display())))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError(e.to_string()))?;
    let mut pins = None;
    let builder = match &section.client_ca_file {
        None => {
            if section.client_fingerprints_file.is_some() {
                return Err(TlsError("client_fingerprints_file needs client_ca_file".into()));
            }
            builder.with_no_client_auth()
        }
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in read_certs(ca)? {
                roots.add(c).map_err(|e| TlsError(format!("{}: {e}", ca.display())))?;
            }
            let mandatory = section.require_client_cert.unwrap_or(!tokens_configured);
            let mut vb = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if !mandatory {
                vb = vb.allow_unauthenticated();
            }
            let webpki = vb.build().map_err(|e| TlsError(format!("client CA: {e}")))?;
            let verifier: Arc<dyn ClientCertVerifier> = match &section.client_fingerprints_file {
                None => webpki,
                Some(path) => {
                    let text = secrets::read_secret_text(path).map_err(|e| TlsError(e.to_string()))?;
                    let p = Pins::parse(&text)?;
                    pins = Some(p.clone());
                    Arc::new(PinnedVerifier { inner: webpki, pins: p })
                }
            };
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| TlsError(format!("server key: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Built { config: Arc::new(config), pins })
}
