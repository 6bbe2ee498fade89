//! Lit resources and abilities: the five resource prefixes, the six abilities, which ability
//! each prefix accepts, id normalisation and the
//! access-control-condition resource id.

use std::fmt;
use std::str::FromStr;

use serde::ser::{Serialize, SerializeStruct, Serializer};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Errors building a resource or a resource-ability request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    /// The prefix is not one of the four Lit resource prefixes.
    #[error("unknown resource prefix {0:?} (expected lit-accesscontrolcondition, lit-pkp, lit-litaction, lit-ratelimitincrease or lit-paymentdelegation)")]
    UnknownPrefix(String),
    /// The ability is not one of the five Lit abilities.
    #[error("unknown ability {0:?} (expected access-control-condition-decryption, access-control-condition-signing, pkp-signing, lit-action-execution, rate-limit-increase-auth or lit-payment-delegation)")]
    UnknownAbility(String),
    /// The resource does not accept the ability.
    #[error("the {prefix} resource does not support the ability {ability}")]
    AbilityNotSupported {
        /// The resource's prefix.
        prefix: ResourcePrefix,
        /// The refused ability.
        ability: LitAbility,
    },
    /// A PKP id longer than 64 characters after stripping `0x`.
    #[error("PKP resource id exceeds 64 characters (32 bytes): {0:?}")]
    PkpIdTooLong(String),
    /// An empty resource id.
    #[error("empty resource id (use * for all resources)")]
    EmptyId,
    /// Not of the form `PREFIX://ID` or `PREFIX://ID=ABILITY`.
    #[error("malformed resource {0:?} (expected PREFIX://ID=ABILITY, e.g. lit-pkp://*=pkp-signing)")]
    Malformed(String),
    /// Access control conditions that are not a JSON array of condition objects.
    #[error("invalid access control conditions: {0}")]
    InvalidAccessControlConditions(String),
    /// A dataToEncryptHash that is not 64 hex digits.
    #[error("dataToEncryptHash must be 64 hex digits (sha256), got {0:?}")]
    InvalidDataHash(String),
}

/// The resource prefixes (`LIT_RESOURCE_PREFIX`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourcePrefix {
    /// `lit-accesscontrolcondition`
    AccessControlCondition,
    /// `lit-pkp`
    Pkp,
    /// `lit-litaction`
    LitAction,
    /// `lit-ratelimitincrease` (capacity credits; Datil only)
    RateLimitIncrease,
    /// `lit-paymentdelegation` (payment delegation, Naga's replacement for capacity credits)
    PaymentDelegation,
}

impl ResourcePrefix {
    /// All prefixes.
    pub const ALL: [ResourcePrefix; 5] =
        [Self::AccessControlCondition, Self::Pkp, Self::LitAction, Self::RateLimitIncrease, Self::PaymentDelegation];

    /// The prefix string, e.g. `lit-pkp`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AccessControlCondition => "lit-accesscontrolcondition",
            Self::Pkp => "lit-pkp",
            Self::LitAction => "lit-litaction",
            Self::RateLimitIncrease => "lit-ratelimitincrease",
            Self::PaymentDelegation => "lit-paymentdelegation",
        }
    }

    /// Whether a resource of this prefix accepts `ability` (the SDK's `isValidLitAbility`).
    pub const fn accepts(self, ability: LitAbility) -> bool {
        matches!(
            (self, ability),
            (Self::AccessControlCondition, LitAbility::AccessControlConditionDecryption)
                | (Self::AccessControlCondition, LitAbility::AccessControlConditionSigning)
                | (Self::Pkp, LitAbility::PkpSigning)
                | (Self::LitAction, LitAbility::LitActionExecution)
                | (Self::RateLimitIncrease, LitAbility::RateLimitIncreaseAuth)
                | (Self::PaymentDelegation, LitAbility::PaymentDelegation)
        )
    }
}

impl FromStr for ResourcePrefix {
    type Err = ResourceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| ResourceError::UnknownPrefix(s.to_string()))
    }
}

