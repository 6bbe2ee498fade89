//! A sessionSigs map checked, node by node and request by request, by a network's node rules.

use lit_session_signer::verify::{parse_session_sigs, select_session_sig, Verifier, VerifyPolicy};

use super::input::InputError;
use super::{Generation, NodeUrl, Price, ResourceAbilityRequest, Route, Timestamp};

/// One verification result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyOutcome {
    /// The node URL checked.
    #[serde(rename = "nodeUrl")]
    pub node_url: String,
    /// The requested resource and ability, `PREFIX://ID=ABILITY`.
    pub resource: String,
    /// Whether the node would accept it.
    pub valid: bool,
    /// The refusal (`<rule>: <detail> (<generation> node: <function>)`), when invalid; or,
    /// when valid only through the Datil unversioned route's fallback, why the `/v1` check
    /// refuses it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The rule that refused it, when invalid (`expired`, `strict-hex`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The node function that refuses it (`None` for the strict policy's rules).
    #[serde(rename = "nodeFunction", skip_serializing_if = "Option::is_none")]
    pub node_function: Option<String>,
    /// Datil, unversioned route: accepted only by the route's older fallback.
    #[serde(rename = "viaFallback", skip_serializing_if = "std::ops::Not::not")]
    pub via_fallback: bool,
}

/// What the node knows and what to check, for [`verify_map_with`].
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Add the library's strict policy.
    pub strict: bool,
    /// Whose node rules.
    pub generation: Generation,
    /// Datil: the route (`v1` by default, or the unversioned one with its fallback).
    pub route: Route,
    /// Naga: the node's current price for the operation.
    pub node_price: Option<Price>,
}

/// Verifies a sessionSigs map (JSON text) for each node and each request, by the rules of a
/// `generation`'s nodes on their `/v1` routes; `strict` adds the library's strict policy.
pub fn verify_map(
    session_sigs_json: &str,
    nodes: Option<&[NodeUrl]>,
    requests: &[ResourceAbilityRequest],
    now: Timestamp,
    strict: bool,
    generation: Generation,
) -> Result<Vec<VerifyOutcome>, InputError> {
    let options = VerifyOptions { strict, generation, ..VerifyOptions::default() };
    verify_map_with(session_sigs_json, nodes, requests, now, &options)
}

/// Verifies a sessionSigs map (JSON text) for each node and each request by the rules of
/// `options.generation`'s nodes. Entries the node would refuse, however malformed, are invalid
/// results; only a value with no entry to check (not an object, an empty map, a single
/// SessionSig without `nodeUrls`, a map key that is not a node URL) is an error.
pub fn verify_map_with(
    session_sigs_json: &str,
    nodes: Option<&[NodeUrl]>,
    requests: &[ResourceAbilityRequest],
    now: Timestamp,
    options: &VerifyOptions,
) -> Result<Vec<VerifyOutcome>, InputError> {
    let entries = parse_session_sigs(session_sigs_json)?;
    let nodes: Vec<NodeUrl> = match nodes {
        Some(n) => n.to_vec(),
        None => entries
            .iter()
            .map(|e| {
                let node = e.node.as_deref().ok_or(InputError::MapNodes("a single SessionSig needs nodeUrls"))?;
                node.parse().map_err(InputError::MapKey)
            })
            .collect::<Result<_, _>>()?,
    };
    let policy = if options.strict { VerifyPolicy::strict() } else { VerifyPolicy::node() };
    let mut policy = policy.for_generation(options.generation).with_route(options.route);
    if let Some(price) = options.node_price {
        policy = policy.with_node_price(price);
    }
    let generation = policy.generation;
    let verifier = Verifier::new(policy);
    let mut out = Vec::new();
    for node in &nodes {
        for request in requests {
            let mut outcome = VerifyOutcome {
                node_url: node.to_string(),
                resource: request.to_string(),
                valid: false,
                error: None,
                rule: None,
                node_function: None,
                via_fallback: false,
            };
            match select_session_sig(&entries, node.as_str()) {
                None => {
                    outcome.error = Some("missing: no session sig for this node".to_string());
                    outcome.rule = Some("missing".to_string());
                }
                Some(entry) => match verifier.verify_entry(entry, node, request, now) {
                    Ok(verified) => {
                        outcome.valid = true;
                        if let Some(why) = verified.via_fallback {
                            outcome.via_fallback = true;
                            outcome.error = Some(why.explain(generation));
                        }
                    }
                    Err(e) => {
                        outcome.error = Some(e.explain(generation));
                        outcome.rule = Some(e.rule().to_string());
                        outcome.node_function = e.node_function(generation).map(str::to_string);
                    }
                },
            }
            out.push(outcome);
        }
    }
    Ok(out)
}
