//! The JSON AuthSig (the node's `JsonAuthSig`): `{sig, derivedVia, signedMessage, address[,
//! algo]}`, the one shape of wallet AuthSigs, network (`lit.bls`) AuthSigs, capability AuthSigs
//! inside a signed message, and the per-node session signatures themselves.
//!
//! [`JsonAuthSig`] is generic over how its strings are held: `String` for the values this crate
//! makes and stores ([`crate::auth_sig::AuthSig`], [`crate::session_sigs::SessionSig`]),
//! [`JsonStr`] for the zero-copy reading of a signed message ([`CapabilityAuthSig`]), `&str` for
//! a borrowed view ([`JsonAuthSig::view`]).
//!
//! Two readings: `JsonAuthSig`'s own `Deserialize` is lenient (any key order, unknown keys
//! ignored) for AuthSigs handed to this crate; [`NodeAuthSig`] reads as the Lit node does
//! (unknown and repeated keys refused), for checking what a node will make of one, and
//! [`AuthMaterialType::of`] is how the node classifies it.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use serde::de::{Deserializer, Error as _, MapAccess, Visitor};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};

use ed25519_dalek::VerifyingKey;

/// `derivedVia` of a wallet AuthSig (EIP-191 `personal_sign`).
pub const DERIVED_VIA_WALLET: &str = "web3.eth.personal.sign";
/// `derivedVia` of a per-node session signature (ed25519 by the session key).
pub const DERIVED_VIA_SESSION: &str = "litSessionSignViaNacl";
/// `derivedVia` of a network-signed (PKP) AuthSig.
pub const DERIVED_VIA_LIT_BLS: &str = "lit.bls";
/// `algo` of a per-node session signature.
pub const ALGO_ED25519: &str = "ed25519";
/// `algo` of a network-signed AuthSig.
pub const ALGO_LIT_BLS: &str = "LIT_BLS";
/// `derivedVia` of an EIP-1271 contract signature.
pub const DERIVED_VIA_CONTRACT: &str = "EIP1271";
/// `derivedVia` of an EIP-1271 contract signature over a SHA-256 digest.
pub const DERIVED_VIA_CONTRACT_SHA256: &str = "EIP1271_SHA256";
/// The SIWE URI scheme binding an AuthSig to a session key: `lit:session:<hex public key>`.
pub const SESSION_URI_PREFIX: &str = "lit:session:";

/// `lit:session:<hex public key>`, the URI a session AuthSig must carry.
pub fn session_key_uri(public_key: &VerifyingKey) -> String {
    format!("{SESSION_URI_PREFIX}{}", hex::encode(public_key.as_bytes()))
}

/// Whether `derivedVia`/`algo` mark a network BLS AuthSig (both must match, as in the node's
/// `determine_auth_material_type`; anything else is treated as a wallet signature there).
pub fn is_lit_bls(derived_via: &str, algo: Option<&str>) -> bool {
    derived_via == DERIVED_VIA_LIT_BLS && algo == Some(ALGO_LIT_BLS)
}

/// The node's `JsonAuthSig`. Serialises in the SDK's key order: `sig, derivedVia,
/// signedMessage, address[, algo]` (`generateAuthSig`, session signatures), except that a
/// `lit.bls` AuthSig puts `algo` second (`signSessionKey`: `sig, algo, derivedVia,
/// signedMessage, address`). Reading accepts any key order and ignores unknown keys.
///
/// ```
/// use lit_session_signer::protocol::JsonAuthSig;
/// let wallet = JsonAuthSig { sig: "0x1b", derived_via: "web3.eth.personal.sign", signed_message: "m", address: "0xA", algo: None };
/// assert_eq!(serde_json::to_string(&wallet).unwrap(), r#"{"sig":"0x1b","derivedVia":"web3.eth.personal.sign","signedMessage":"m","address":"0xA"}"#);
/// let bls = JsonAuthSig { derived_via: "lit.bls", algo: Some("LIT_BLS"), ..wallet };
/// assert_eq!(serde_json::to_string(&bls).unwrap(), r#"{"sig":"0x1b","algo":"LIT_BLS","derivedVia":"lit.bls","signedMessage":"m","address":"0xA"}"#);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize)]
pub struct JsonAuthSig<S = String> {
    /// The signature: `0x` + r‖s‖v (v = 27/28) for wallets, 128 hex digits for session
    /// signatures, `{"ProofOfPossession":"…"}` for `lit.bls`.
    pub sig: S,
    /// How it was made, e.g. `web3.eth.personal.sign`.
    #[serde(rename = "derivedVia")]
    pub derived_via: S,
    /// The signed text.
    #[serde(rename = "signedMessage")]
    pub signed_message: S,
    /// The signer: an EIP-55 address, or the session public key in hex.
    pub address: S,
    /// `ed25519`, `LIT_BLS`, …; absent for wallet signatures.
    #[serde(default)]
    pub algo: Option<S>,
}