impl fmt::Display for ResourcePrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The abilities (`LIT_ABILITY`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LitAbility {
    /// `access-control-condition-decryption` → `Threshold/Decryption`
    AccessControlConditionDecryption,
    /// `access-control-condition-signing` → `Threshold/Signing`
    AccessControlConditionSigning,
    /// `pkp-signing` → `Threshold/Signing`
    PkpSigning,
    /// `lit-action-execution` → `Threshold/Execution`
    LitActionExecution,
    /// `rate-limit-increase-auth` → `Auth/Auth`
    RateLimitIncreaseAuth,
    /// `lit-payment-delegation` → `Auth/Auth`
    PaymentDelegation,
}

impl LitAbility {
    /// All abilities.
    pub const ALL: [LitAbility; 6] = [
        Self::AccessControlConditionDecryption,
        Self::AccessControlConditionSigning,
        Self::PkpSigning,
        Self::LitActionExecution,
        Self::RateLimitIncreaseAuth,
        Self::PaymentDelegation,
    ];

    /// The ability string, e.g. `pkp-signing`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AccessControlConditionDecryption => "access-control-condition-decryption",
            Self::AccessControlConditionSigning => "access-control-condition-signing",
            Self::PkpSigning => "pkp-signing",
            Self::LitActionExecution => "lit-action-execution",
            Self::RateLimitIncreaseAuth => "rate-limit-increase-auth",
            Self::PaymentDelegation => "lit-payment-delegation",
        }
    }

    /// The ReCap `(namespace, ability)` pair, e.g. `("Threshold", "Signing")`.
    pub const fn recap_parts(self) -> (&'static str, &'static str) {
        match self {
            Self::AccessControlConditionDecryption => ("Threshold", "Decryption"),
            Self::AccessControlConditionSigning | Self::PkpSigning => ("Threshold", "Signing"),
            Self::LitActionExecution => ("Threshold", "Execution"),
            Self::RateLimitIncreaseAuth | Self::PaymentDelegation => ("Auth", "Auth"),
        }
    }

    /// The ReCap ability key, e.g. `Threshold/Signing`.
    pub fn recap_key(self) -> String {
        let (ns, name) = self.recap_parts();
        format!("{ns}/{name}")
    }
}

impl FromStr for LitAbility {
    type Err = ResourceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|a| a.as_str() == s).ok_or_else(|| ResourceError::UnknownAbility(s.to_string()))
    }
}

impl fmt::Display for LitAbility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Lit resource: a prefix and a normalised id (`*` for all).
///
/// ```
/// use lit_session_signer::resources::{LitResource, ResourcePrefix};
/// let r = LitResource::new(ResourcePrefix::Pkp, "0x1a2b").unwrap();
/// assert_eq!(r.key(), format!("lit-pkp://{}1a2b", "0".repeat(60)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LitResource {
    prefix: ResourcePrefix,
    id: String,
}

impl LitResource {
    /// A resource with its id normalised as the SDK does (`formatPKPResource` for PKPs).
    pub fn new(prefix: ResourcePrefix, id: &str) -> Result<Self, ResourceError> {
        if id.is_empty() {
            return Err(ResourceError::EmptyId);
        }
        let id = match prefix {
            ResourcePrefix::Pkp => format_pkp_id(id)?,
            _ => id.to_string(),
        };
        // A PKP id of just `0x` normalises to nothing, which names no resource.
        if id.is_empty() {
            return Err(ResourceError::EmptyId);
        }
        Ok(Self { prefix, id })
    }

    /// `prefix://*`.
    pub fn wildcard(prefix: ResourcePrefix) -> Self {
        Self { prefix, id: "*".to_string() }
    }

    /// Parses `prefix://id`.
    pub fn from_key(key: &str) -> Result<Self, ResourceError> {
        let (prefix, id) = key.split_once("://").ok_or_else(|| ResourceError::Malformed(key.to_string()))?;
        Self::new(prefix.parse()?, id)
    }

    /// The prefix.
    pub fn prefix(&self) -> ResourcePrefix {
        self.prefix
    }

    /// The normalised id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether this is the wildcard `prefix://*`.
    pub fn is_wildcard(&self) -> bool {
        self.id == "*"
    }

    /// `prefix://id`, the ReCap resource key.
    pub fn key(&self) -> String {
        format!("{}://{}", self.prefix.as_str(), self.id)
    }
}

impl fmt::Display for LitResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.prefix.as_str(), self.id)
    }
}

// The SDK serialises its resource class instances as {resource, resourcePrefix}.
impl Serialize for LitResource {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("LitResource", 2)?;
        st.serialize_field("resource", &self.id)?;
        st.serialize_field("resourcePrefix", self.prefix.as_str())?;
        st.end()
    }
}

/// The SDK's `formatPKPResource`: strip `0x`, refuse more than 64 characters, left-pad an
/// all-hex id with `0` to 64 characters, keep the case.
pub fn format_pkp_id(id: &str) -> Result<String, ResourceError> {
    let stripped = id.strip_prefix("0x").unwrap_or(id);
    if stripped.chars().count() > 64 {
        return Err(ResourceError::PkpIdTooLong(id.to_string()));
    }
    if stripped != "*" && !stripped.is_empty() && stripped.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(format!("{stripped:0>64}"))
    } else {
        Ok(stripped.to_string())
    }
}

