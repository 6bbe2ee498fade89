//! PKCS#11 URIs (RFC 7512) naming a module, a token and a key.
//!
//! ```text
//! pkcs11:token=lit;object=session-1?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin
//! ```
//!
//! Path attributes (`;`-separated): `token`, `serial`, `manufacturer`, `model`, `object`, `id`
//! (percent-encoded bytes), `type`, and the library/slot description attributes, which are
//! kept but not used for matching. Query attributes (`&`-separated): `module-path`,
//! `module-name`, `pin-source` (`file:/path`, a bare path, or our extension `env:VARNAME`).
//! `pin-value` is refused: a URI ends up in logs, shell history and argv, so it must not carry a
//! secret. `slot-id` is refused because slot ids change between loads (SoftHSM renumbers
//! them). Vendor attributes (`x-…`) are kept; any other unknown attribute is an error, so a typo
//! such as `tokne=` cannot silently select the wrong key. Parsing never panics.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::pin::{PinError, PinSource};

/// Why a PKCS#11 URI was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// The string does not start with `pkcs11:`. The text is not kept: it may be a key or PIN
    /// given in the wrong place.
    #[error("not a PKCS#11 URI (must start with \"pkcs11:\") [value withheld]")]
    Scheme,
    /// An attribute without `=`. Its text is not kept: a PIN typed into the URI would be one.
    #[error("a PKCS#11 URI attribute has no '=value' [value withheld]")]
    MissingValue,
    /// A bad `%XX` escape or a value that must be text but is not UTF-8.
    #[error("PKCS#11 URI attribute {attribute}: {reason}")]
    BadValue {
        /// The attribute.
        attribute: String,
        /// What is wrong.
        reason: String,
    },
    /// An attribute that appears twice.
    #[error("PKCS#11 URI attribute {0} appears more than once")]
    Duplicate(String),
    /// An attribute this crate does not know (vendor attributes must start with `x-`).
    #[error("unknown PKCS#11 URI {place} attribute {name:?} (vendor attributes must start with \"x-\")")]
    UnknownAttribute {
        /// `path` or `query`.
        place: &'static str,
        /// The attribute name.
        name: String,
    },
    /// `pin-value` was given.
    #[error("pin-value is refused: a URI must not carry the PIN; use pin-source=file:/path or pin-source=env:VARNAME")]
    PinValueRefused,
    /// `slot-id` was given.
    #[error("slot-id is not supported because slot ids change between loads; select the token with token= or serial=")]
    SlotIdRefused,
    /// A `type` that is not one of the RFC 7512 object types.
    #[error("unknown PKCS#11 object type {0:?} (expected private, public, secret-key, cert or data)")]
    ObjectType(String),
    /// A bad `pin-source`.
    #[error("PKCS#11 URI pin-source: {0}")]
    PinSource(#[from] PinError),
}

/// The RFC 7512 `type` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectType {
    /// `private`: a private key.
    Private,
    /// `public`: a public key.
    Public,
    /// `secret-key`: a secret key.
    SecretKey,
    /// `cert`: a certificate.
    Cert,
    /// `data`: a data object.
    Data,
}

impl ObjectType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::Public => "public",
            Self::SecretKey => "secret-key",
            Self::Cert => "cert",
            Self::Data => "data",
        }
    }
}

impl FromStr for ObjectType {
    type Err = UriError;
    fn from_str(s: &str) -> Result<Self, UriError> {
        Ok(match s {
            "private" => Self::Private,
            "public" => Self::Public,
            "secret-key" => Self::SecretKey,
            "cert" => Self::Cert,
            "data" => Self::Data,
            other => return Err(UriError::ObjectType(other.to_string())),
        })
    }
}

