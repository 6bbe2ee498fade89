//! Sending one `sign_session_key` request to every node at once and turning enough answers into
//! the `LIT_BLS` AuthSig: per-node timeouts, a minimum number of usable answers, the most
//! common SIWE, one agreed network key, share combination with bad-share attribution.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};

use super::request::{EncodedRequest, SignSessionKeyRequest};
use super::response::SignSessionKeyResponse;
use super::transport::{NodeTransport, TransportError};
use crate::auth_sig::AuthSig;
use crate::bls::{self, BlsError, BlsSignature, NetworkPublicKey, SignatureShare};
use crate::eth::EthAddress;
use crate::session_sigs::NodeUrl;
use crate::siwe;

/// The SDK's default per-request timeout (`connectTimeout`, 20 s).
pub const DEFAULT_NODE_TIMEOUT: Duration = Duration::from_secs(20);

/// How many answers are enough, how long to wait for each, and which network key to expect.
///
/// ```
/// use std::time::Duration;
/// use lit_session_signer::pkp::SignOptions;
/// let options = SignOptions::new(7).with_timeout(Duration::from_secs(5));
/// assert_eq!(options.min_responses, 7);
/// ```
#[derive(Clone, Debug)]
pub struct SignOptions {
    /// Usable answers needed, and the threshold used to combine shares (the network's
    /// `minNodeCount`). At least 1, at most the number of nodes.
    pub min_responses: usize,
    /// How long each node may take.
    pub timeout: Duration,
    /// The network key the combined signature must verify against. `None`: the key the nodes
    /// report (`blsRootPubkey`), which must then be the same for all of them.
    pub network_public_key: Option<NetworkPublicKey>,
}

impl SignOptions {
    /// `min_responses` answers, [`DEFAULT_NODE_TIMEOUT`], the nodes' own key.
    pub fn new(min_responses: usize) -> Self {
        Self { min_responses, timeout: DEFAULT_NODE_TIMEOUT, network_public_key: None }
    }

    /// Sets the per-node timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Pins the network key.
    pub fn with_network_public_key(mut self, key: NetworkPublicKey) -> Self {
        self.network_public_key = Some(key);
        self
    }
}

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
    /// No node given.
    #[error("no node URLs given")]
    NoNodes,
    /// The same node twice.
    #[error("node URL given twice: {0}")]
    DuplicateNode(NodeUrl),
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

/// The network-signed session key: the `LIT_BLS` AuthSig and how it came about.
#[derive(Clone, Debug)]
pub struct SignedSessionKey {
    /// The AuthSig; it serialises in the SDK's order `sig, algo, derivedVia, signedMessage, address`.
    pub auth_sig: AuthSig,
    /// The combined signature.
    pub signature: BlsSignature,
    /// The key it verifies against.
    pub network_public_key: NetworkPublicKey,
    /// The nodes whose shares went into it.
    pub signers: Vec<NodeUrl>,
    /// Nodes that answered unusably before enough answers were in (tolerated).
    pub failures: Vec<NodeFailure>,
}

// What the node must have kept from our SIWE.
struct Expected {
    uri: String,
    address: Option<EthAddress>,
    nonce: String,
    domain: String,
    chain_id: u64,
    expiration: Option<String>,
    statement_start: String,
}

impl Expected {
    fn from_request(request: &SignSessionKeyRequest) -> Result<Self, SignSessionKeyError> {
        let ours = siwe::parse(&request.siwe_message).map_err(|e| SignSessionKeyError::RequestSiwe(e.to_string()))?;
        Ok(Self {
            uri: request.session_key_uri.clone(),
            address: request.pkp_public_key.map(|k| k.address()),
            nonce: ours.nonce.clone(),
            domain: ours.domain.to_string(),
            chain_id: ours.chain_id,
            expiration: ours.expiration_time.as_ref().map(|t| t.to_string()),
            statement_start: ours.statement.clone().unwrap_or_default(),
        })
    }

