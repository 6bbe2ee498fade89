//! Why nodes were not used, and why no `LIT_BLS` AuthSig could be made.

use std::fmt;

use crate::bls::BlsError;
use crate::pkp::TransportError;
use crate::protocol::NodeUrl;

/// Why one node's answer was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeFailureReason {
    /// No usable HTTP answer (timeout, connection, status, JSON, missing field, node error).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// `signatureShare` is not a BLS signature share.
    #[error("bad signature share: {0}")]
    BadShare(BlsError),
    /// Another node already sent a share with this identifier.
    #[error("share identifier {identifier} already sent by {first}")]
    DuplicateShare {
        /// The identifier.
        identifier: u8,
        /// The node that sent it first.
        first: NodeUrl,
    },
    /// `blsRootPubkey` is not a BLS public key.
    #[error("bad blsRootPubkey: {0}")]
    BadRootKey(BlsError),
    /// `dataSigned` is not the digest of the node's own `siweMessage`.
    #[error("dataSigned {data_signed} is not the session digest of its siweMessage ({expected})")]
    DataSignedMismatch {
        /// What the node said it signed.
        data_signed: String,
        /// The digest of its SIWE.
        expected: String,
    },
    /// The node's SIWE is not for this request (another session key, PKP, nonce, …).
    #[error("its SIWE does not match the request: {0}")]
    UnexpectedSiwe(String),
    /// The node signed a different SIWE from the one most nodes signed.
    #[error("signed a different SIWE from the majority")]
    MinoritySiwe,
    /// The node reports another network key than the pinned one.
    #[error("reports network key {reported}, expected {expected}")]
    OtherRootKey {
        /// The node's `blsRootPubkey`.
        reported: String,
        /// The pinned key.
        expected: String,
    },
    /// Its share is not a share of the network signature (found by combining the others).
    #[error("its signature share is not a share of the network signature")]
    RejectedShare,
}

/// One node that was not used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFailure {
    /// The node.
    pub node: NodeUrl,
    /// Why.
    pub reason: NodeFailureReason,
}

impl fmt::Display for NodeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.node, self.reason)
    }
}

/// A list of node failures, displayed `node: reason; node: reason`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeFailures(pub Vec<NodeFailure>);

impl fmt::Display for NodeFailures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, failure) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{failure}")?;
        }
        Ok(())
    }
}

/// Why no `LIT_BLS` AuthSig could be made.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SignSessionKeyError {
    /// `min_responses` is 0 or above the number of nodes.
    #[error("minimum responses must be between 1 and the number of nodes ({nodes}), got {min_responses}")]
    InvalidMinResponses {
        /// Asked for.
        min_responses: usize,
        /// Nodes given.
        nodes: usize,
    },
    /// The request could not be serialised.
    #[error("cannot serialise the request: {0}")]
    Encode(String),
    /// The client SIWE in the request does not parse.
    #[error("the request's SIWE is invalid: {0}")]
    RequestSiwe(String),
    /// Fewer usable answers than needed.
    #[error("only {usable} of {nodes} nodes gave a usable answer, {needed} needed: {failures}")]
    NotEnoughResponses {
        /// Needed.
        needed: usize,
        /// Usable (same SIWE, same key, good share).
        usable: usize,
        /// Nodes asked.
        nodes: usize,
        /// Every node that failed, and why.
        failures: NodeFailures,
    },
    /// The nodes report different network keys (and none was pinned).
    #[error("nodes disagree on the network key: {}", describe_keys(.keys))]
    RootKeyDisagreement {
        /// Each key reported, with the nodes reporting it.
        keys: Vec<(String, Vec<NodeUrl>)>,
    },
    /// Enough shares, but they do not combine to a signature that verifies.
    #[error("{error}; node failures: {failures}")]
    Combine {
        /// The BLS error.
        error: BlsError,
        /// Every node that failed, and why.
        failures: NodeFailures,
    },
}

fn describe_keys(keys: &[(String, Vec<NodeUrl>)]) -> String {
    keys.iter()
        .map(|(k, nodes)| {
            let nodes: Vec<&str> = nodes.iter().map(NodeUrl::as_str).collect();
            format!("{k} from {}", nodes.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl NodeFailures {
    /// `failures` sorted by the position of their node in `nodes`.
    pub(super) fn in_node_order(mut failures: Vec<NodeFailure>, nodes: &[NodeUrl]) -> Self {
        failures.sort_by_key(|f| nodes.iter().position(|n| *n == f.node));
        Self(failures)
    }
}
