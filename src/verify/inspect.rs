//! A readable view of a sessionSigs file: per node the message format, session key, nodeAddress,
//! `maxPrice`, times, resources, each capability's signer, URI, expiry and grants, the payment
//! delegations and whether the signed `maxPrice` stays within them, and a validity verdict for
//! every resource the session asks for. `Display` renders a table; the report serialises to
//! JSON.

use std::fmt;

use serde::Serialize;

use super::capability::CheckedCapability;
use super::error::VerifyError;
use super::file::SessionSigsEntry;
use super::{ed25519, Verifier};
use crate::eth::EthAddress;
use crate::payment_delegation::PaymentDelegationGrant;
use crate::protocol::{NodeUrl, Price, SignedMessage};
use crate::resources::{LitAbility, LitResource, ResourceAbilityRequest, ResourcePrefix};
use crate::Timestamp;

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct InspectReport {
    /// The clock the verdicts use.
    pub now: String,
    /// Whether the strict policy was applied.
    pub strict: bool,
    /// The node generation whose rules give the verdicts (`datil` or `naga`).
    pub generation: String,
    /// One per session signature, in file order.
    pub entries: Vec<EntryReport>,
}

/// One node's session signature.
#[derive(Clone, Debug, Serialize)]
pub struct EntryReport {
    /// The map key (node URL), if the file is a map.
    pub node: Option<String>,
    /// The signing key (`address`).
    pub session_key: String,
    /// The signed `sessionKey`, if different from `address`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_session_key: Option<String>,
    /// The signed `nodeAddress`.
    pub node_address: Option<String>,
    /// The message layout: `v7 (Datil)` or `v8 (Naga)` (with a `maxPrice`).
    pub format: Option<String>,
    /// The signed `maxPrice` as written.
    pub max_price: Option<String>,
    /// The signed `maxPrice` in decimal, or why a Naga node cannot read it.
    pub max_price_decimal: Option<String>,
    /// The signed `issuedAt`.
    pub issued_at: Option<String>,
    /// The signed `expiration`.
    pub expiration: Option<String>,
    /// Seconds from now to expiration (negative once expired).
    pub seconds_left: Option<i64>,
    /// `seconds_left` for people.
    pub time_left: String,
    /// The signed resource-ability requests as `prefix://id` and ability.
    pub resources: Vec<(String, String)>,
    /// The capability AuthSigs.
    pub capabilities: Vec<CapabilityReport>,
    /// Each payment delegation among the capabilities, checked against the signed `maxPrice`.
    pub payment_delegations: Vec<PaymentCheck>,
    /// `valid`, `invalid` or `needs-network-key`.
    pub verdict: String,
    /// The first failure, when not valid.
    pub detail: Option<String>,
    /// The verdict for each requested resource at this node.
    pub requests: Vec<RequestVerdict>,
}

/// One capability AuthSig.
#[derive(Clone, Debug, Serialize)]
pub struct CapabilityReport {
    /// 0-based position.
    pub index: usize,
    /// `wallet`, `lit.bls`, or the unsupported `derivedVia`.
    pub kind: String,
    /// The `address` field.
    pub address: String,
    /// The SIWE signer.
    pub signer: Option<String>,
    /// The SIWE domain.
    pub domain: Option<String>,
    /// The SIWE URI.
    pub uri: Option<String>,
    /// Whether the URI is `lit:session:<session key>`.
    pub bound_to_session: bool,
    /// SIWE `Issued At`.
    pub issued_at: Option<String>,
    /// SIWE `Expiration Time`.
    pub expiration: Option<String>,
    /// Seconds from now to the SIWE expiration.
    pub seconds_left: Option<i64>,
    /// ReCap grants as `prefix://id Namespace/ability`.
    pub grants: Vec<String>,
    /// `valid`, `needs-network-key`, or the failure (signature, time, parse).
    pub status: String,
}

