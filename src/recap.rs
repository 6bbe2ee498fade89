//! ReCap (EIP-5573) capability objects as the Lit SDK and node use them: `urn:recap:` encoding,
//! the statement text (single quotes, as the node's pinned `siwe-recap` writes it) and the SDK's
//! membership check.

use std::collections::BTreeMap;
use std::fmt;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde_json::{Map, Value};

use crate::jcs;
use crate::resources::{LitAbility, LitResource, ResourcePrefix};

/// The `urn:recap:` URI scheme prefix.
pub const RECAP_URN_PREFIX: &str = "urn:recap:";

/// The fixed start of every ReCap statement.
pub const STATEMENT_PREFIX: &str = "I further authorize the stated URI to perform the following actions on my behalf:";

// Encode without padding; accept either on decode, as JS base64url decoders do.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_encode_padding(false).with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Errors decoding or building a ReCap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecapError {
    /// The URI does not start with `urn:recap:`.
    #[error("not a ReCap URI (expected urn:recap:...): {0:?}")]
    NotRecap(String),
    /// The payload is not base64url.
    #[error("ReCap payload is not base64url")]
    Base64,
    /// The payload is not UTF-8 JSON.
    #[error("ReCap payload is not JSON: {0}")]
    Json(String),
    /// The JSON is not `{"att":{...},"prf":[...]}` of the right shapes.
    #[error("invalid ReCap structure: {0}")]
    Structure(String),
    /// An ability key not of the form `namespace/name` with the allowed characters.
    #[error("invalid ReCap ability {0:?} (expected Namespace/name of [a-zA-Z0-9.*_+-])")]
    InvalidAbility(String),
}

/// A restriction (`nb`) object.
pub type Restriction = Map<String, Value>;

/// A ReCap capability object: `att` maps resource URIs to abilities to lists of restrictions;
/// `prf` lists proof CIDs (the SDK never sets any).
///
/// ```
/// use lit_session_signer::recap::Recap;
/// use lit_session_signer::resources::{LitAbility, LitResource, ResourcePrefix};
///
/// let mut recap = Recap::new();
/// recap.add_capability(&LitResource::wildcard(ResourcePrefix::Pkp), LitAbility::PkpSigning, None);
/// assert_eq!(recap.encode(), "urn:recap:eyJhdHQiOnsibGl0LXBrcDovLyoiOnsiVGhyZXNob2xkL1NpZ25pbmciOlt7fV19fSwicHJmIjpbXX0");
/// assert_eq!(
///     recap.statement(),
///     "I further authorize the stated URI to perform the following actions on my behalf: (1) 'Threshold': 'Signing' for 'lit-pkp://*'."
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recap {
    att: BTreeMap<String, BTreeMap<String, Vec<Restriction>>>,
    prf: Vec<String>,
}

impl Recap {
    /// The empty ReCap `{"att":{},"prf":[]}`.
    pub fn new() -> Self {
        Self::default()
    }

    /// The attenuations: resource URI → ability key → restrictions.
    pub fn attenuations(&self) -> &BTreeMap<String, BTreeMap<String, Vec<Restriction>>> {
        &self.att
    }

    /// The proof CIDs.
    pub fn proofs(&self) -> &[String] {
        &self.prf
    }

    /// The SDK's `addCapabilityForResource`: appends `data` (or `{}`) under
    /// `resource` / `Namespace/ability`.
    pub fn add_capability(&mut self, resource: &LitResource, ability: LitAbility, data: Option<Restriction>) {
        self.add_attenuation(resource.key(), ability.recap_key(), data.unwrap_or_default());
    }

    /// The SDK's `addAllCapabilitiesForResource`: `*/*` on `resource`.
    pub fn add_all_capabilities(&mut self, resource: &LitResource) {
        self.add_attenuation(resource.key(), "*/*".to_string(), Restriction::new());
    }

    fn add_attenuation(&mut self, resource: String, ability: String, nb: Restriction) {
        self.att.entry(resource).or_default().entry(ability).or_default().push(nb);
    }

