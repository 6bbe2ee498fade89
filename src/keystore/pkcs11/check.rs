//! The local check of the token's signatures before any is returned: what arrives is verified
//! as one batch while the token signs, by the signing caller between its own signatures.

use std::sync::mpsc::Receiver;
use std::sync::PoisonError;

use ed25519_dalek::Signature;

use super::Shared;
use crate::ed25519::{verify_strict_all, StrictKey};
use crate::keystore::KeyId;
use crate::pkcs11::Pkcs11Error;

/// How many arrived signatures the signing caller lets gather before it checks them as a batch
/// (the batch's cost per signature levels off there; the rest are checked at the end).
pub(super) const CHECK_BATCH: usize = 8;

/// What a signing worker sends back: a message's signature from the token, or the failure
/// that ended its part.
pub(super) enum Made {
    Signature(usize, Vec<u8>),
    Failure(Pkcs11Error),
}

/// The check of one call's token signatures, made while the token signs: what has arrived
/// since the last check is verified as one batch ([`verify_strict_all`]). A batch that fails is
/// checked one by one to name the bad signature, after the public key has been read again once.
pub(super) struct Check<'a> {
    shared: &'a Shared,
    id: &'a KeyId,
    messages: &'a [&'a [u8]],
    key: StrictKey,
    /// Whether the public key was read again from the token already.
    reread: bool,
    sigs: Vec<Option<Signature>>,
    /// Arrived, not yet verified.
    pending: Vec<(usize, Signature)>,
    /// How many signatures have arrived.
    pub(super) received: usize,
}

impl<'a> Check<'a> {
    pub(super) fn new(shared: &'a Shared, id: &'a KeyId, messages: &'a [&'a [u8]]) -> Result<Self, Pkcs11Error> {
        let key = shared.strict_key(id)?;
        let sigs = vec![None; messages.len()];
        Ok(Self { shared, id, messages, key, reread: false, sigs, pending: Vec::new(), received: 0 })
    }

    /// Which of how many messages `index` is, for the error (`None` for a single one).
    fn place(&self, index: usize) -> Option<(usize, usize)> {
        (self.messages.len() > 1).then_some((index, self.messages.len()))
    }

    /// Takes the token's signature of message `index`.
    pub(super) fn arrived(&mut self, index: usize, raw: &[u8]) -> Result<(), Pkcs11Error> {
        let sig =
            Signature::from_slice(raw).map_err(|_| self.shared.bad_signature(self.id.as_bytes(), self.place(index)))?;
        self.pending.push((index, sig));
        self.received += 1;
        Ok(())
    }

    /// The caller's step after each of its own signatures: takes it and what the workers sent
    /// meanwhile, and checks them once they make a batch worth checking, without calling the
    /// token. False when a batch fails (for [`Self::verify_pending`] to sort out).
    pub(super) fn between_signatures(
        &mut self,
        index: usize,
        raw: &[u8],
        made: Option<&Receiver<Made>>,
    ) -> Result<bool, Pkcs11Error> {
        self.arrived(index, raw)?;
        for m in made.into_iter().flat_map(Receiver::try_iter) {
            self.take(m)?;
        }
        Ok(self.pending.len() < CHECK_BATCH || self.verify_locally())
    }

    /// Takes what a worker sent.
    pub(super) fn take(&mut self, made: Made) -> Result<(), Pkcs11Error> {
        match made {
            Made::Signature(index, raw) => self.arrived(index, &raw),
            Made::Failure(e) => Err(e),
        }
    }

    /// Verifies what arrived since the last call as one batch, without calling the token:
    /// false (and nothing taken) if the batch fails, for [`Self::verify_pending`] to sort out.
    fn verify_locally(&mut self) -> bool {
        if self.pending.is_empty() {
            return true;
        }
        let messages: Vec<&[u8]> = self.pending.iter().map(|(i, _)| self.messages[*i]).collect();
        let sigs: Vec<Signature> = self.pending.iter().map(|(_, s)| *s).collect();
        if verify_strict_all(&self.key, &messages, &sigs).is_err() {
            return false;
        }
        for (index, sig) in self.pending.drain(..) {
            self.sigs[index] = Some(sig);
        }
        true
    }

    /// Verifies what arrived since the last call as one batch.
    pub(super) fn verify_pending(&mut self) -> Result<(), Pkcs11Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let messages: Vec<&[u8]> = self.pending.iter().map(|(i, _)| self.messages[*i]).collect();
        let sigs: Vec<Signature> = self.pending.iter().map(|(_, s)| *s).collect();
        if let Err(failed) = verify_strict_all(&self.key, &messages, &sigs) {
            let first = failed.first().map(|f| self.pending[*f].0);
            self.fresh_key_verifies_all()
                .map_err(|_| self.shared.bad_signature(self.id.as_bytes(), first.and_then(|i| self.place(i))))?;
        }
        for (index, sig) in self.pending.drain(..) {
            self.sigs[index] = Some(sig);
        }
        Ok(())
    }

    /// The cached public key may be stale (key deleted and re-created with the same id
    /// elsewhere): read it again, once, and keep it if every signature so far verifies under it.
    fn fresh_key_verifies_all(&mut self) -> Result<(), ()> {
        if self.reread {
            return Err(());
        }
        self.reread = true;
        let idb = self.id.as_bytes();
        self.shared.public_keys.write().unwrap_or_else(PoisonError::into_inner).remove(idb);
        let fresh = self.shared.strict_key(self.id).map_err(|_| ())?;
        let so_far = self.sigs.iter().enumerate().filter_map(|(i, s)| s.map(|s| (i, s)));
        let all: Vec<(usize, Signature)> = so_far.chain(self.pending.iter().copied()).collect();
        let messages: Vec<&[u8]> = all.iter().map(|(i, _)| self.messages[*i]).collect();
        let sigs: Vec<Signature> = all.iter().map(|(_, s)| *s).collect();
        if fresh == self.key || verify_strict_all(&fresh, &messages, &sigs).is_err() {
            return Err(());
        }
        self.key = fresh;
        Ok(())
    }

    /// Every message's verified signature, in order; `None` if one never arrived.
    pub(super) fn finish(self) -> Option<Vec<Signature>> {
        self.sigs.into_iter().collect()
    }
}