/// A payment delegation found among a session's capabilities, and whether a Naga node could
/// charge its delegator for this session (`payment/payment_delegation.rs::
/// check_for_payment_delegation`; the delegator's balance and scope for the endpoint aside).
#[derive(Clone, Debug, Serialize)]
pub struct PaymentCheck {
    /// The capability's 0-based position.
    pub capability: usize,
    /// Whether the capability passes the node's `validate_capability_auth_sig` now (SIWE valid,
    /// signature, and for a wallet signature its `address` the SIWE signer); the node skips
    /// capabilities that do not.
    pub valid_capability: bool,
    /// Who pays (the capability's SIWE signer).
    pub delegator: Option<String>,
    /// Its `max_price` in hex, `0x`-prefixed.
    pub max_price: Option<String>,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// Whether the session's user (the `address` of the capability that authorised it, as the
    /// node takes it) is a delegatee: `delegate_to` entries compared lower-cased with the
    /// user's lower-case hex without `0x`.
    pub delegates_to_user: Option<bool>,
    /// `within` (signed `maxPrice` ≤ `max_price`), `exceeds`, `no maxPrice`, or why the node
    /// cannot read the delegation.
    pub max_price_check: String,
}

/// The verdict for one requested resource.
#[derive(Clone, Debug, Serialize)]
pub struct RequestVerdict {
    /// `prefix://id`.
    pub resource: String,
    /// The ability.
    pub ability: String,
    /// `valid`, `invalid` or `needs-network-key`.
    pub verdict: String,
    /// The failure, when not valid.
    pub detail: Option<String>,
}

fn verdict_of(r: &Result<(), String>) -> (&'static str, Option<String>) {
    match r {
        Ok(()) => ("valid", None),
        Err(e) if e.starts_with("needs-network-key:") => ("needs-network-key", Some(e.clone())),
        Err(e) => ("invalid", Some(e.clone())),
    }
}

fn seconds_between(now: Timestamp, then: Timestamp) -> i64 {
    (then.as_datetime() - now.as_datetime()).whole_seconds()
}

/// `1d 2h`, `3h 4m`, `5m 6s`, or `expired 3h 4m ago`.
pub fn human_duration(secs: i64) -> String {
    let a = secs.unsigned_abs();
    let (d, h, m, s) = (a / 86_400, a % 86_400 / 3600, a % 3600 / 60, a % 60);
    let span = if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else {
        format!("{m}m {s}s")
    };
    if secs < 0 {
        format!("expired {span} ago")
    } else {
        format!("{span} left")
    }
}

fn capability_report(
    index: usize,
    address: &str,
    checked: &CheckedCapability,
    session_key: &str,
    now: Timestamp,
) -> CapabilityReport {
    let siwe = checked.siwe.as_ref().ok();
    let status = match checked.valid_at(now) {
        Ok(super::Passed::Valid) => "valid".to_string(),
        Ok(super::Passed::NeedsNetworkKey) => "needs-network-key".to_string(),
        Err(e) => e.to_string(),
    };
    let expiration = siwe.and_then(|s| s.expiration).map(Timestamp::from_datetime);
    CapabilityReport {
        index,
        kind: checked.kind.name().to_string(),
        address: address.to_string(),
        signer: siwe.map(|s| s.address.to_checksum()),
        domain: siwe.map(|s| s.domain.clone()),
        uri: siwe.map(|s| s.uri.clone()),
        bound_to_session: checked.bound_to(session_key),
        issued_at: siwe.map(|s| s.issued_at.clone()),
        expiration: expiration.map(|e| e.to_string()),
        seconds_left: expiration.map(|e| seconds_between(now, e)),
        grants: siwe.map(|s| s.grants()).unwrap_or_default(),
        status,
    }
}

// ethers' `Address::from_str` (fixed-hash): one optional `0x`, exactly 40 hex digits.
fn ethers_address(text: &str) -> Option<EthAddress> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let mut bytes = [0u8; 20];
    hex::decode_to_slice(digits, &mut bytes).ok()?;
    Some(EthAddress::from_bytes(bytes))
}