    /// Merges `resource` / `ability` / `[nb]` the way the SDK merges one request at a time into
    /// a SIWE's ReCap (`Recap.merge`): an absent or all-empty list is replaced, otherwise the
    /// restriction is appended.
    pub fn merge_capability(&mut self, resource: &LitResource, ability: LitAbility, data: Option<Restriction>) {
        let list = self.att.entry(resource.key()).or_default().entry(ability.recap_key()).or_default();
        let nb = data.unwrap_or_default();
        if list.iter().all(Map::is_empty) {
            *list = vec![nb];
        } else {
            list.push(nb);
        }
    }

    /// The JCS-canonical JSON text inside the URN.
    pub fn to_canonical_json(&self) -> String {
        let att: Map<String, Value> = self
            .att
            .iter()
            .map(|(res, abilities)| {
                let abilities: Map<String, Value> = abilities
                    .iter()
                    .map(|(ab, nbs)| (ab.clone(), Value::Array(nbs.iter().cloned().map(Value::Object).collect())))
                    .collect();
                (res.clone(), Value::Object(abilities))
            })
            .collect();
        let mut root = Map::new();
        root.insert("att".into(), Value::Object(att));
        root.insert("prf".into(), Value::Array(self.prf.iter().cloned().map(Value::String).collect()));
        jcs::to_canonical_string(&Value::Object(root))
    }

    /// `urn:recap:` + base64url (no padding) of the canonical JSON.
    pub fn encode(&self) -> String {
        format!("{RECAP_URN_PREFIX}{}", B64.encode(self.to_canonical_json()))
    }