/// One resource-ability request: what a session asks to be allowed to do.
///
/// Serialises as the SDK's `{"resource":{"resource","resourcePrefix"},"ability"[,"data"]}`.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceAbilityRequest {
    resource: LitResource,
    ability: LitAbility,
    data: Option<Map<String, Value>>,
}

impl ResourceAbilityRequest {
    /// A request; refuses an ability the resource does not accept.
    pub fn new(resource: LitResource, ability: LitAbility) -> Result<Self, ResourceError> {
        if !resource.prefix().accepts(ability) {
            return Err(ResourceError::AbilityNotSupported { prefix: resource.prefix(), ability });
        }
        Ok(Self { resource, ability, data: None })
    }

    /// Attaches an `nb` restriction object (the SDK's `data`), which goes into the ReCap.
    pub fn with_data(mut self, data: Map<String, Value>) -> Self {
        self.data = Some(data);
        self
    }

    /// The resource.
    pub fn resource(&self) -> &LitResource {
        &self.resource
    }

    /// The ability.
    pub fn ability(&self) -> LitAbility {
        self.ability
    }

    /// The `nb` restriction object, if any.
    pub fn data(&self) -> Option<&Map<String, Value>> {
        self.data.as_ref()
    }
}

impl FromStr for ResourceAbilityRequest {
    type Err = ResourceError;

    /// Parses `PREFIX://ID=ABILITY`, e.g. `lit-pkp://*=pkp-signing`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (key, ability) = s.rsplit_once('=').ok_or_else(|| ResourceError::Malformed(s.to_string()))?;
        if !key.contains("://") {
            return Err(ResourceError::Malformed(s.to_string()));
        }
        Self::new(LitResource::from_key(key)?, ability.parse()?)
    }
}

/// `PREFIX://ID=ABILITY`, the form [`FromStr`] reads back to the same request (the `nb` data is
/// not shown). Parsing strips one `0x` from a PKP id, so a normalised PKP id that itself starts
/// with `0x` (from `0x0x…`) is shown with that `0x` restored.
///
/// ```
/// use lit_session_signer::resources::ResourceAbilityRequest;
/// let r: ResourceAbilityRequest = "lit-pkp://0x1a2b=pkp-signing".parse().unwrap();
/// assert_eq!(r.to_string(), format!("lit-pkp://{}1a2b=pkp-signing", "0".repeat(60)));
/// let odd: ResourceAbilityRequest = "lit-pkp://0x0xalias=pkp-signing".parse().unwrap();
/// assert_eq!(odd.resource().id(), "0xalias");
/// assert_eq!(odd.to_string().parse::<ResourceAbilityRequest>().unwrap(), odd);
/// ```
impl fmt::Display for ResourceAbilityRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self.resource.id();
        let escape = if self.resource.prefix() == ResourcePrefix::Pkp && id.starts_with("0x") { "0x" } else { "" };
        write!(f, "{}://{escape}{id}={}", self.resource.prefix(), self.ability)
    }
}

impl Serialize for ResourceAbilityRequest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("LitResourceAbilityRequest", 3)?;
        st.serialize_field("resource", &self.resource)?;
        st.serialize_field("ability", self.ability.as_str())?;
        if let Some(data) = &self.data {
            st.serialize_field("data", data)?;
        }
        st.end()
    }
}

/// The id of an access-control-condition resource for decryption, as the SDK's
/// `LitAccessControlConditionResource.generateResourceString(accs, dataToEncryptHash)`:
/// `<hex sha256 of the canonical ACC JSON>/<dataToEncryptHash>`.
///
/// The canonical form keeps only `contractAddress, chain, standardContractType, method,
/// parameters, returnValueTest{comparator, value}` in that order for each condition,
/// `{operator}` for operators, and recurses into nested groups.
pub fn access_control_resource_id(accs: &Value, data_to_encrypt_hash: &str) -> Result<String, ResourceError> {
    if data_to_encrypt_hash.len() != 64 || !data_to_encrypt_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ResourceError::InvalidDataHash(data_to_encrypt_hash.to_string()));
    }
    Ok(format!("{}/{}", hash_access_control_conditions(accs)?, data_to_encrypt_hash))
}

/// Hex sha256 of the canonical ACC JSON (the SDK's `hashAccessControlConditions`).
pub fn hash_access_control_conditions(accs: &Value) -> Result<String, ResourceError> {
    let list =
        accs.as_array().ok_or_else(|| ResourceError::InvalidAccessControlConditions("expected a JSON array".into()))?;
    if list.is_empty() {
        return Err(ResourceError::InvalidAccessControlConditions("the array is empty".into()));
    }
    let canonical = Value::Array(list.iter().map(canonical_condition).collect::<Result<_, _>>()?);
    Ok(hex::encode(Sha256::digest(crate::jcs::to_js_string(&canonical).as_bytes())))
}

