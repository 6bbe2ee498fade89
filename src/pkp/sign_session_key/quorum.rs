//! Turning the usable answers into the `LIT_BLS` AuthSig: the most common SIWE, one network
//! key, and shares that combine to a signature that verifies.

use std::collections::HashMap;

use super::expected::Usable;
use super::failure::{NodeFailure, NodeFailureReason, NodeFailures, SignSessionKeyError};
use super::{QuorumOptions, SignedSessionKey};
use crate::bls::{self, SignatureShare};
use crate::protocol::NodeUrl;

pub(super) enum Attempt {
    Done(Box<SignedSessionKey>),
    // More answers might still make it work.
    Wait(SignSessionKeyError),
    Fail(SignSessionKeyError),
}

pub(super) fn attempt(
    usable: &[Usable],
    failures: &[NodeFailure],
    nodes: &[NodeUrl],
    options: &QuorumOptions,
) -> Attempt {
    let needed = options.min_responses;
    let mut failures = failures.to_vec();
    // The most common SIWE; ties go to the one seen first.
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for u in usable {
        *counts.entry(u.siwe.as_str()).or_default() += 1;
    }
    let Some(siwe) = usable.iter().map(|u| u.siwe.as_str()).max_by(|a, b| {
        counts[a].cmp(&counts[b]).then_with(|| {
            // max_by keeps the last maximum; prefer the earlier one.
            let pos = |s: &str| usable.iter().position(|u| u.siwe == s);
            pos(b).cmp(&pos(a))
        })
    }) else {
        return Attempt::Wait(not_enough(needed, 0, nodes, failures));
    };
    let mut chosen: Vec<&Usable> = Vec::new();
    for u in usable {
        if u.siwe != siwe {
            failures.push(NodeFailure { node: u.node.clone(), reason: NodeFailureReason::MinoritySiwe });
        } else {
            chosen.push(u);
        }
    }
    let key = match &options.network_public_key {
        Some(pinned) => {
            let expected = pinned.to_hex();
            chosen.retain(|u| {
                let same = u.root_key == *pinned;
                if !same {
                    failures.push(NodeFailure {
                        node: u.node.clone(),
                        reason: NodeFailureReason::OtherRootKey {
                            reported: u.root_key_hex.clone(),
                            expected: expected.clone(),
                        },
                    });
                }
                same
            });
            *pinned
        }
        None => {
            let mut keys: Vec<(String, Vec<NodeUrl>)> = Vec::new();
            for u in &chosen {
                match keys.iter_mut().find(|(k, _)| *k == u.root_key_hex) {
                    Some((_, nodes)) => nodes.push(u.node.clone()),
                    None => keys.push((u.root_key_hex.clone(), vec![u.node.clone()])),
                }
            }
            if keys.len() > 1 {
                return Attempt::Fail(SignSessionKeyError::RootKeyDisagreement { keys });
            }
            match chosen.first() {
                Some(u) => u.root_key,
                None => return Attempt::Wait(not_enough(needed, 0, nodes, failures)),
            }
        }
    };
    if chosen.len() < needed {
        return Attempt::Wait(not_enough(needed, chosen.len(), nodes, failures));
    }
    let shares: Vec<SignatureShare> = chosen.iter().map(|u| u.share).collect();
    let digest = bls::session_digest(siwe);
    match bls::combine_verified(&shares, needed, &key, &digest) {
        Ok(combined) => {
            let mut signers = Vec::new();
            for u in &chosen {
                if combined.rejected.contains(&u.share.identifier()) {
                    failures.push(NodeFailure { node: u.node.clone(), reason: NodeFailureReason::RejectedShare });
                } else {
                    signers.push(u.node.clone());
                }
            }
            let address = chosen[0].address;
            let auth_sig = bls::lit_bls_auth_sig(&combined.signature, siwe, &address);
            Attempt::Done(Box::new(SignedSessionKey {
                auth_sig,
                signature: combined.signature,
                network_public_key: key,
                signers,
                failures: NodeFailures::in_node_order(failures, nodes).0,
            }))
        }
        Err(error) => Attempt::Wait(SignSessionKeyError::Combine {
            error,
            failures: NodeFailures::in_node_order(failures, nodes),
        }),
    }
}

pub(super) fn not_enough(
    needed: usize,
    usable: usize,
    nodes: &[NodeUrl],
    failures: Vec<NodeFailure>,
) -> SignSessionKeyError {
    SignSessionKeyError::NotEnoughResponses {
        needed,
        usable,
        nodes: nodes.len(),
        failures: NodeFailures::in_node_order(failures, nodes),
    }
}