// Every `lit-paymentdelegation` `Auth/Auth` restriction of a capability, as the node reads them.
fn payment_checks(
    index: usize,
    address_field: &str,
    checked: &CheckedCapability,
    now: Timestamp,
    signed: Option<&Result<Price, String>>,
    user: Option<EthAddress>,
) -> Vec<PaymentCheck> {
    let Ok(siwe) = &checked.siwe else { return Vec::new() };
    let valid_capability = matches!(checked.valid_at(now), Ok(super::Passed::Valid))
        && (checked.kind != super::CapabilityKind::Wallet || ethers_address(address_field) == Some(siwe.address));
    let Ok(recaps) = &siwe.recaps else { return Vec::new() };
    let scheme = format!("{}://", ResourcePrefix::PaymentDelegation.as_str());
    let ability = LitAbility::PaymentDelegation.recap_key();
    let restrictions = recaps
        .iter()
        .flat_map(|r| r.attenuations().iter())
        .filter(|(resource, _)| resource.starts_with(&scheme))
        .filter_map(|(_, abilities)| abilities.get(&ability))
        .flatten();
    restrictions
        .map(|nb| {
            let mut check = PaymentCheck {
                capability: index,
                valid_capability,
                delegator: Some(siwe.address.to_checksum()),
                max_price: None,
                scopes: Vec::new(),
                delegates_to_user: None,
                max_price_check: String::new(),
            };
            match PaymentDelegationGrant::from_restriction(nb) {
                Err(why) => check.max_price_check = format!("unusable: {why}"),
                Ok(grant) => {
                    check.max_price = Some(grant.max_price.to_hex());
                    check.scopes = grant.scopes.iter().map(|s| s.to_string()).collect();
                    check.delegates_to_user = user.map(|u| grant.delegates_to(&u));
                    check.max_price_check = match signed {
                        None => "no maxPrice".to_string(),
                        Some(Err(why)) => format!("maxPrice unreadable: {why}"),
                        Some(Ok(p)) if grant.covers(*p) => {
                            format!("within: maxPrice {} <= max_price {}", p.to_hex(), grant.max_price.to_hex())
                        }
                        Some(Ok(p)) => {
                            format!("exceeds: maxPrice {} > max_price {}", p.to_hex(), grant.max_price.to_hex())
                        }
                    };
                }
            }
            check
        })
        .collect()
}

