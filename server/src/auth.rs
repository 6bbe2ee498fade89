//! Client authentication: bearer tokens (stored as SHA-256 hashes, compared in constant time,
//! accepted only in the `Authorization` header, two per client for rotation) and the identity
//! of a TLS client certificate (pinned name, else the first DNS or URI SAN, else the CN).

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::secrets;

/// At most this many valid tokens per client (old and new, during a rotation).
pub const TOKENS_PER_CLIENT: usize = 2;

/// How a client authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// A bearer token in the `Authorization` header.
    Bearer,
    /// A TLS client certificate.
    Mtls,
    /// No client: the service itself, on its own schedule (audit rows of session-key events
    /// only; a policy cannot name it).
    #[serde(rename = "none")]
    Service,
}

impl AuthMethod {
    /// `bearer` or `mtls` (the policy file's and audit rows' names; `none` for the service).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Bearer => "bearer",
            Self::Mtls => "mtls",
            Self::Service => "none",
        }
    }

    /// Parses `bearer` or `mtls`.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Bearer, Self::Mtls].into_iter().find(|m| m.as_str() == s)
    }
}

/// The authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The client name (a policy key).
    pub client: String,
    /// How it authenticated.
    pub method: AuthMethod,
}

/// The TLS client identity of a connection, if it presented a certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerIdentity(pub Option<String>);

/// Token hashes by client.
#[derive(Clone, Default)]
pub struct Tokens {
    entries: Vec<(String, [u8; 32])>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Hashes are not secrets, but there is no reason to print them.
        f.debug_struct("Tokens").field("count", &self.entries.len()).finish()
    }
}

/// A bad token file (the message names the line, never a value).
#[derive(Debug, thiserror::Error)]
#[error("tokens file {path}: {message}")]
pub struct TokensError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// SHA-256 of a token, as stored.
pub fn token_hash(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

/// The tokens-file line for `client` and `token`.
pub fn token_line(client: &str, token: &str) -> String {
    format!("{client} sha256:{}", hex::encode(token_hash(token.as_bytes())))
}

impl Tokens {
    /// Parses `CLIENT sha256:HEX` lines (`#` comments and blank lines ignored).
    pub fn parse(text: &str, path: &str) -> Result<Self, TokensError> {
        let err = |message: String| TokensError { path: path.to_string(), message };
        let mut entries = Vec::new();
        let mut per_client: BTreeMap<String, usize> = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (Some(client), Some(hash), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(err(format!("line {}: expected CLIENT sha256:HEX", n + 1)));
            };
            let hex_part = hash.strip_prefix("sha256:").ok_or_else(|| {
                err(format!("line {}: the hash must start with sha256: (the file holds hashes, not tokens)", n + 1))
            })?;
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(hex_part, &mut bytes)
                .map_err(|_| err(format!("line {}: sha256: must be followed by 64 hex digits", n + 1)))?;
            let count = per_client.entry(client.to_string()).or_default();
            *count += 1;
            if *count > TOKENS_PER_CLIENT {
                return Err(err(format!(
                    "line {}: client {client:?} has more than {TOKENS_PER_CLIENT} tokens (one current, one being rotated out)",
                    n + 1
                )));
            }
            entries.push((client.to_string(), bytes));
        }
        Ok(Self { entries })
    }

    /// Reads a token hash file (a secret file).
    pub fn read(path: &Path) -> Result<Self, TokensError> {
        let text = secrets::read_secret_text(path)
            .map_err(|e| TokensError { path: path.display().to_string(), message: e.to_string() })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Adds one token (dev mode).
    pub fn with_token(mut self, client: &str, token: &str) -> Self {
        self.entries.push((client.to_string(), token_hash(token.as_bytes())));
        self
    }

    /// The client whose token this is. Every stored hash is compared, each in constant time.
    pub fn client_for(&self, token: &str) -> Option<String> {
        let presented = Zeroizing::new(token_hash(token.as_bytes()));
        let mut found = None;
        for (client, hash) in &self.entries {
            let equal: bool = hash[..].ct_eq(&presented[..]).into();
            if equal && found.is_none() {
                found = Some(client.clone());
            }
        }
        found
    }

    /// Whether any token is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Query parameter names that look like credentials; a request carrying one is refused so
/// tokens never travel where proxies and logs keep them. Names are compared after
/// percent-decoding (repeatedly, so `%255F` counts as `_` too), `+` as a space, in any case,
/// with `&` and `;` both separating parameters, so no spelling of `access_token` slips by.
pub fn query_has_token(query: Option<&str>) -> bool {
    const NAMES: [&str; 7] = ["token", "access_token", "bearer", "auth", "authorization", "api_key", "apikey"];
    let Some(q) = query else { return false };
    q.split(['&', ';']).any(|pair| {
        let mut name = pair.split('=').next().unwrap_or("").replace('+', " ");
        // Each round removes at least one `%`, so this ends.
        while name.contains('%') {
            let decoded = percent_decode(&name);
            if decoded == name {
                break;
            }
            name = decoded;
        }
        let name = name.trim().to_ascii_lowercase();
        NAMES.contains(&name.as_str())
    })
}

// `%XX` → the byte, anything else kept; invalid UTF-8 replaced.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The identity in a client certificate: the first DNS or URI subject alternative name, else
/// the subject's common name.
pub fn certificate_identity(der: &[u8]) -> Option<String> {
    use x509_cert::der::Decode;
    use x509_cert::ext::pkix::name::GeneralName;
    use x509_cert::ext::pkix::SubjectAltName;

    let cert = x509_cert::Certificate::from_der(der).ok()?;
    if let Ok(Some((_, san))) = cert.tbs_certificate.get::<SubjectAltName>() {
        for name in san.0 {
            match name {
                GeneralName::DnsName(n) => return Some(n.as_str().to_string()),
                GeneralName::UniformResourceIdentifier(u) => return Some(u.as_str().to_string()),
                _ => {}
            }
        }
    }
    const CN: x509_cert::der::asn1::ObjectIdentifier = x509_cert::der::asn1::ObjectIdentifier::new_unwrap("2.5.4.3");
    for rdn in cert.tbs_certificate.subject.0.iter() {
        for atv in rdn.0.iter() {
            if atv.oid == CN {
                if let Ok(s) = atv.value.decode_as::<x509_cert::der::asn1::Utf8StringRef<'_>>() {
                    return Some(s.as_str().to_string());
                }
                if let Ok(s) = atv.value.decode_as::<x509_cert::der::asn1::PrintableStringRef<'_>>() {
                    return Some(s.as_str().to_string());
                }
            }
        }
    }
    None
}