    /// Decodes a `urn:recap:` URI and checks its structure.
    pub fn decode(uri: &str) -> Result<Self, RecapError> {
        let payload = uri.strip_prefix(RECAP_URN_PREFIX).ok_or_else(|| RecapError::NotRecap(uri.to_string()))?;
        let bytes = B64.decode(payload).map_err(|_| RecapError::Base64)?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| RecapError::Json(e.to_string()))?;
        Self::from_json(&value)
    }

    /// Reads the decoded `{"att":...,"prf":...}` JSON.
    pub fn from_json(value: &Value) -> Result<Self, RecapError> {
        let structure = |m: &str| RecapError::Structure(m.to_string());
        let root = value.as_object().ok_or_else(|| structure("not a JSON object"))?;
        let att_json = root.get("att").and_then(Value::as_object).ok_or_else(|| structure("att must be an object"))?;
        let prf_json = root.get("prf").and_then(Value::as_array).ok_or_else(|| structure("prf must be an array"))?;
        let mut att = BTreeMap::new();
        for (resource, abilities) in att_json {
            let abilities =
                abilities.as_object().ok_or_else(|| structure("each att entry must be an object of abilities"))?;
            let mut parsed = BTreeMap::new();
            for (ability, nbs) in abilities {
                if !valid_ability_key(ability) {
                    return Err(RecapError::InvalidAbility(ability.clone()));
                }
                let nbs = nbs.as_array().ok_or_else(|| structure("each ability must map to an array"))?;
                let nbs = nbs
                    .iter()
                    .map(|nb| nb.as_object().cloned().ok_or_else(|| structure("each restriction must be an object")))
                    .collect::<Result<Vec<_>, _>>()?;
                parsed.insert(ability.clone(), nbs);
            }
            att.insert(resource.clone(), parsed);
        }
        let prf = prf_json
            .iter()
            .map(|p| p.as_str().map(str::to_string).ok_or_else(|| structure("each proof must be a string")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { att, prf })
    }

    /// Decodes a `urn:recap:` URI as the Lit node does (siwe-recap 0.2's
    /// `Capability::<Value>::try_from`, as `extract_and_verify_all_capabilities` calls it),
    /// which accepts and refuses other things than [`Recap::decode`]:
    ///
    /// - base64url as base64 0.12 decodes `URL_SAFE_NO_PAD`: `=` padding optional, even short
    ///   (`fQ=`), but only at the end of a quad's last two places; unused trailing bits must be
    ///   zero;
    /// - JSON `{"att": …, "prf": …}` (other keys ignored, either key twice an error); every `att`
    ///   key an RFC 3986 URI, every ability `namespace/name` of Unicode letters, digits and
    ///   `-_.+*`; each ability's list non-empty and of objects (a repeated key inside an object
    ///   keeps the last value); each proof a string starting `z` that decodes as a base58btc CID.
    ///
    /// ```
    /// use lit_session_signer::recap::Recap;
    /// let padded = "urn:recap:eyJhdHQiOnt9LCJwcmYiOltdfQ==";
    /// assert!(Recap::decode_as_node(padded).is_ok());
    /// ```
    pub fn decode_as_node(uri: &str) -> Result<Self, RecapError> {
        let payload = uri.strip_prefix(RECAP_URN_PREFIX).ok_or_else(|| RecapError::NotRecap(uri.to_string()))?;
        let bytes = node_base64_decode(payload).ok_or(RecapError::Base64)?;
        let read: NodeCapability = serde_json::from_slice(&bytes).map_err(|e| RecapError::Json(e.to_string()))?;
        let structure = |m: String| RecapError::Structure(m);
        let mut att = BTreeMap::new();
        for (resource, abilities) in read.att {
            if iri_string::types::UriStr::new(&resource).is_err() {
                return Err(structure(format!("{resource:?} is not a URI")));
            }
            let mut parsed = BTreeMap::new();
            for (ability, nbs) in abilities {
                if !node_ability(&ability) {
                    return Err(RecapError::InvalidAbility(ability));
                }
                if nbs.is_empty() {
                    return Err(structure(format!("{resource} {ability}: empty NotaBeneCollection")));
                }
                parsed.insert(ability, nbs);
            }
            att.insert(resource, parsed);
        }
        for proof in &read.prf {
            if !node_cid(proof) {
                return Err(structure(format!("proof {proof:?} is not a base58btc CID")));
            }
        }
        Ok(Self { att, prf: read.prf })
    }

    /// The statement the node requires a SIWE statement to end with (siwe-recap 0.2's
    /// `to_statement`): resources in byte order, within each the namespaces in byte order, each
    /// with its ability names in order, numbered across all.
    ///
    /// ```
    /// use lit_session_signer::recap::Recap;
    /// let recap = Recap::decode_as_node("urn:recap:eyJhdHQiOnsibGl0LXBrcDovLyoiOnsiVGhyZXNob2xkL1NpZ25pbmciOlt7fV19fSwicHJmIjpbXX0").unwrap();
    /// assert!(recap.node_statement().ends_with("(1) 'Threshold': 'Signing' for 'lit-pkp://*'."));
    /// ```
    pub fn node_statement(&self) -> String {
        let mut out = String::from(STATEMENT_PREFIX);
        let mut section = 1;
        for (resource, abilities) in &self.att {
            let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for key in abilities.keys() {
                let (ns, name) = key.split_once('/').unwrap_or((key.as_str(), ""));
                groups.entry(ns).or_default().push(name);
            }
            for (ns, names) in groups {
                let names: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
                out.push_str(&format!(" ({section}) '{ns}': {} for '{resource}'.", names.join(", ")));
                section += 1;
            }
        }
        out
    }

    /// The decoded JSON value.
    pub fn to_json(&self) -> Value {
        // Our own canonical text always parses.
        serde_json::from_str(&self.to_canonical_json()).unwrap_or(Value::Null)
    }

    /// The statement the SIWE must end with:
    /// `I further authorize … (1) 'Namespace': 'a', 'b' for 'resource'. (2) …`.
    ///
    /// Resources sorted; within a resource abilities sorted and grouped by namespace, numbered
    /// across all groups.
    pub fn statement(&self) -> String {
        let mut out = String::from(STATEMENT_PREFIX);
        let mut resources: Vec<&String> = self.att.keys().collect();
        resources.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
        let mut section = 1;
        for resource in resources {
            let Some(abilities) = self.att.get(resource) else { continue };
            let mut keys: Vec<&String> = abilities.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            // Group by namespace in order of first appearance, as the JS reduce does.
            let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
            for key in keys {
                let (ns, name) = key.split_once('/').unwrap_or((key.as_str(), ""));
                match groups.iter_mut().find(|(g, _)| *g == ns) {
                    Some((_, names)) => names.push(name),
                    None => groups.push((ns, vec![name])),
                }
            }
            for (ns, names) in groups {
                let names: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
                out.push_str(&format!(" ({section}) '{ns}': {} for '{resource}'.", names.join(", ")));
                section += 1;
            }
        }
        out
    }

    /// The SDK's `verifyCapabilitiesForResource` (≡ the node's check): the resource must accept
    /// the ability; look up `prefix://*` first, else the exact key; grant if it holds `*/*` or
    /// exactly `Namespace/ability`. Restrictions are ignored.
    pub fn grants(&self, resource: &LitResource, ability: LitAbility) -> bool {
        if !resource.prefix().accepts(ability) {
            return false;
        }
        let wildcard = LitResource::wildcard(resource.prefix()).key();
        let abilities = match self.att.get(&wildcard) {
            Some(a) => a,
            None => match self.att.get(&resource.key()) {
                Some(a) => a,
                None => return false,
            },
        };
        let wanted = ability.recap_key();
        abilities.keys().any(|k| k == "*/*" || *k == wanted)
    }

    /// Every (resource, ability) this ReCap names with a Lit prefix, for display.
    pub fn lit_grants(&self) -> Vec<(String, String)> {
        self.att
            .iter()
            .flat_map(|(res, abilities)| abilities.keys().map(move |a| (res.clone(), a.clone())))
            .filter(|(res, _)| res.split_once("://").is_some_and(|(p, _)| p.parse::<ResourcePrefix>().is_ok()))
            .collect()
    }
}

