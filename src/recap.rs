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
