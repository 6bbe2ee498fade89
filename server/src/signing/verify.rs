//! A sessionSigs map checked, node by node and request by request, by a network's node rules.

use lit_session_signer::verify::{parse_session_sigs, select_session_sig, Verifier, VerifyPolicy};

use super::input::InputError;
use super::{Generation, NodeUrl, ResourceAbilityRequest, Timestamp};

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
    /// The failed rule and detail, when invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Verifies a sessionSigs map (JSON text) for each node and each request, by the rules of a
/// `generation`'s nodes (Datil reads both message forms, Naga requires the v8 one with its
/// `maxPrice`); `strict` adds the library's strict policy.
pub fn verify_map(
    session_sigs_json: &str,
    nodes: Option<&[NodeUrl]>,
    requests: &[ResourceAbilityRequest],
    now: Timestamp,
    strict: bool,
    generation: Generation,
) -> Result<Vec<VerifyOutcome>, InputError> {
    let entries = parse_session_sigs(session_sigs_json)?;
    let nodes: Vec<NodeUrl> = match nodes {
        Some(n) => n.to_vec(),
        None => entries
            .iter()
            .map(|e| {
                e.node
                    .as_deref()
                    .ok_or(InputError::MapNodes("a single SessionSig needs nodeUrls"))
                    .and_then(|n| n.parse().map_err(|_| InputError::MapNodes("a map key is not a node URL")))
            })
            .collect::<Result<_, _>>()?,
    };
    let policy = if strict { VerifyPolicy::strict() } else { VerifyPolicy::node() };
    let verifier = Verifier::new(policy.for_generation(generation));
    let mut out = Vec::new();
    for node in &nodes {
        for request in requests {
            let outcome = match select_session_sig(&entries, node.as_str()) {
                None => Some("missing: no session sig for this node".to_string()),
                Some(entry) => verifier.verify(&entry.session_sig, node, request, now).err().map(|e| e.to_string()),
            };
            out.push(VerifyOutcome {
                node_url: node.to_string(),
                resource: request.to_string(),
                valid: outcome.is_none(),
                error: outcome,
            });
        }
    }
    Ok(out)
}