/// A parsed PKCS#11 URI. Every field is optional; what is required depends on the use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pkcs11Uri {
    /// `token`: the token label.
    pub token: Option<String>,
    /// `serial`: the token serial number.
    pub serial: Option<String>,
    /// `manufacturer`: the token manufacturer.
    pub manufacturer: Option<String>,
    /// `model`: the token model.
    pub model: Option<String>,
    /// `object`: the object label (`CKA_LABEL`).
    pub object: Option<String>,
    /// `id`: the object id (`CKA_ID`), raw bytes.
    pub id: Option<Vec<u8>>,
    /// `type`: the object type.
    pub object_type: Option<ObjectType>,
    /// `library-manufacturer`, kept for round-tripping (not used to match).
    pub library_manufacturer: Option<String>,
    /// `library-description`, kept for round-tripping (not used to match).
    pub library_description: Option<String>,
    /// `library-version`, kept for round-tripping (not used to match).
    pub library_version: Option<String>,
    /// `slot-description`, kept for round-tripping (not used to match).
    pub slot_description: Option<String>,
    /// `slot-manufacturer`, kept for round-tripping (not used to match).
    pub slot_manufacturer: Option<String>,
    /// `module-path`: the PKCS#11 library to load.
    pub module_path: Option<PathBuf>,
    /// `module-name`: a library name for a module registry such as p11-kit (kept, not resolved).
    pub module_name: Option<String>,
    /// `pin-source`: where the user PIN is read from.
    pub pin_source: Option<PinSource>,
    /// Vendor path attributes (`x-…`), in order, decoded.
    pub vendor_path: Vec<(String, String)>,
    /// Vendor query attributes (`x-…`), in order, decoded.
    pub vendor_query: Vec<(String, String)>,
}

impl Pkcs11Uri {
    /// Parses a URI. Same as `s.parse()`.
    pub fn parse(s: &str) -> Result<Self, UriError> {
        s.parse()
    }

    /// A URI naming only a module, a token label and a PIN source (handy in code and tests).
    pub fn for_token(module_path: impl Into<PathBuf>, token: &str, pin_source: PinSource) -> Self {
        Self {
            token: Some(token.to_string()),
            module_path: Some(module_path.into()),
            pin_source: Some(pin_source),
            ..Self::default()
        }
    }

    /// This URI with the object selector replaced by `object=<label>`.
    pub fn with_object(mut self, label: &str) -> Self {
        self.object = Some(label.to_string());
        self.id = None;
        self
    }

    /// This URI with the object selector replaced by `id=<bytes>`.
    pub fn with_id(mut self, id: &[u8]) -> Self {
        self.id = Some(id.to_vec());
        self.object = None;
        self
    }
}

fn set<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), UriError> {
    if slot.is_some() {
        return Err(UriError::Duplicate(name.to_string()));
    }
    *slot = Some(value);
    Ok(())
}

impl FromStr for Pkcs11Uri {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Self, UriError> {
        let s = s.trim();
        // The scheme is case-insensitive (RFC 3986).
        let rest = match s.get(..7) {
            Some(scheme) if scheme.eq_ignore_ascii_case("pkcs11:") => s.get(7..).unwrap_or(""),
            _ => return Err(UriError::Scheme),
        };
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let mut uri = Pkcs11Uri::default();

        for (name, raw) in attributes(path, ';')? {
            match name {
                "id" => set(&mut uri.id, name, decode(name, raw)?)?,
                "type" => set(&mut uri.object_type, name, text(name, raw)?.parse()?)?,
                "token" => set(&mut uri.token, name, text(name, raw)?)?,
                "serial" => set(&mut uri.serial, name, text(name, raw)?)?,
                "manufacturer" => set(&mut uri.manufacturer, name, text(name, raw)?)?,
                "model" => set(&mut uri.model, name, text(name, raw)?)?,
                "object" => set(&mut uri.object, name, text(name, raw)?)?,
                "library-manufacturer" => set(&mut uri.library_manufacturer, name, text(name, raw)?)?,
                "library-description" => set(&mut uri.library_description, name, text(name, raw)?)?,
                "library-version" => set(&mut uri.library_version, name, text(name, raw)?)?,
                "slot-description" => set(&mut uri.slot_description, name, text(name, raw)?)?,
                "slot-manufacturer" => set(&mut uri.slot_manufacturer, name, text(name, raw)?)?,
                "slot-id" => return Err(UriError::SlotIdRefused),
                // A PIN in the path is as bad as one in the query.
                "pin-value" => return Err(UriError::PinValueRefused),
                n if n.starts_with("x-") => uri.vendor_path.push((n.to_string(), text(n, raw)?)),
                n => return Err(UriError::UnknownAttribute { place: "path", name: n.to_string() }),
            }
        }

        if let Some(query) = query {
            for (name, raw) in attributes(query, '&')? {
                match name {
                    "pin-value" => return Err(UriError::PinValueRefused),
                    "module-path" => set(&mut uri.module_path, name, PathBuf::from(text(name, raw)?))?,
                    "module-name" => set(&mut uri.module_name, name, text(name, raw)?)?,
                    "pin-source" => {
                        let source = PinSource::parse(&text(name, raw)?)?;
                        set(&mut uri.pin_source, name, source)?
                    }
                    n if n.starts_with("x-") => uri.vendor_query.push((n.to_string(), text(n, raw)?)),
                    n => return Err(UriError::UnknownAttribute { place: "query", name: n.to_string() }),
                }
            }
        }
        Ok(uri)
    }
}

