//! The session-sigs request (the SDK's `getSessionSigs` parameters, v7 and v8) parsed into
//! what the policy checks and the library signs, every refusal a 4xx problem naming its field.
//! The body's schema is also `server/openapi.yaml`'s.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::audit::AuditEntry;
use crate::policy::{RequestedResource, SigsQuery};
use crate::problem::{Kind, Problem};
use crate::signing::{self, Format, NodePricing, NodeUrl, Price, PricingError, ResourceAbilityRequest, Timestamp};

// Limits of a request, far above what a Lit network needs.
pub(super) const MAX_NODES: usize = 256;
const MAX_REQUESTS: usize = 64;
const MAX_CAPABILITIES: usize = 16;
pub(super) const MAX_TEXT: usize = 4096;

/// `{resource, resourcePrefix}` as the SDK serialises its resource classes.
#[derive(Debug, Deserialize)]
pub(super) struct ResourceBody {
    resource: String,
    #[serde(rename = "resourcePrefix")]
    resource_prefix: String,
}

/// One `resourceAbilityRequests` entry.
#[derive(Debug, Deserialize)]
pub(super) struct RequestBody {
    resource: ResourceBody,
    ability: String,
    #[serde(default)]
    data: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct SessionSigsBody {
    node_urls: Vec<String>,
    resource_ability_requests: Vec<RequestBody>,
    #[serde(default)]
    expiration: Option<String>,
    nonce: String,
    #[serde(default)]
    capability_auth_sigs: Vec<Value>,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    statement: Option<String>,
    #[serde(default)]
    chain_id: Option<u64>,
    #[serde(default)]
    signer: Option<String>,
    #[serde(default)]
    format: Option<String>,
    /// v8 only: each node's own price for the operation at hand, by node URL (a node not
    /// listed costs 0).
    #[serde(default)]
    node_prices: Option<NodePrices>,
    /// v8 only: keep this many of the cheapest nodes (default: every node).
    #[serde(default)]
    threshold: Option<u64>,
    /// v8 only: the user maximum, split over the chosen nodes as the SDK splits it (default
    /// 2^128 − 1).
    #[serde(default)]
    user_max_price: Option<Box<RawValue>>,
}

/// `nodePrices`: URL → price, in the order given; a URL given twice is refused rather than
/// one of its prices silently winning.
#[derive(Debug)]
struct NodePrices(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for NodePrices {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = NodePrices;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of node URL to price")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<NodePrices, A::Error> {
                let mut out: Vec<(String, Box<RawValue>)> = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Box<RawValue>>()? {
                    if out.iter().any(|(seen, _)| *seen == k) {
                        return Err(serde::de::Error::custom(format!("nodePrices: {k} is given twice")));
                    }
                    if out.len() >= MAX_NODES {
                        return Err(serde::de::Error::custom(format!("nodePrices has more than {MAX_NODES} entries")));
                    }
                    out.push((k, v));
                }
                Ok(NodePrices(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// A price as JSON: a string of decimal digits or `0x` + hex digits, or a non-negative
/// integer (any size: read from the number's own text, so nothing is rounded). Returns the
/// price and its text (decimal digits for a number, the string as given otherwise).
pub(super) fn price(raw: &RawValue, what: &str) -> Result<(Price, String), Problem> {
    let bad = |detail: String| Problem::new(Kind::InvalidPrice, detail);
    let text = raw.get();
    if text.len() > 300 {
        return Err(bad(format!("{what}: too long for a price below 2^256")));
    }
    let given = if text.starts_with('"') {
        serde_json::from_str::<String>(text).map_err(|e| bad(format!("{what}: {e}")))?
    } else if text.starts_with('-') || text.bytes().all(|b| b.is_ascii_digit()) {
        // A JSON number: an integer is read as decimal digits, a negative one refused by name.
        text.to_string()
    } else {
        return Err(bad(format!(
            "{what}: {text} is not a price (a whole number, or a string of decimal or 0x-hex digits)"
        )));
    };
    let price = given.parse::<Price>().map_err(|e| bad(format!("{what}: {e}")))?;
    Ok((price, given))
}

/// A parsed session-sigs request.
pub(super) struct Parsed {
    /// The signer profile's name.
    pub profile: String,
    /// Every node asked for, as given.
    pub nodes: Vec<NodeUrl>,
    /// The nodes the policy checks and the audit row counts, as given: every node (v7), the
    /// chosen ones (v8).
    pub chosen: Vec<String>,
    pub requests: Vec<ResourceAbilityRequest>,
    pub requested: Vec<RequestedResource>,
    pub expiration: Option<Timestamp>,
    pub format: Format,
    pub pricing: Option<NodePricing>,
    /// v8: each chosen node, cheapest first, with the `maxPrice` it will sign.
    pub max_prices: Vec<(String, Price)>,
    pub nonce: String,
    pub capability_auth_sigs: Vec<Value>,
    pub domain: Option<String>,
    pub statement: Option<String>,
    pub chain_id: Option<u64>,
}

impl Parsed {
    /// `row` with this request's facts: the profile, the resources, the nodes signed for, the
    /// format and the highest `maxPrice`.
    pub fn describe(&self, row: AuditEntry) -> AuditEntry {
        AuditEntry {
            signer: Some(self.profile.clone()),
            resources: self.requested.iter().map(|r| r.display.clone()).collect(),
            node_count: self.chosen.len(),
            format: Some(self.format),
            max_price: self.max_prices.iter().map(|(_, m)| *m).max().map(|m| m.to_string()),
            ..row
        }
    }

    /// The request as the policy sees it, from `client` at `now` (a v8 request without an
    /// expiration gets the v8 default lifetime).
    pub fn query<'a>(&'a self, client: &'a str, now: Timestamp) -> SigsQuery<'a> {
        SigsQuery {
            client,
            signer: &self.profile,
            requests: &self.requested,
            nodes: &self.chosen,
            expiration: self.expiration,
            default_lifetime: (self.format == Format::V8).then_some(signing::V8_SESSION_LIFETIME),
            format: self.format,
            max_prices: &self.max_prices,
            now,
        }
    }
}

/// The `resourceAbilityRequests` list: what the library signs, and what the policy compares
/// (each prefix and ability parsed once).
pub(super) fn requests(list: &[RequestBody]) -> Result<(Vec<ResourceAbilityRequest>, Vec<RequestedResource>), Problem> {
    if list.is_empty() {
        return Err(Problem::new(Kind::InvalidRequest, "resourceAbilityRequests is empty"));
    }
    if list.len() > MAX_REQUESTS {
        let detail = format!("resourceAbilityRequests has more than {MAX_REQUESTS} entries");
        return Err(Problem::new(Kind::InvalidRequest, detail));
    }
    let mut requests = Vec::new();
    let mut requested = Vec::new();
    for (i, r) in list.iter().enumerate() {
        let bad = |e: &dyn std::fmt::Display| {
            Problem::new(Kind::InvalidResource, format!("resourceAbilityRequests[{i}]: {e}"))
        };
        if r.resource.resource.len() > MAX_TEXT {
            return Err(bad(&"the resource id is too long"));
        }
        let prefix = signing::parse_prefix(&r.resource.resource_prefix).map_err(|e| bad(&e))?;
        let ability = signing::parse_ability(&r.ability).map_err(|e| bad(&e))?;
        let req =
            signing::resource_request(prefix, &r.resource.resource, ability, r.data.clone()).map_err(|e| bad(&e))?;
        let id = signing::normalize_id(prefix, &r.resource.resource).map_err(|e| bad(&e))?;
        requested.push(RequestedResource { prefix, id, ability, display: req.to_string() });
        requests.push(req);
    }
    Ok((requests, requested))
}

/// The `nodeUrls` list: each parsed, none twice.
pub(super) fn nodes(list: &[String]) -> Result<Vec<NodeUrl>, Problem> {
    if list.is_empty() {
        return Err(Problem::new(Kind::InvalidRequest, "nodeUrls is empty"));
    }
    if list.len() > MAX_NODES {
        return Err(Problem::new(Kind::InvalidRequest, format!("nodeUrls has more than {MAX_NODES} entries")));
    }
    let mut out: Vec<NodeUrl> = Vec::with_capacity(list.len());
    for (i, n) in list.iter().enumerate() {
        if n.len() > MAX_TEXT {
            return Err(Problem::new(Kind::InvalidResource, format!("nodeUrls[{i}] is too long")));
        }
        let url = signing::parse_node_url(n)
            .map_err(|e| Problem::new(Kind::InvalidResource, format!("nodeUrls[{i}]: {e}")))?;
        if out.contains(&url) {
            return Err(Problem::new(Kind::InvalidRequest, format!("nodeUrls[{i}]: {n} is given twice")));
        }
        out.push(url);
    }
    Ok(out)
}

/// The whole request, and its signer profile as `profile` finds it by name (`default` when
/// the request names none). Checked in this order: the format and its fields, the nodes, the
/// requests, the v8 pricing, the nonce, the capabilities, the SIWE text, the expiration, the
/// profile.
pub(super) fn session_sigs<P>(
    body: SessionSigsBody,
    now: Timestamp,
    default: &str,
    profile: impl Fn(&str) -> Option<P>,
) -> Result<(Parsed, P), Problem> {
    let format = match body.format.as_deref() {
        None => Format::V7,
        Some(f) => Format::parse(f).ok_or_else(|| {
            let shown: String = f.chars().take(32).collect();
            Problem::new(Kind::UnsupportedFormat, format!("unknown format {shown:?} (v7 or v8)"))
        })?,
    };
    if format == Format::V7 {
        let v8_only = [
            ("nodePrices", body.node_prices.is_some()),
            ("threshold", body.threshold.is_some()),
            ("userMaxPrice", body.user_max_price.is_some()),
        ];
        if let Some((field, _)) = v8_only.iter().find(|(_, given)| *given) {
            let detail = format!("{field} needs format v8 (the v7 format signs no maxPrice)");
            return Err(Problem::new(Kind::FormatMismatch, detail));
        }
    }
    let nodes = nodes(&body.node_urls)?;
    let (requests, requested) = requests(&body.resource_ability_requests)?;
    if let Some(r) = requested.iter().find(|r| !format.session_format().knows(r.prefix)) {
        let why = match format {
            Format::V7 => "payment delegation is a Naga feature: use format v8",
            Format::V8 => "Naga has no capacity credits: use a payment delegation",
        };
        let detail = format!("{} cannot be signed with format {format}: {why}", r.display);
        return Err(Problem::new(Kind::FormatMismatch, detail));
    }
    let (pricing, max_prices) = match format {
        Format::V7 => (None, Vec::new()),
        Format::V8 => {
            let pricing = pricing(&body, &nodes)?;
            let plan = pricing.plan(&nodes).map_err(|e| {
                let kind = match e {
                    PricingError::MaxPriceTooLow { .. }
                    | PricingError::TotalOverflows { .. }
                    | PricingError::NodeAboveMaxPrice { .. } => Kind::MaxPriceTooLow,
                    _ => Kind::InvalidRequest,
                };
                Problem::new(kind, e.to_string())
            })?;
            (Some(pricing), plan.into_iter().map(|(n, p)| (n.to_string(), p)).collect())
        }
    };
    nonce(&body.nonce)?;
    if body.capability_auth_sigs.len() > MAX_CAPABILITIES {
        let detail = format!("capabilityAuthSigs has more than {MAX_CAPABILITIES} entries");
        return Err(Problem::new(Kind::InvalidRequest, detail));
    }
    for (i, capability) in body.capability_auth_sigs.iter().enumerate() {
        signing::check_delegation_capability(capability)
            .map_err(|e| Problem::new(Kind::InvalidRequest, format!("capabilityAuthSigs[{i}]: {e}")))?;
    }
    siwe_text(&body.domain, &body.statement)?;
    let expiration = future_expiration(body.expiration.as_deref(), now)?;
    let name = body.signer.clone().unwrap_or_else(|| default.to_string());
    let Some(found) = profile(&name) else {
        return Err(Problem::new(Kind::UnknownSigner, format!("no signer profile {name:?}")));
    };
    let chosen = match format {
        Format::V7 => body.node_urls.clone(),
        Format::V8 => max_prices.iter().map(|(n, _)| n.clone()).collect(),
    };
    let parsed = Parsed {
        profile: name,
        nodes,
        chosen,
        requests,
        requested,
        expiration,
        format,
        pricing,
        max_prices,
        nonce: body.nonce,
        capability_auth_sigs: body.capability_auth_sigs,
        domain: body.domain,
        statement: body.statement,
        chain_id: body.chain_id,
    };
    Ok((parsed, found))
}

/// The nonce rule of every minting endpoint.
pub(super) fn nonce(nonce: &str) -> Result<(), Problem> {
    if nonce.trim().is_empty() || nonce.len() > 256 {
        return Err(Problem::new(Kind::InvalidRequest, "nonce must be a non-empty string of at most 256 characters"));
    }
    Ok(())
}

/// The SIWE `domain` and `statement` a client may set: one line each, bounded.
pub(super) fn siwe_text(domain: &Option<String>, statement: &Option<String>) -> Result<(), Problem> {
    for (what, v) in [("domain", domain), ("statement", statement)] {
        if v.as_ref().is_some_and(|v| v.len() > MAX_TEXT || v.contains('\n') || v.contains('\r')) {
            return Err(Problem::new(
                Kind::InvalidRequest,
                format!("{what} must be one line of at most {MAX_TEXT} bytes"),
            ));
        }
    }
    Ok(())
}

/// An optional requested expiration, which must lie after `now`.
pub(super) fn future_expiration(text: Option<&str>, now: Timestamp) -> Result<Option<Timestamp>, Problem> {
    let Some(text) = text else { return Ok(None) };
    let bad = |detail: String| Problem::new(Kind::InvalidRequest, detail);
    let t = signing::parse_time(text).map_err(|e| bad(format!("expiration: {e}")))?;
    if t <= now {
        return Err(bad(format!("expiration {t} is not in the future")));
    }
    Ok(Some(t))
}

/// The v8 pricing from `nodePrices`, `threshold` and `userMaxPrice`.
fn pricing(body: &SessionSigsBody, nodes: &[NodeUrl]) -> Result<NodePricing, Problem> {
    let mut pricing = NodePricing::new();
    for (url, raw) in body.node_prices.iter().flat_map(|p| p.0.iter()) {
        let shown: String = url.chars().take(200).collect();
        let node = signing::parse_node_url(url)
            .map_err(|e| Problem::new(Kind::InvalidResource, format!("nodePrices: {e}")))?;
        if !nodes.contains(&node) {
            return Err(Problem::new(Kind::InvalidRequest, format!("nodePrices: {shown} is not one of nodeUrls")));
        }
        let (price, _) = price(raw, &format!("nodePrices[{shown}]"))?;
        pricing = pricing.with_node_price(node, price);
    }
    if let Some(k) = body.threshold {
        let k = usize::try_from(k).map_err(|_| Problem::new(Kind::InvalidRequest, "threshold is too large"))?;
        pricing = pricing.with_threshold(k);
    }
    if let Some(raw) = &body.user_max_price {
        let (max, _) = price(raw, "userMaxPrice")?;
        pricing = pricing.with_max_price(signing::MaxPrice::Split(max));
    }
    Ok(pricing)
}

/// The session-sigs request parser on its own (for fuzzing): JSON text → the parsed request or
/// the 4xx problem the endpoint would answer. Signer profiles `default` and `treasury` exist.
/// Returns the problem's status, or 200 for a request that would reach the policy.
pub fn parse_session_sigs_request(bytes: &[u8]) -> u16 {
    let body = match serde_json::from_slice::<SessionSigsBody>(bytes) {
        Ok(b) => b,
        Err(_) => return 400,
    };
    let known = |s: &str| (s == "default" || s == "treasury").then_some(());
    match session_sigs(body, Timestamp::now(), "default", known) {
        Ok((p, ())) => {
            // What the policy sees must be consistent with what is signed.
            assert_eq!(p.requested.len(), p.requests.len());
            match p.format {
                Format::V7 => assert_eq!(p.nodes.len(), p.chosen.len()),
                Format::V8 => {
                    assert_eq!(p.max_prices.len(), p.chosen.len());
                    assert!(p.chosen.iter().all(|n| p.nodes.iter().any(|u| u.as_str() == n)));
                    // Cheapest first: equal shares on top of ascending prices.
                    assert!(p.max_prices.windows(2).all(|w| w[0].1 <= w[1].1));
                }
            }
            200
        }
        Err(problem) => {
            let status = problem.kind.status().as_u16();
            assert!((400..500).contains(&status), "a parse error must be a 4xx: {problem}");
            status
        }
    }
}