impl<S: AsRef<str>> JsonAuthSig<S> {
    /// The same AuthSig with borrowed `&str` fields.
    pub fn view(&self) -> JsonAuthSig<&str> {
        JsonAuthSig {
            sig: self.sig.as_ref(),
            derived_via: self.derived_via.as_ref(),
            signed_message: self.signed_message.as_ref(),
            address: self.address.as_ref(),
            algo: self.algo.as_ref().map(AsRef::as_ref),
        }
    }

    /// Whether it is a network (`lit.bls` / `LIT_BLS`) AuthSig; see [`is_lit_bls`].
    pub fn is_lit_bls(&self) -> bool {
        is_lit_bls(self.derived_via.as_ref(), self.algo.as_ref().map(AsRef::as_ref))
    }
}

impl<S: AsRef<str>> Serialize for JsonAuthSig<S> {
    fn serialize<Ser: Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        let v = self.view();
        // `generateAuthSig` appends `algo`; `signSessionKey` writes it right after `sig`.
        let algo_second = v.derived_via == DERIVED_VIA_LIT_BLS;
        let mut s = serializer.serialize_struct("JsonAuthSig", 4 + usize::from(v.algo.is_some()))?;
        s.serialize_field("sig", v.sig)?;
        if let (true, Some(algo)) = (algo_second, v.algo) {
            s.serialize_field("algo", algo)?;
        }
        s.serialize_field("derivedVia", v.derived_via)?;
        s.serialize_field("signedMessage", v.signed_message)?;
        s.serialize_field("address", v.address)?;
        if let (false, Some(algo)) = (algo_second, v.algo) {
            s.serialize_field("algo", algo)?;
        }
        s.end()
    }
}

/// What the node takes a JSON AuthSig for (its `AuthMaterialType`), decided by `derivedVia` and
/// `algo` alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthMaterialType {
    /// Anything not listed below: an EIP-191 `personal_sign` of a SIWE message.
    WalletSig,
    /// `derivedVia` `EIP1271` or `EIP1271_SHA256`.
    ContractSig,
    /// `derivedVia` `litSessionSignViaNacl` with `algo` `ed25519`.
    SessionSig,
    /// `derivedVia` `lit.bls` with `algo` `LIT_BLS`.
    BlsNetworkSig,
}

impl AuthMaterialType {
    /// The node's `JsonAuthSig::determine_auth_material_type` (Naga
    /// `lit-node-core/src/models/auth_sig.rs`, Datil `src/auth/auth_material.rs`): exact,
    /// case-sensitive comparisons; a session or network `derivedVia` without its `algo` falls
    /// through to a wallet signature.
    ///
    /// ```
    /// use lit_session_signer::protocol::AuthMaterialType;
    /// assert_eq!(AuthMaterialType::of("litSessionSignViaNacl", Some("ed25519")), AuthMaterialType::SessionSig);
    /// assert_eq!(AuthMaterialType::of("litSessionSignViaNacl", None), AuthMaterialType::WalletSig);
    /// assert_eq!(AuthMaterialType::of("EIP1271_SHA256", None), AuthMaterialType::ContractSig);
    /// assert_eq!(AuthMaterialType::of("eip1271", None), AuthMaterialType::WalletSig);
    /// ```
    pub fn of(derived_via: &str, algo: Option<&str>) -> Self {
        match (derived_via, algo) {
            (DERIVED_VIA_SESSION, Some(ALGO_ED25519)) => Self::SessionSig,
            (DERIVED_VIA_CONTRACT | DERIVED_VIA_CONTRACT_SHA256, _) => Self::ContractSig,
            (DERIVED_VIA_LIT_BLS, Some(ALGO_LIT_BLS)) => Self::BlsNetworkSig,
            _ => Self::WalletSig,
        }
    }