impl fmt::Display for Recap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

// siwe-recap 0.2's `Capability<Value>` as serde reads it (unknown keys ignored). Inner maps are
// `BTreeMap`s, so a repeated key keeps its last value, as it does in the node.
#[derive(serde::Deserialize)]
struct NodeCapability {
    att: BTreeMap<String, BTreeMap<String, Vec<Restriction>>>,
    prf: Vec<String>,
}

// ucan-capabilities-object 0.1's `Ability`: `namespace/name`, each non-empty, of characters that
// are Unicode alphanumeric or one of `-_.+*`.
fn node_ability(key: &str) -> bool {
    let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || "-_.+*".contains(c));
    matches!(key.split_once('/'), Some((ns, name)) if ok(ns) && ok(name))
}

// base64 0.12 `decode_config(_, URL_SAFE_NO_PAD)`: `=` may only close the input, each in the
// third or fourth place of a quad, and the length with them must not leave 1 or 5 characters
// over a multiple of 8; the characters before them decode without padding, trailing bits zero.
fn node_base64_decode(text: &str) -> Option<Vec<u8>> {
    let data_len = text.find('=').unwrap_or(text.len());
    let (data, pads) = text.split_at(data_len);
    if !pads.bytes().all(|b| b == b'=') || (data_len..text.len()).any(|i| i % 4 < 2) {
        return None;
    }
    if matches!(text.len() % 8, 1 | 5) {
        return None;
    }
    const NO_PAD: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::RequireNone),
    );
    NO_PAD.decode(data).ok()
}

// siwe-recap's proof reading: a string starting `z` (base58btc) whose bytes read as a CID (cid
// 0.10: version and codec varints, or v0's 0x12 0x20, then a multihash: code, length, digest).
fn node_cid(proof: &str) -> bool {
    let Some(b58) = proof.strip_prefix('z') else { return false };
    let Some(bytes) = base58_decode(b58) else { return false };
    let mut rest = bytes.as_slice();
    let (Some(version), Some(codec)) = (varint(&mut rest), varint(&mut rest)) else { return false };
    if (version, codec) == (0x12, 0x20) {
        return rest.len() >= 32;
    }
    if version != 1 {
        return false;
    }
    let (Some(_code), Some(len)) = (varint(&mut rest), varint(&mut rest)) else { return false };
    usize::try_from(len).is_ok_and(|len| len <= 64 && rest.len() >= len)
}

fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *bytes = &bytes[i + 1..];
            return Some(v);
        }
    }
    None
}