/// SHA-256 fingerprint of a certificate (lowercase hex).
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_file() {
        let a = token_line("app", "t1");
        let b = token_line("app", "t2");
        let t = Tokens::parse(&format!("# c\n{a}\n\n{b}\n"), "f").unwrap();
        assert_eq!(t.client_for("t1").as_deref(), Some("app"));
        assert_eq!(t.client_for("t2").as_deref(), Some("app"));
        assert_eq!(t.client_for("t3"), None);
        let c = token_line("app", "t3");
        assert!(Tokens::parse(&format!("{a}\n{b}\n{c}"), "f").unwrap_err().to_string().contains("more than 2"));
        assert!(Tokens::parse("app t1", "f").is_err());
        assert!(Tokens::parse("app sha256:zz", "f").is_err());
    }

    #[test]
    fn query_tokens() {
        assert!(query_has_token(Some("access_token=x")));
        assert!(query_has_token(Some("a=1&Token=x")));
        // Percent-encoded, double-encoded, mixed case, other separators: all the same name.
        for q in [
            "access%5Ftoken=x",
            "access%5ftoken=x",
            "%61ccess_token=x",
            "access%255Ftoken=x",
            "a=1;access_token=x",
            "%41PI%5FKEY=x",
            "to%6Ben",
            "+token+=x",
            "%74%6f%6b%65%6e=",
        ] {
            assert!(query_has_token(Some(q)), "{q}");
        }
        for q in ["a=access_token", "access%5Ftokens=x", "tok%en=x", "%zz=1", "%"] {
            assert!(!query_has_token(Some(q)), "{q}");
        }
        assert!(!query_has_token(Some("a=1")));
        assert!(!query_has_token(None));
    }
}