fn canonical_condition(cond: &Value) -> Result<Value, ResourceError> {
    if let Value::Array(group) = cond {
        return group.iter().map(canonical_condition).collect::<Result<Vec<_>, _>>().map(Value::Array);
    }
    let obj = cond
        .as_object()
        .ok_or_else(|| ResourceError::InvalidAccessControlConditions(format!("not a condition object: {cond}")))?;
    let mut out = Map::new();
    if let Some(op) = obj.get("operator") {
        out.insert("operator".into(), op.clone());
        return Ok(Value::Object(out));
    }
    let rvt = obj.get("returnValueTest").and_then(Value::as_object).ok_or_else(|| {
        ResourceError::InvalidAccessControlConditions("a condition without operator or returnValueTest".into())
    })?;
    // JSON.stringify drops keys whose value is undefined, so absent keys stay absent.
    for key in ["contractAddress", "chain", "standardContractType", "method", "parameters"] {
        if let Some(v) = obj.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    let mut test = Map::new();
    for key in ["comparator", "value"] {
        if let Some(v) = rvt.get(key) {
            test.insert(key.into(), v.clone());
        }
    }
    out.insert("returnValueTest".into(), Value::Object(test));
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkp_normalisation() {
        assert_eq!(format_pkp_id("*").unwrap(), "*");
        assert_eq!(format_pkp_id("0x1a2b").unwrap(), format!("{}1a2b", "0".repeat(60)));
        assert_eq!(format_pkp_id("12345").unwrap(), format!("{}12345", "0".repeat(59)));
        assert_eq!(format_pkp_id("my-pkp-alias").unwrap(), "my-pkp-alias");
        assert!(matches!(format_pkp_id(&format!("0x{}", "a".repeat(65))), Err(ResourceError::PkpIdTooLong(_))));
    }

    #[test]
    fn ability_prefix_matrix() {
        // The v7 pairs, counted apart from Naga's payment delegation (issue 14).
        let mut accepted = 0;
        let mut naga_only = 0;
        for p in ResourcePrefix::ALL {
            for a in LitAbility::ALL {
                let r = ResourceAbilityRequest::new(LitResource::wildcard(p), a);
                if p.accepts(a) {
                    if p == ResourcePrefix::PaymentDelegation {
                        naga_only += 1;
                    } else {
                        accepted += 1;
                    }
                    assert!(r.is_ok());
                } else {
                    assert_eq!(r, Err(ResourceError::AbilityNotSupported { prefix: p, ability: a }));
                }
            }
        }
        assert_eq!(accepted, 5);
        assert_eq!(naga_only, 1);
    }

    #[test]
    fn parse_request() {
        let r: ResourceAbilityRequest = "lit-pkp://*=pkp-signing".parse().unwrap();
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"resource":{"resource":"*","resourcePrefix":"lit-pkp"},"ability":"pkp-signing"}"#
        );
        assert!(matches!("lit-pkp://*".parse::<ResourceAbilityRequest>(), Err(ResourceError::Malformed(_))));
        assert!(matches!(
            "pkp://*=pkp-signing".parse::<ResourceAbilityRequest>(),
            Err(ResourceError::UnknownPrefix(_))
        ));
        assert!(matches!(
            "lit-pkp://*=signing".parse::<ResourceAbilityRequest>(),
            Err(ResourceError::UnknownAbility(_))
        ));
        assert!(matches!("lit-pkp://=pkp-signing".parse::<ResourceAbilityRequest>(), Err(ResourceError::EmptyId)));
        // Found writing the display → parse round trip: `0x` normalised to an empty PKP id.
        assert!(matches!("lit-pkp://0x=pkp-signing".parse::<ResourceAbilityRequest>(), Err(ResourceError::EmptyId)));
        assert!(matches!(
            "lit-pkp://*=lit-action-execution".parse::<ResourceAbilityRequest>(),
            Err(ResourceError::AbilityNotSupported { .. })
        ));
    }

    #[test]
    fn acc_errors() {
        let h = "a".repeat(64);
        assert!(access_control_resource_id(&serde_json::json!({}), &h).is_err());
        assert!(access_control_resource_id(&serde_json::json!([]), &h).is_err());
        assert!(access_control_resource_id(&serde_json::json!([1]), &h).is_err());
        assert!(access_control_resource_id(&serde_json::json!([{"chain": "x"}]), &h).is_err());
        assert!(access_control_resource_id(&serde_json::json!([{"operator": "and"}]), "xyz").is_err());
    }
}