fn entry_report(entry: &SessionSigsEntry, now: Timestamp, verifier: &Verifier) -> EntryReport {
    let sig = &entry.session_sig;
    let generation = verifier.policy().generation;
    let parsed = SignedMessage::parse(&sig.signed_message);
    let mut report = EntryReport {
        node: entry.node.clone(),
        session_key: sig.address.clone(),
        signed_session_key: None,
        node_address: None,
        format: None,
        max_price: None,
        max_price_decimal: None,
        issued_at: None,
        expiration: None,
        seconds_left: None,
        time_left: "-".to_string(),
        resources: Vec::new(),
        capabilities: Vec::new(),
        payment_delegations: Vec::new(),
        verdict: "invalid".to_string(),
        detail: None,
        requests: Vec::new(),
    };
    let read = super::rules::read_session_sig(&entry.json).and_then(|s| super::rules::session_sig_type(&s));
    let msg = match (parsed, read) {
        (Ok(m), _) => m,
        (Err(_), Err(e)) => {
            report.detail = Some(e.explain(generation));
            return report;
        }
        (Err(e), Ok(())) => {
            let err = ed25519::verify(&sig.address, &sig.sig, &sig.signed_message)
                .err()
                .unwrap_or(VerifyError::SignedMessage(e.to_string()));
            report.detail = Some(err.explain(generation));
            return report;
        }
    };
    if msg.session_key != sig.address {
        report.signed_session_key = Some(msg.session_key.to_string());
    }
    report.node_address = Some(msg.node_address.to_string());
    report.format = Some(msg.format().to_string());
    let signed_price = msg.max_price().map(|r| r.map_err(|e| e.to_string()));
    report.max_price = msg.max_price.map(|raw| raw.get().trim_matches('"').to_string());
    report.max_price_decimal = signed_price.as_ref().map(|r| match r {
        Ok(p) => p.to_string(),
        Err(why) => format!("unreadable: {why}"),
    });
    report.issued_at = Some(msg.issued_at.to_string());
    report.expiration = Some(msg.expiration.to_string());
    if let Ok(exp) = msg.expiration.parse::<Timestamp>() {
        let left = seconds_between(now, exp);
        report.seconds_left = Some(left);
        report.time_left = human_duration(left);
    }
    report.resources = msg
        .resource_ability_requests
        .iter()
        .map(|r| (format!("{}://{}", r.resource.resource_prefix, r.resource.resource), r.ability.to_string()))
        .collect();
    let checked: Vec<_> = msg.capabilities.iter().map(|cap| verifier.check_capability(cap, now)).collect();
    report.capabilities = msg
        .capabilities
        .iter()
        .zip(&checked)
        .enumerate()
        .map(|(i, (cap, c))| capability_report(i, &cap.address, c, &sig.address, now))
        .collect();
    let node = entry
        .node
        .as_deref()
        .and_then(|n| n.parse::<NodeUrl>().ok())
        .or_else(|| msg.node_address.parse::<NodeUrl>().ok());
    // The session's user as the node takes it: the `address` of the capability that authorised
    // the first request that verifies (else the signer of the AuthSig bound to this session key).
    let mut user = None;
    for r in &msg.resource_ability_requests {
        let resource = format!("{}://{}", r.resource.resource_prefix, r.resource.resource);
        let result = LitResource::from_key(&resource)
            .and_then(|res| ResourceAbilityRequest::new(res, r.ability.parse()?))
            .map_err(|e| VerifyError::ResourceNotRequested { requested: format!("{resource} ({e})") })
            .and_then(|req| match &node {
                Some(node) => verifier.verify_entry(entry, node, &req, now),
                None => Err(VerifyError::NodeAddressMismatch {
                    signed: msg.node_address.to_string(),
                    expected: "(no node URL to verify against)".into(),
                }),
            });
        if let (None, Ok(verified)) = (user, &result) {
            user = super::node::hex::hex_to_array::<20>(&verified.user_address).map(EthAddress::from_bytes);
        }
        let result = result.map(|_| ()).map_err(|e| e.explain(generation));
        let (verdict, detail) = verdict_of(&result);
        report.requests.push(RequestVerdict {
            resource,
            ability: r.ability.to_string(),
            verdict: verdict.to_string(),
            detail,
        });
    }
    let user = user.or_else(|| {
        checked.iter().filter(|c| c.bound_to(&sig.address)).find_map(|c| c.siwe.as_ref().ok().map(|s| s.address))
    });
    report.payment_delegations = msg
        .capabilities
        .iter()
        .zip(&checked)
        .enumerate()
        .flat_map(|(i, (cap, c))| payment_checks(i, &cap.address, c, now, signed_price.as_ref(), user))
        .collect();
    let worst = report
        .requests
        .iter()
        .find(|r| r.verdict == "invalid")
        .or_else(|| report.requests.iter().find(|r| r.verdict != "valid"));
    match worst {
        Some(r) => {
            report.verdict = r.verdict.clone();
            report.detail = r.detail.clone();
        }
        None if report.requests.is_empty() => {
            report.detail = Some("resource: the session requests no resources".into());
        }
        None => report.verdict = "valid".to_string(),
    }
    report
}

/// Inspects every entry at `now` with `verifier` (its policy gives the verdicts).
pub fn inspect(entries: &[SessionSigsEntry], now: Timestamp, verifier: &Verifier) -> InspectReport {
    InspectReport {
        now: now.to_string(),
        strict: verifier.policy().strict,
        generation: verifier.policy().generation.to_string(),
        entries: entries.iter().map(|e| entry_report(e, now, verifier)).collect(),
    }
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let head: String = s.chars().take(n.saturating_sub(1)).collect();
        format!("{head}…")
    }
}

