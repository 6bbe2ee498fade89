//! The per-node checks: what a node must have kept from our SIWE ([`Expected`]) and whether
//! one answer is usable ([`accept`]).

use std::collections::HashMap;
use std::fmt;

use super::failure::{NodeFailureReason, SignSessionKeyError};
use crate::bls::{self, BlsError, NetworkPublicKey, SignatureShare};
use crate::eth::EthAddress;
use crate::protocol::sign_session_key::{SignSessionKeyRequest, SignSessionKeyResponse};
use crate::protocol::NodeUrl;
use crate::siwe;

// What the node must have kept from our SIWE.
pub(super) struct Expected {
    uri: String,
    address: Option<EthAddress>,
    nonce: String,
    domain: String,
    chain_id: u64,
    expiration: Option<String>,
    statement_start: String,
}

impl Expected {
    pub(super) fn from_request(request: &SignSessionKeyRequest) -> Result<Self, SignSessionKeyError> {
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
pub(super) struct Usable {
    pub(super) node: NodeUrl,
    pub(super) share: SignatureShare,
    pub(super) siwe: String,
    pub(super) address: EthAddress,
    pub(super) root_key: NetworkPublicKey,
    pub(super) root_key_hex: String,
}

// Nodes answer with the same SIWE and key text: parse and hash each distinct text once.
#[derive(Default)]
pub(super) struct Seen {
    siwe: HashMap<String, Result<(EthAddress, String), String>>,
    keys: HashMap<String, Result<NetworkPublicKey, BlsError>>,
}

pub(super) fn accept(
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