    fn check(&self, text: &str) -> Result<EthAddress, String> {
        let m = siwe::parse(text).map_err(|e| e.to_string())?;
        let address = EthAddress::from_bytes(m.address);
        let mismatch = |what: &str, got: &dyn fmt::Display, want: &dyn fmt::Display| {
            Err(format!("{what} is {got}, expected {want}"))
        };
        if m.uri.as_str() != self.uri {
            return mismatch("URI", &m.uri, &self.uri);
        }
        if let Some(want) = self.address {
            if address != want {
                return mismatch("address", &address, &want);
            }
        }
        if m.nonce != self.nonce {
            return mismatch("nonce", &m.nonce, &self.nonce);
        }
        if m.domain.as_str() != self.domain {
            return mismatch("domain", &m.domain, &self.domain);
        }
        if m.chain_id != self.chain_id {
            return mismatch("chain ID", &m.chain_id, &self.chain_id);
        }
        let expiration = m.expiration_time.as_ref().map(|t| t.to_string());
        if expiration != self.expiration {
            return mismatch(
                "expiration",
                &expiration.unwrap_or_else(|| "absent".into()),
                &self.expiration.clone().unwrap_or_default(),
            );
        }
        if !m.statement.as_deref().unwrap_or_default().starts_with(&self.statement_start) {
            return Err("statement does not start with ours".into());
        }
        Ok(address)
    }
}

// One answer that passed the per-node checks.
struct Usable {
    node: NodeUrl,
    share: SignatureShare,
    siwe: String,
    address: EthAddress,
    root_key: NetworkPublicKey,
    root_key_hex: String,
}

// Nodes answer with the same SIWE and key text: parse and hash each distinct text once.
#[derive(Default)]
struct Seen {
    siwe: HashMap<String, Result<(EthAddress, String), String>>,
    keys: HashMap<String, Result<NetworkPublicKey, BlsError>>,
}

fn accept(
    node: &NodeUrl,
    r: SignSessionKeyResponse,
    expected: &Expected,
    seen: &mut Seen,
) -> Result<Usable, NodeFailureReason> {
    let share =
        SignatureShare::from_hex(&r.signature_share.proof_of_possession).map_err(NodeFailureReason::BadShare)?;
    let root_key = seen
        .keys
        .entry(r.bls_root_pubkey.clone())
        .or_insert_with(|| NetworkPublicKey::from_hex(&r.bls_root_pubkey))
        .clone()
        .map_err(NodeFailureReason::BadRootKey)?;
    let (address, digest) = seen
        .siwe
        .entry(r.siwe_message.clone())
        .or_insert_with(|| {
            let address = expected.check(&r.siwe_message)?;
            Ok((address, hex::encode(bls::session_digest(&r.siwe_message))))
        })
        .clone()
        .map_err(NodeFailureReason::UnexpectedSiwe)?;
    let data_signed = r.data_signed.trim_start_matches("0x").to_ascii_lowercase();
    if data_signed != digest {
        return Err(NodeFailureReason::DataSignedMismatch { data_signed: r.data_signed, expected: digest });
    }
    Ok(Usable { node: node.clone(), share, siwe: r.siwe_message, address, root_key_hex: root_key.to_hex(), root_key })
}

enum Attempt {
    Done(Box<SignedSessionKey>),
    // More answers might still make it work.
    Wait(SignSessionKeyError),
    Fail(SignSessionKeyError),
}