impl fmt::Display for InspectReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "now {}, {} nodes' rules{}",
            self.now,
            self.generation,
            if self.strict { " (strict policy)" } else { "" }
        )?;
        writeln!(f, "{:<30} {:<18} {:<26} {:<20} VERDICT", "NODE", "SESSION KEY", "EXPIRES", "LEFT")?;
        for e in &self.entries {
            let node = e.node.as_deref().or(e.node_address.as_deref()).unwrap_or("-");
            writeln!(
                f,
                "{:<30} {:<18} {:<26} {:<20} {}",
                short(node, 30),
                short(&e.session_key, 18),
                e.expiration.as_deref().unwrap_or("-"),
                e.time_left,
                e.verdict
            )?;
        }
        for e in &self.entries {
            writeln!(f)?;
            writeln!(f, "{}", e.node.as_deref().or(e.node_address.as_deref()).unwrap_or("(single session sig)"))?;
            writeln!(f, "  session key   {}", e.session_key)?;
            if let Some(k) = &e.signed_session_key {
                writeln!(f, "  signed key    {k}  (differs from the signing key)")?;
            }
            writeln!(f, "  format        {}", e.format.as_deref().unwrap_or("-"))?;
            writeln!(f, "  node address  {}", e.node_address.as_deref().unwrap_or("-"))?;
            if let Some(price) = &e.max_price {
                writeln!(f, "  maxPrice      {price} ({})", e.max_price_decimal.as_deref().unwrap_or("-"))?;
            }
            writeln!(f, "  issued        {}", e.issued_at.as_deref().unwrap_or("-"))?;
            writeln!(f, "  expires       {} ({})", e.expiration.as_deref().unwrap_or("-"), e.time_left)?;
            for (i, (res, ability)) in e.resources.iter().enumerate() {
                writeln!(f, "  {:<13} {res} {ability}", if i == 0 { "resources" } else { "" })?;
            }
            for c in &e.capabilities {
                writeln!(f, "  capability #{} {} address {}", c.index, c.kind, c.address)?;
                writeln!(f, "      signer    {}", c.signer.as_deref().unwrap_or("-"))?;
                writeln!(
                    f,
                    "      uri       {}{}",
                    c.uri.as_deref().unwrap_or("-"),
                    if c.bound_to_session { "" } else { "  (not this session key)" }
                )?;
                let left = c.seconds_left.map(human_duration).unwrap_or_else(|| "-".into());
                writeln!(f, "      expires   {} ({left})", c.expiration.as_deref().unwrap_or("-"))?;
                for (i, g) in c.grants.iter().enumerate() {
                    writeln!(f, "      {:<9} {g}", if i == 0 { "grants" } else { "" })?;
                }
                writeln!(f, "      status    {}", c.status)?;
            }
            for p in &e.payment_delegations {
                writeln!(
                    f,
                    "  payment       capability #{} by {}: max_price {}, scopes {}, delegates to the user: {}",
                    p.capability,
                    p.delegator.as_deref().unwrap_or("-"),
                    p.max_price.as_deref().unwrap_or("-"),
                    if p.scopes.is_empty() { "-".to_string() } else { p.scopes.join(",") },
                    match p.delegates_to_user {
                        Some(true) => "yes",
                        Some(false) => "no",
                        None => "-",
                    }
                )?;
                writeln!(f, "      check     {}", p.max_price_check)?;
            }
            for r in &e.requests {
                let said = r.detail.as_deref().unwrap_or(&r.verdict);
                writeln!(f, "  verdict       {} {}: {said}", r.resource, r.ability)?;
            }
            if e.requests.is_empty() {
                writeln!(f, "  verdict       {} ({})", e.verdict, e.detail.as_deref().unwrap_or("-"))?;
            }
        }
        Ok(())
    }
}