fn base58_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut out: Vec<u8> = Vec::new(); // little-endian
    for c in text.bytes() {
        let mut carry = ALPHABET.iter().position(|&a| a == c)? as u32;
        for byte in out.iter_mut() {
            carry += u32::from(*byte) * 58;
            *byte = carry as u8;
            carry >>= 8;
        }
        while carry > 0 {
            out.push(carry as u8);
            carry >>= 8;
        }
    }
    out.extend(text.bytes().take_while(|&c| c == b'1').map(|_| 0));
    out.reverse();
    Some(out)
}

fn valid_ability_key(key: &str) -> bool {
    let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b".*_+-".contains(&b));
    matches!(key.split_once('/'), Some((ns, name)) if ok(ns) && ok(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_recap() {
        let r = Recap::new();
        assert_eq!(r.encode(), "urn:recap:eyJhdHQiOnt9LCJwcmYiOltdfQ");
        assert_eq!(r.statement(), STATEMENT_PREFIX);
        assert_eq!(Recap::decode("urn:recap:eyJhdHQiOnt9LCJwcmYiOltdfQ").unwrap(), r);
    }

    #[test]
    fn decode_errors() {
        assert!(matches!(Recap::decode("urn:other:x"), Err(RecapError::NotRecap(_))));
        assert!(matches!(Recap::decode("urn:recap:***"), Err(RecapError::Base64)));
        assert!(matches!(Recap::decode(&format!("urn:recap:{}", B64.encode("nope"))), Err(RecapError::Json(_))));
        for bad in [
            r#"[]"#,
            r#"{"att":[],"prf":[]}"#,
            r#"{"att":{},"prf":{}}"#,
            r#"{"att":{"x":[]},"prf":[]}"#,
            r#"{"att":{"x":{"a/b":{}}},"prf":[]}"#,
            r#"{"att":{"x":{"a/b":[1]}},"prf":[]}"#,
            r#"{"att":{},"prf":[1]}"#,
        ] {
            let uri = format!("urn:recap:{}", B64.encode(bad));
            assert!(matches!(Recap::decode(&uri), Err(RecapError::Structure(_))), "{bad}");
        }
        let uri = format!("urn:recap:{}", B64.encode(r#"{"att":{"x":{"ab":[{}]}},"prf":[]}"#));
        assert!(matches!(Recap::decode(&uri), Err(RecapError::InvalidAbility(_))));
    }

    #[test]
    fn the_nodes_decoding() {
        let node = |json: &str, pad: &str| Recap::decode_as_node(&format!("urn:recap:{}{pad}", B64.encode(json)));
        let ok = r#"{"att":{"lit-pkp://*":{"Threshold/Signing":[{}]}},"prf":[]}"#;
        let want = Recap::decode(&format!("urn:recap:{}", B64.encode(ok))).unwrap();
        assert_eq!(node(ok, "").unwrap(), want);
        // Padding: optional, short is fine, too much or misplaced is not.
        let enc = B64.encode(ok);
        assert_eq!(enc.len() % 4, 3);
        assert!(node(ok, "=").is_ok());
        assert!(node(ok, "==").is_err());
        // Two characters over a quad: one `=` (short) or two.
        let two = r#"{"att":{"lit-pkp://*":{"Threshold/Signing":[{}]}},"prf":[]  }"#;
        assert_eq!(B64.encode(two).len() % 4, 2);
        assert!(node(two, "=").is_ok() && node(two, "==").is_ok());
        assert!(node(two, "===").is_err());
        assert!(Recap::decode_as_node(&format!("urn:recap:{}={}", &enc[..4], &enc[4..])).is_err());
        // Unknown top-level keys ignored; a repeated one, an empty list, a bad ability are not.
        assert!(node(r#"{"att":{},"prf":[],"x":1}"#, "").is_ok());
        assert!(node(r#"{"att":{},"att":{},"prf":[]}"#, "").is_err());
        assert!(node(r#"{"att":{}}"#, "").is_err());
        assert!(node(r#"{"att":{"lit-pkp://*":{"Threshold/Signing":[]}},"prf":[]}"#, "").is_err());
        assert!(node(r#"{"att":{"lit-pkp://*":{"Threshold/Sign ing":[{}]}},"prf":[]}"#, "").is_err());
        assert!(node(r#"{"att":{"lit-pkp://*":{"Thréshold/Signing":[{}]}},"prf":[]}"#, "").is_ok());
        assert!(node(r#"{"att":{"not a uri":{"a/b":[{}]}},"prf":[]}"#, "").is_err());
        assert!(node(r#"{"att":{},"prf":["bafy"]}"#, "").is_err());
        // A real CIDv1 (raw, sha2-256 of "") in base58btc.
        assert!(node(r#"{"att":{},"prf":["zb2rhmy65F3REf8SZp7De11gxtECBGgUKaLdiDj7MCGCHxbDW"]}"#, "").is_ok());
        // Repeated restriction keys: the last value, as a BTreeMap keeps it.
        let r = node(r#"{"att":{"x:y":{"a/b":[{"k":1,"k":2}]}},"prf":[]}"#, "").unwrap();
        assert_eq!(r.attenuations()["x:y"]["a/b"][0]["k"], 2);
    }

    #[test]
    fn the_nodes_statement_orders_namespaces() {
        let json = r#"{"att":{"x:y":{"a-b/z":[{}],"a/y":[{}],"a/x":[{}]}},"prf":[]}"#;
        let r = Recap::decode_as_node(&format!("urn:recap:{}", B64.encode(json))).unwrap();
        assert_eq!(
            r.node_statement(),
            format!("{STATEMENT_PREFIX} (1) 'a': 'x', 'y' for 'x:y'. (2) 'a-b': 'z' for 'x:y'.")
        );
    }

    #[test]
    fn numbers_are_spelt_as_javascript_spells_them() {
        // Found by fuzzing (recap_decode): a restriction number written `17174440.0` decodes
        // to a float and is encoded as `17174440`, as JSON.stringify does, so decode(encode(r))
        // equals r up to number spelling, and the encoding is a fixed point.
        let json = r#"{"att":{"lit-pkp://*":{"Threshold/Signing":[{"n":17174440.0,"f":0.5}]}},"prf":[]}"#;
        let recap = Recap::decode(&format!("urn:recap:{}", B64.encode(json))).unwrap();
        assert_eq!(
            recap.to_canonical_json(),
            r#"{"att":{"lit-pkp://*":{"Threshold/Signing":[{"f":0.5,"n":17174440}]}},"prf":[]}"#
        );
        let again = Recap::decode(&recap.encode()).unwrap();
        assert_eq!(again.encode(), recap.encode());
    }

    #[test]
    fn merge_replaces_empty_and_appends_data() {
        let res = LitResource::wildcard(ResourcePrefix::Pkp);
        let mut r = Recap::new();
        r.merge_capability(&res, LitAbility::PkpSigning, None);
        r.merge_capability(&res, LitAbility::PkpSigning, None);
        assert_eq!(r.attenuations()["lit-pkp://*"]["Threshold/Signing"].len(), 1);
        let mut nb = Restriction::new();
        nb.insert("uses".into(), Value::String("1".into()));
        r.merge_capability(&res, LitAbility::PkpSigning, Some(nb.clone()));
        assert_eq!(r.attenuations()["lit-pkp://*"]["Threshold/Signing"], vec![nb.clone()]);
        r.merge_capability(&res, LitAbility::PkpSigning, Some(nb));
        assert_eq!(r.attenuations()["lit-pkp://*"]["Threshold/Signing"].len(), 2);
    }

    #[test]
    fn wildcard_key_shadows_exact_key() {
        let exact = LitResource::new(ResourcePrefix::LitAction, "QmX").unwrap();
        let mut r = Recap::new();
        r.add_capability(&exact, LitAbility::LitActionExecution, None);
        assert!(r.grants(&exact, LitAbility::LitActionExecution));
        assert!(!r.grants(&LitResource::new(ResourcePrefix::LitAction, "QmY").unwrap(), LitAbility::LitActionExecution));
        // A wildcard entry with another ability hides the exact entry, as in the SDK.
        r.add_attenuation("lit-litaction://*".into(), "Other/thing".into(), Restriction::new());
        assert!(!r.grants(&exact, LitAbility::LitActionExecution));
    }
}