/// Sends `request` to every node concurrently (each bounded by `options.timeout`) and returns
/// the `LIT_BLS` AuthSig as soon as `options.min_responses` usable answers combine to a network
/// signature that verifies.
///
/// An answer is usable when it parses, its share and key decode, `dataSigned` is the digest of
/// its SIWE, and that SIWE keeps our URI, PKP address, nonce, domain, chain ID, expiration and
/// statement. Of those, the most common SIWE is taken (the SDK's `mostCommonString`); the
/// others are failures. Without a pinned key all of them must report the same network key.
/// Shares that are not shares of the network signature are found and named
/// ([`bls::combine_verified`] with `min_responses` as the threshold); if the rest still
/// reach `min_responses` the AuthSig is made. Otherwise the error names every failed node and
/// why. Answers still outstanding when enough are in are dropped (their requests cancelled).
///
/// Runs on Tokio (the per-node timeouts use its timer): call it inside a runtime with the time
/// driver enabled.
pub async fn sign_session_key_on_nodes<T: NodeTransport + ?Sized>(
    transport: &T,
    nodes: &[NodeUrl],
    request: &SignSessionKeyRequest,
    options: &SignOptions,
) -> Result<SignedSessionKey, SignSessionKeyError> {
    check_nodes(nodes, options.min_responses)?;
    let expected = Expected::from_request(request)?;
    let encoded = EncodedRequest::new(request).map_err(|e| SignSessionKeyError::Encode(e.to_string()))?;
    let mut pending: FuturesUnordered<_> = nodes
        .iter()
        .map(|node| {
            let encoded = &encoded;
            async move {
                let answer = tokio::time::timeout(options.timeout, transport.sign_session_key(node, encoded)).await;
                (node, answer.unwrap_or(Err(TransportError::Timeout(options.timeout))))
            }
        })
        .collect();

    let mut usable: Vec<Usable> = Vec::new();
    let mut failures: Vec<NodeFailure> = Vec::new();
    let mut last = None;
    let mut seen = Seen::default();
    while let Some((node, answer)) = pending.next().await {
        let accepted = answer.map_err(NodeFailureReason::from).and_then(|r| accept(node, r, &expected, &mut seen));
        match accepted {
            Ok(u) => match usable.iter().find(|o| o.share.identifier() == u.share.identifier()) {
                Some(first) => failures.push(NodeFailure {
                    node: node.clone(),
                    reason: NodeFailureReason::DuplicateShare {
                        identifier: u.share.identifier(),
                        first: first.node.clone(),
                    },
                }),
                None => usable.push(u),
            },
            Err(reason) => failures.push(NodeFailure { node: node.clone(), reason }),
        }
        if usable.len() < options.min_responses {
            continue;
        }
        match attempt(&usable, &failures, nodes, options) {
            Attempt::Done(signed) => return Ok(*signed),
            Attempt::Fail(e) => return Err(e),
            Attempt::Wait(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| SignSessionKeyError::NotEnoughResponses {
        needed: options.min_responses,
        usable: usable.len(),
        nodes: nodes.len(),
        failures: in_node_order(failures, nodes),
    }))
}

fn check_nodes(nodes: &[NodeUrl], min_responses: usize) -> Result<(), SignSessionKeyError> {
    if nodes.is_empty() {
        return Err(SignSessionKeyError::NoNodes);
    }
    for (i, n) in nodes.iter().enumerate() {
        if nodes[..i].contains(n) {
            return Err(SignSessionKeyError::DuplicateNode(n.clone()));
        }
    }
    if min_responses == 0 || min_responses > nodes.len() {
        return Err(SignSessionKeyError::InvalidMinResponses { min_responses, nodes: nodes.len() });
    }
    Ok(())
}

fn in_node_order(mut failures: Vec<NodeFailure>, nodes: &[NodeUrl]) -> NodeFailures {
    failures.sort_by_key(|f| nodes.iter().position(|n| *n == f.node));
    NodeFailures(failures)
}

fn attempt(usable: &[Usable], failures: &[NodeFailure], nodes: &[NodeUrl], options: &SignOptions) -> Attempt {
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
                failures: in_node_order(failures, nodes).0,
            }))
        }
        Err(error) => Attempt::Wait(SignSessionKeyError::Combine { error, failures: in_node_order(failures, nodes) }),
    }
}

fn not_enough(needed: usize, usable: usize, nodes: &[NodeUrl], failures: Vec<NodeFailure>) -> SignSessionKeyError {
    SignSessionKeyError::NotEnoughResponses {
        needed,
        usable,
        nodes: nodes.len(),
        failures: in_node_order(failures, nodes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_list_and_threshold_are_checked() {
        let a: NodeUrl = "http://127.0.0.1:1".parse().unwrap();
        assert!(matches!(check_nodes(&[], 1), Err(SignSessionKeyError::NoNodes)));
        assert!(matches!(check_nodes(&[a.clone(), a.clone()], 1), Err(SignSessionKeyError::DuplicateNode(_))));
        assert!(matches!(
            check_nodes(std::slice::from_ref(&a), 0),
            Err(SignSessionKeyError::InvalidMinResponses { .. })
        ));
        assert!(matches!(
            check_nodes(std::slice::from_ref(&a), 2),
            Err(SignSessionKeyError::InvalidMinResponses { .. })
        ));
        assert!(check_nodes(&[a], 1).is_ok());
    }
}