/// Splits `a=b<sep>c=d`, skipping empty segments. Names are matched case-sensitively, as in
/// RFC 7512.
fn attributes(s: &str, sep: char) -> Result<Vec<(&str, &str)>, UriError> {
    s.split(sep).filter(|seg| !seg.is_empty()).map(|seg| seg.split_once('=').ok_or(UriError::MissingValue)).collect()
}

/// Percent-decodes into bytes.
fn decode(attribute: &str, raw: &str) -> Result<Vec<u8>, UriError> {
    let bad = |reason: &str| UriError::BadValue { attribute: attribute.to_string(), reason: reason.to_string() };
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).and_then(|c| hex_val(*c));
            let lo = bytes.get(i + 2).and_then(|c| hex_val(*c));
            match (hi, lo) {
                (Some(hi), Some(lo)) => out.push((hi << 4) | lo),
                _ => return Err(bad("bad percent escape (expected %XX)")),
            }
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Ok(out)
}

/// Percent-decodes into UTF-8 text.
fn text(attribute: &str, raw: &str) -> Result<String, UriError> {
    String::from_utf8(decode(attribute, raw)?).map_err(|_| UriError::BadValue {
        attribute: attribute.to_string(),
        reason: "not UTF-8 after percent-decoding".to_string(),
    })
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Percent-encodes every byte that is not unreserved (plus `extra`).
fn encode(out: &mut String, bytes: &[u8], extra: &[u8]) {
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || extra.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

impl fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::from("pkcs11:");
        let mut path: Vec<(&str, &[u8])> = Vec::new();
        let text_attrs: [(&str, &Option<String>); 10] = [
            ("library-manufacturer", &self.library_manufacturer),
            ("library-description", &self.library_description),
            ("library-version", &self.library_version),
            ("slot-description", &self.slot_description),
            ("slot-manufacturer", &self.slot_manufacturer),
            ("manufacturer", &self.manufacturer),
            ("model", &self.model),
            ("serial", &self.serial),
            ("token", &self.token),
            ("object", &self.object),
        ];
        for (name, value) in text_attrs {
            if let Some(v) = value {
                path.push((name, v.as_bytes()));
            }
        }
        if let Some(t) = self.object_type {
            path.push(("type", t.as_str().as_bytes()));
        }
        for (name, value) in &self.vendor_path {
            path.push((name, value.as_bytes()));
        }
        for (i, (name, value)) in path.iter().enumerate() {
            if i > 0 {
                out.push(';');
            }
            out.push_str(name);
            out.push('=');
            encode(&mut out, value, b":@!$'()*+,");
        }
        if let Some(id) = &self.id {
            if !path.is_empty() {
                out.push(';');
            }
            out.push_str("id=");
            // Ids are binary: encode every byte so they read the same everywhere.
            for b in id {
                out.push_str(&format!("%{b:02X}"));
            }
        }

        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(p) = &self.module_path {
            query.push(("module-path", p.to_string_lossy().into_owned()));
        }
        if let Some(n) = &self.module_name {
            query.push(("module-name", n.clone()));
        }
        if let Some(p) = &self.pin_source {
            query.push(("pin-source", p.to_string()));
        }
        for (name, value) in &self.vendor_query {
            query.push((name, value.clone()));
        }
        for (i, (name, value)) in query.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(name);
            out.push('=');
            encode(&mut out, value.as_bytes(), b":/@!$'()*+,");
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_from_docs() {
        let uri: Pkcs11Uri =
            "pkcs11:token=lit;object=session-1?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin"
                .parse()
                .unwrap();
        assert_eq!(uri.token.as_deref(), Some("lit"));
        assert_eq!(uri.object.as_deref(), Some("session-1"));
        assert_eq!(uri.module_path, Some(PathBuf::from("/usr/lib/softhsm/libsofthsm2.so")));
        assert_eq!(uri.pin_source, Some(PinSource::File("/run/pin".into())));
    }

    #[test]
    fn rfc7512_examples() {
        let uri = Pkcs11Uri::parse(
            "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=",
        )
        .unwrap();
        assert_eq!(uri.token.as_deref(), Some("The Software PKCS#11 Softtoken"));
        assert_eq!(uri.manufacturer.as_deref(), Some("Snake Oil, Inc."));
        assert_eq!(uri.object_type, Some(ObjectType::Cert));
        assert_eq!(uri.id, Some(vec![0x69, 0x95, 0x3e, 0x5c, 0xf4, 0xbd, 0xec, 0x91]));
        assert_eq!(uri.serial.as_deref(), Some(""));
        assert_eq!(Pkcs11Uri::parse("pkcs11:").unwrap(), Pkcs11Uri::default());
        let uri = Pkcs11Uri::parse("pkcs11:object=my-key;type=private?pin-source=file:/etc/token").unwrap();
        assert_eq!(uri.pin_source, Some(PinSource::File("/etc/token".into())));
        let uri = Pkcs11Uri::parse("PKCS11:token=a?pin-source=%2Fetc%2Fpin&x-foo=bar").unwrap();
        assert_eq!(uri.pin_source, Some(PinSource::File("/etc/pin".into())));
        assert_eq!(uri.vendor_query, vec![("x-foo".into(), "bar".into())]);
    }

    #[test]
    fn env_pin_source() {
        let uri = Pkcs11Uri::parse("pkcs11:token=t?pin-source=env:LIT_PIN").unwrap();
        assert_eq!(uri.pin_source, Some(PinSource::Env("LIT_PIN".into())));
    }

    #[test]
    fn refusals() {
        assert!(matches!(Pkcs11Uri::parse("pkcs11:token=t?pin-value=1234"), Err(UriError::PinValueRefused)));
        assert!(matches!(Pkcs11Uri::parse("pkcs11:token=t;pin-value=1234"), Err(UriError::PinValueRefused)));
        assert!(matches!(Pkcs11Uri::parse("pkcs11:slot-id=3"), Err(UriError::SlotIdRefused)));
        assert!(matches!(Pkcs11Uri::parse("pkcs11:tokne=t"), Err(UriError::UnknownAttribute { place: "path", .. })));
        assert!(matches!(
            Pkcs11Uri::parse("pkcs11:token=t?modul-path=/x"),
            Err(UriError::UnknownAttribute { place: "query", .. })
        ));
        assert!(matches!(Pkcs11Uri::parse("pkcs11:token=a;token=b"), Err(UriError::Duplicate(_))));
        assert!(matches!(Pkcs11Uri::parse("pkcs11:token"), Err(UriError::MissingValue)));
        assert!(matches!(Pkcs11Uri::parse("pkcs11:id=%G1"), Err(UriError::BadValue { .. })));
        assert!(matches!(Pkcs11Uri::parse("pkcs11:id=%1"), Err(UriError::BadValue { .. })));
        assert!(matches!(Pkcs11Uri::parse("pkcs11:token=%FF"), Err(UriError::BadValue { .. })));
        assert!(matches!(Pkcs11Uri::parse("pkcs11:type=key"), Err(UriError::ObjectType(_))));
        assert!(matches!(Pkcs11Uri::parse("http://x"), Err(UriError::Scheme)));
        assert!(matches!(Pkcs11Uri::parse("pkcs1"), Err(UriError::Scheme)));
        assert!(matches!(Pkcs11Uri::parse("pkcs11:token=t?pin-source=|/bin/cat"), Err(UriError::PinSource(_))));
        // Multi-byte UTF-8 straddling the scheme boundary must not panic.
        assert!(Pkcs11Uri::parse("pkcs1é:token=t").is_err());
    }

    #[test]
    fn round_trip() {
        let uri = Pkcs11Uri::for_token("/usr/lib/softhsm/libsofthsm2.so", "lit test;1", PinSource::Env("P".into()))
            .with_id(&[0, 1, 0xfe, b'a']);
        let s = uri.to_string();
        assert_eq!(
            s,
            "pkcs11:token=lit%20test%3B1;id=%00%01%FEa?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=env:P"
                .replace("%FEa", "%FE%61")
        );
        assert_eq!(Pkcs11Uri::parse(&s).unwrap(), uri);
        let uri = uri.with_object("séssion=1&x");
        assert_eq!(Pkcs11Uri::parse(&uri.to_string()).unwrap(), uri);
    }

    #[test]
    fn no_panic_on_junk() {
        let pieces =
            ["pkcs11:", "%", "%4", "=", ";", "&", "?", "id", "token", "é", "x-", "type=", "%zz", "pin-source="];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let _ = Pkcs11Uri::parse(&format!("{a}{b}{c}"));
                    let _ = Pkcs11Uri::parse(&format!("pkcs11:{a}{b}{c}"));
                }
            }
        }
    }
}
