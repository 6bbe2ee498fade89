//! Verifying many session signatures at once with ed25519-dalek's `verify_batch`, falling back
//! to `verify_strict` one by one to find the failures.
//!
//! `verify_batch` is not `verify_strict`: it decompresses R (so it would accept a non-canonical
//! encoding), does not refuse small-order R or A, and checks one random linear combination of
//! the cofactorless equations. Before batching, each signature therefore goes through the same
//! byte checks `verify_strict` makes ([`super::ed25519::precheck`]: s < ℓ, R's y < p, R not one
//! of the 8 small-order points) and its key must not be weak — failures are rejected with the
//! same errors as the single path. A key with a small-order component (not torsion-free; checked
//! once per key in the verifier's key cache) is not batched but verified with `verify_strict`
//! alone, because torsion in A could cancel in the random combination.
//!
//! Residual difference, documented rather than paid for: an R with a small-order component
//! (a prime-order point plus a nonzero small-order point) always fails `verify_strict`
//! but passes the batch when the batch's 128-bit coefficient for it happens to kill the torsion
//! (probability ≤ 1/2). Only the holder of the session key can make such a signature (R is
//! hashed into the challenge, so it cannot be grafted onto someone else's signature), so it
//! authenticates exactly what a strict signature from that key would. Ruling it out would cost a
//! scalar multiplication per signature (~50 µs here), more than `verify_strict` itself.

use ed25519_dalek::{Signature, VerifyingKey};

use super::ed25519;
use super::error::VerifyError;
use super::{Verified, Verifier};
use crate::protocol::NodeUrl;
use crate::resources::ResourceAbilityRequest;
use crate::session_sigs::SessionSig;
use crate::Timestamp;

/// One session signature to verify, for one node and one request.
#[derive(Clone, Copy, Debug)]
pub struct BatchItem<'a> {
    /// The session signature.
    pub session_sig: &'a SessionSig,
    /// The verifying node.
    pub node: &'a NodeUrl,
    /// The requested resource and ability.
    pub request: &'a ResourceAbilityRequest,
}

enum Sig {
    Failed(VerifyError),
    Batch(VerifyingKey, Signature),
    Strict(VerifyingKey, Signature),
    Ok,
}

impl Verifier {
    /// Verifies every item, returning one result per item in order. The ed25519 signatures are
    /// checked together with `verify_batch` (see the module docs for why this is as strict as
    /// `verify_strict`); if the batch fails, each is re-checked alone to find the culprits.
    pub fn verify_batch(&self, items: &[BatchItem<'_>], now: Timestamp) -> Vec<Result<Verified, VerifyError>> {
        let mut sigs: Vec<Sig> = items
            .iter()
            .map(|item| {
                let s = item.session_sig;
                let prepared = super::rules::session_sig_type(s).and_then(|()| self.keys.decode(&s.address)).and_then(
                    |(key, torsion_free)| {
                        let sig = ed25519::decode_signature(&s.sig)?;
                        ed25519::precheck(&sig)?;
                        Ok((key, torsion_free, sig))
                    },
                );
                match prepared {
                    Err(e) => Sig::Failed(e),
                    Ok((key, true, sig)) => Sig::Batch(key, sig),
                    Ok((key, false, sig)) => Sig::Strict(key, sig),
                }
            })
            .collect();

        let mut messages = Vec::new();
        let mut signatures = Vec::new();
        let mut keys = Vec::new();
        for (item, sig) in items.iter().zip(&sigs) {
            if let Sig::Batch(key, signature) = sig {
                messages.push(item.session_sig.signed_message.as_bytes());
                signatures.push(*signature);
                keys.push(*key);
            }
        }
        let batch_ok = !keys.is_empty() && ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok();

        for (item, sig) in items.iter().zip(sigs.iter_mut()) {
            let next = match sig {
                Sig::Batch(_, _) if batch_ok => Sig::Ok,
                Sig::Batch(key, signature) | Sig::Strict(key, signature) => {
                    match key.verify_strict(item.session_sig.signed_message.as_bytes(), signature) {
                        Ok(()) => Sig::Ok,
                        Err(_) => Sig::Failed(VerifyError::BadSignature),
                    }
                }
                Sig::Failed(e) => Sig::Failed(e.clone()),
                Sig::Ok => Sig::Ok,
            };
            *sig = next;
        }

        items
            .iter()
            .zip(sigs)
            .map(|(item, sig)| match sig {
                Sig::Failed(e) => Err(e),
                _ => self.verify_after_signature(item.session_sig, item.node, item.request, now),
            })
            .collect()
    }
}
