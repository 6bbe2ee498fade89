//! Sending one `sign_session_key` request to every node at once and turning enough answers into
//! the `LIT_BLS` AuthSig: per-node timeouts, a minimum number of usable answers, the most
//! common SIWE, one agreed network key, share combination with bad-share attribution.
//!
//! This file is the driver and its options; [`failure`] says why nodes or the whole round
//! failed, [`expected`] checks one answer, [`quorum`] combines the usable ones.

mod expected;
mod failure;
mod quorum;

pub use failure::{NodeFailure, NodeFailureReason, NodeFailures, SignSessionKeyError};

use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};

use super::transport::{NodeTransport, TransportError};
use crate::auth_sig::AuthSig;
use crate::bls::{BlsSignature, NetworkPublicKey};
use crate::protocol::sign_session_key::{EncodedRequest, SignSessionKeyRequest};
use crate::protocol::{NodeList, NodeUrl};
use expected::{accept, Expected, Seen, Usable};
use quorum::{attempt, not_enough, Attempt};

/// The SDK's default per-request timeout (`connectTimeout`, 20 s).
pub const DEFAULT_NODE_TIMEOUT: Duration = Duration::from_secs(20);

/// The quorum a `sign_session_key` round needs: how many answers are enough, how long to wait
/// for each, and which network key to expect.
///
/// ```
/// use std::time::Duration;
/// use lit_session_signer::pkp::QuorumOptions;
/// let options = QuorumOptions::new(7).with_timeout(Duration::from_secs(5));
/// assert_eq!(options.min_responses, 7);
/// ```
#[derive(Clone, Debug)]
pub struct QuorumOptions {
    /// Usable answers needed, and the threshold used to combine shares (the network's
    /// `minNodeCount`). At least 1, at most the number of nodes.
    pub min_responses: usize,
    /// How long each node may take.
    pub timeout: Duration,
    /// The network key the combined signature must verify against. `None`: the key the nodes
    /// report (`blsRootPubkey`), which must then be the same for all of them.
    pub network_public_key: Option<NetworkPublicKey>,
}

impl QuorumOptions {
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

/// The former name of [`QuorumOptions`], kept so existing callers build.
#[doc(hidden)]
pub type SignOptions = QuorumOptions;

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

/// Sends `request` to every node concurrently (each bounded by `options.timeout`) and returns
/// the `LIT_BLS` AuthSig as soon as `options.min_responses` usable answers combine to a network
/// signature that verifies.
///
/// An answer is usable when it parses, its share and key decode, `dataSigned` is the digest of
/// its SIWE, and that SIWE keeps our URI, PKP address, nonce, domain, chain ID, expiration and
/// statement. Of those, the most common SIWE is taken (the SDK's `mostCommonString`); the
/// others are failures. Without a pinned key all of them must report the same network key.
/// Shares that are not shares of the network signature are found and named
/// ([`crate::bls::combine_verified`] with `min_responses` as the threshold); if the rest still
/// reach `min_responses` the AuthSig is made. Otherwise the error names every failed node and
/// why. Answers still outstanding when enough are in are dropped (their requests cancelled).
///
/// Runs on Tokio (the per-node timeouts use its timer): call it inside a runtime with the time
/// driver enabled.
pub async fn sign_session_key_on_nodes<T: NodeTransport + ?Sized>(
    transport: &T,
    nodes: &NodeList,
    request: &SignSessionKeyRequest,
    options: &QuorumOptions,
) -> Result<SignedSessionKey, SignSessionKeyError> {
    if options.min_responses == 0 || options.min_responses > nodes.len() {
        return Err(SignSessionKeyError::InvalidMinResponses {
            min_responses: options.min_responses,
            nodes: nodes.len(),
        });
    }
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
    Err(last.unwrap_or_else(|| not_enough(options.min_responses, usable.len(), nodes, failures)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_is_checked() {
        let nodes = NodeList::new(vec!["http://127.0.0.1:1".parse().unwrap()]).unwrap();
        let request = SignSessionKeyRequest {
            session_key_uri: "lit:session:ab".into(),
            auth_methods: vec![],
            pkp_public_key: None,
            siwe_message: "m".into(),
            lit_action: None,
            epoch: 1,
        };
        struct Unused;
        #[async_trait::async_trait]
        impl NodeTransport for Unused {
            async fn sign_session_key(
                &self,
                _: &NodeUrl,
                _: &EncodedRequest,
            ) -> Result<crate::protocol::sign_session_key::SignSessionKeyResponse, TransportError> {
                unreachable!("the threshold is checked before any node is asked")
            }
        }
        let run = |min| {
            let nodes = nodes.clone();
            let request = request.clone();
            async move { sign_session_key_on_nodes(&Unused, &nodes, &request, &QuorumOptions::new(min)).await }
        };
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        for min in [0, 2] {
            assert!(matches!(rt.block_on(run(min)), Err(SignSessionKeyError::InvalidMinResponses { .. })));
        }
    }
}