    /// The node's name for it, e.g. `SessionSig`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::WalletSig => "WalletSig",
            Self::ContractSig => "ContractSig",
            Self::SessionSig => "SessionSig",
            Self::BlsNetworkSig => "BLSNetworkSig",
        }
    }
}

/// A JSON AuthSig read as the Lit node reads one (its `JsonAuthSigVisitor`, the same in Datil
/// and Naga): a JSON object with only the keys `sig`, `derivedVia`, `signedMessage`, `address`
/// and `algo` (any other key is an error), none twice, the first four required strings, `algo`
/// a string or `null`. `null` means no algo, and because the node only refuses a repeated `algo`
/// once it holds a value, `"algo":null` may be followed by a second `algo`.
///
/// ```
/// use lit_session_signer::protocol::NodeAuthSig;
/// let base = r#""sig":"s","derivedVia":"d","signedMessage":"m","address":"a""#;
/// let read = |t: &str| serde_json::from_str::<NodeAuthSig<String>>(t);
/// assert!(read(&format!("{{{base}}}")).is_ok());
/// assert!(read(&format!(r#"{{{base},"chain":"ethereum"}}"#)).is_err());
/// assert!(read(&format!(r#"{{{base},"sig":"t"}}"#)).is_err());
/// let twice = read(&format!(r#"{{{base},"algo":null,"algo":"ed25519"}}"#)).unwrap();
/// assert_eq!(twice.0.algo.as_deref(), Some("ed25519"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeAuthSig<S = String>(pub JsonAuthSig<S>);

/// The keys the node's reader knows.
pub const AUTH_SIG_KEYS: [&str; 5] = ["sig", "derivedVia", "signedMessage", "address", "algo"];

impl<S> Deref for NodeAuthSig<S> {
    type Target = JsonAuthSig<S>;

    fn deref(&self) -> &JsonAuthSig<S> {
        &self.0
    }
}

impl<'de, S: Deserialize<'de>> Deserialize<'de> for NodeAuthSig<S> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(NodeAuthSigVisitor(PhantomData))
    }
}

struct NodeAuthSigVisitor<S>(PhantomData<S>);

impl<'de, S: Deserialize<'de>> Visitor<'de> for NodeAuthSigVisitor<S> {
    type Value = NodeAuthSig<S>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map with keys sig, derivedVia, signedMessage, address, and optionally algo")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        fn once<'de, M: MapAccess<'de>, T: Deserialize<'de>>(
            slot: &mut Option<T>,
            map: &mut M,
            name: &'static str,
        ) -> Result<(), M::Error> {
            if slot.is_some() {
                return Err(M::Error::duplicate_field(name));
            }
            *slot = Some(map.next_value()?);
            Ok(())
        }
        let (mut sig, mut derived_via, mut signed_message, mut address) = (None, None, None, None);
        let mut algo: Option<S> = None;
        while let Some(key) = map.next_key::<JsonStr<'de>>()? {
            match &*key {
                "sig" => once(&mut sig, &mut map, "sig")?,
                "derivedVia" => once(&mut derived_via, &mut map, "derivedVia")?,
                "signedMessage" => once(&mut signed_message, &mut map, "signedMessage")?,
                "address" => once(&mut address, &mut map, "address")?,
                "algo" => {
                    if algo.is_some() {
                        return Err(M::Error::duplicate_field("algo"));
                    }
                    algo = map.next_value()?;
                }
                // The node's field enum has no catch-all: the key itself is the error.
                other => return Err(M::Error::unknown_field(other, &AUTH_SIG_KEYS)),
            }
        }
        Ok(NodeAuthSig(JsonAuthSig {
            sig: sig.ok_or_else(|| M::Error::missing_field("sig"))?,
            derived_via: derived_via.ok_or_else(|| M::Error::missing_field("derivedVia"))?,
            signed_message: signed_message.ok_or_else(|| M::Error::missing_field("signedMessage"))?,
            address: address.ok_or_else(|| M::Error::missing_field("address"))?,
            algo,
        }))
    }
}

/// A capability AuthSig as read from a signed message, borrowing from the message text.
pub type CapabilityAuthSig<'a> = JsonAuthSig<JsonStr<'a>>;

/// A JSON string value read without copying when it has no escapes (owned when it has).
/// Reads as a `str`.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JsonStr<'a>(#[serde(borrow)] pub Cow<'a, str>);

impl JsonStr<'_> {
    /// The text, owned.
    pub fn into_owned(self) -> String {
        self.0.into_owned()
    }
}

impl Deref for JsonStr<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for JsonStr<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JsonStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for JsonStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl<'a> From<&'a str> for JsonStr<'a> {
    fn from(s: &'a str) -> Self {
        Self(Cow::Borrowed(s))
    }
}

impl From<String> for JsonStr<'_> {
    fn from(s: String) -> Self {
        Self(Cow::Owned(s))
    }
}

impl PartialEq<str> for JsonStr<'_> {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for JsonStr<'_> {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<String> for JsonStr<'_> {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_borrows_unescaped_strings() {
        let text = r#"{"sig":"ab","derivedVia":"web3.eth.personal.sign","signedMessage":"line\nnext","address":"0xA","extra":1}"#;
        let cap: CapabilityAuthSig<'_> = serde_json::from_str(text).unwrap();
        assert!(matches!(cap.sig.0, Cow::Borrowed("ab")));
        assert!(matches!(cap.signed_message.0, Cow::Owned(ref s) if s == "line\nnext"));
        assert_eq!(cap.algo, None);
        // The owned form reads the same text, and both write it back in the SDK's order.
        let owned: JsonAuthSig = serde_json::from_str(text).unwrap();
        assert_eq!(owned.view(), cap.view());
        let written = serde_json::to_string(&owned).unwrap();
        assert_eq!(written, serde_json::to_string(&cap).unwrap());
        assert_eq!(
            written,
            r#"{"sig":"ab","derivedVia":"web3.eth.personal.sign","signedMessage":"line\nnext","address":"0xA"}"#
        );
    }

    #[test]
    fn the_node_reader_refuses_what_the_node_refuses() {
        let base = r#""sig":"s","derivedVia":"d","signedMessage":"m","address":"a""#;
        let read = |t: String| {
            serde_json::from_str::<NodeAuthSig<JsonStr<'_>>>(&t).map(|n| n.0.view().algo.map(str::to_string))
        };
        assert_eq!(read(format!("{{{base}}}")).unwrap(), None);
        assert_eq!(read(format!(r#"{{{base},"algo":null}}"#)).unwrap(), None);
        assert_eq!(read(format!(r#"{{{base},"algo":"x"}}"#)).unwrap().as_deref(), Some("x"));
        assert_eq!(
            read(r#"{"s\u0069g":"s","derivedVia":"d","signedMessage":"m","address":"a"}"#.to_string()).unwrap(),
            None
        );
        for bad in [
            format!(r#"{{{base},"extra":1}}"#),
            format!(r#"{{{base},"Sig":"s"}}"#),
            format!(r#"{{{base},"address":"b"}}"#),
            format!(r#"{{{base},"algo":"x","algo":null}}"#),
            format!(r#"{{{base},"algo":1}}"#),
            r#"{"sig":"s","derivedVia":"d","signedMessage":"m"}"#.to_string(),
            r#"{"sig":1,"derivedVia":"d","signedMessage":"m","address":"a"}"#.to_string(),
            r#"{"sig":null,"derivedVia":"d","signedMessage":"m","address":"a"}"#.to_string(),
            r#"["s","d","m","a"]"#.to_string(),
        ] {
            assert!(read(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn algo_goes_last_except_for_lit_bls() {
        let session = JsonAuthSig {
            sig: "00",
            derived_via: DERIVED_VIA_SESSION,
            signed_message: "{}",
            address: "ab",
            algo: Some(ALGO_ED25519),
        };
        assert!(serde_json::to_string(&session).unwrap().ends_with(r#""address":"ab","algo":"ed25519"}"#));
        let bls = JsonAuthSig { derived_via: DERIVED_VIA_LIT_BLS, algo: Some(ALGO_LIT_BLS), ..session };
        assert!(serde_json::to_string(&bls).unwrap().starts_with(r#"{"sig":"00","algo":"LIT_BLS","derivedVia""#));
        assert!(bls.is_lit_bls() && !session.is_lit_bls());
        // `lit.bls` without `LIT_BLS` is not a network AuthSig, but keeps the network key order.
        let odd = JsonAuthSig { algo: Some("other"), ..bls };
        assert!(!odd.is_lit_bls());
    }
}
