//! The local check of the token's signatures before any is returned: what arrives is verified
//! as one batch while the token signs, by the signing caller between its own signatures, or,
//! when the caller signs alone, by a worker thread beside it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, PoisonError};

use ed25519_dalek::Signature;

use super::Shared;
use crate::ed25519::{verify_strict_all, StrictKey};
use crate::keystore::KeyId;
use crate::pkcs11::workers::Workers;
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
    pending: Entries,
    /// How many signatures have arrived.
    pub(super) received: usize,
    /// Where batches are checked while the caller signs on, if anywhere.
    beside: Option<&'a Workers>,
    /// Batches handed to `beside`, not yet taken back.
    shipped: Vec<Shipped>,
}

/// Arrived signatures, each with its message's index.
type Entries = Vec<(usize, Signature)>;

/// A batch of arrived signatures handed to a worker thread to check.
struct Shipped {
    entries: Entries,
    /// Set by whichever of the worker and the caller starts on the batch first, so a batch
    /// queued behind other calls' jobs is checked by the caller instead of waited for.
    claimed: Arc<AtomicBool>,
    /// The worker's verdict: true if the batch holds.
    verdict: Receiver<bool>,
}

impl Shipped {
    /// Queues the check of `entries` (signatures of `messages[index]` under `key`) on
    /// `workers`; gives the entries back if no worker thread can take it.
    fn send(workers: &Workers, key: StrictKey, messages: &[&[u8]], entries: Entries) -> Result<Self, Entries> {
        // The job outlives the caller's borrow of the messages: it gets its own copy.
        let owned: Vec<Vec<u8>> = entries.iter().map(|(i, _)| messages[*i].to_vec()).collect();
        let sigs: Vec<Signature> = entries.iter().map(|(_, s)| *s).collect();
        let claimed = Arc::new(AtomicBool::new(false));
        let flag = claimed.clone();
        let job = workers.stream(1, move |verdict| {
            if !flag.swap(true, Ordering::AcqRel) {
                let refs: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
                let _ = verdict.send(verify_strict_all(&key, &refs, &sigs).is_ok());
            }
        });
        match job {
            Ok(verdict) => Ok(Self { entries, claimed, verdict }),
            Err(_) => Err(entries),
        }
    }

    /// The entries, `Ok` if the worker found the batch holds; `Err` if it did not, its worker
    /// is gone, or no worker had started on it (then it is not waited for).
    fn settle(self) -> Result<Entries, Entries> {
        let started = self.claimed.swap(true, Ordering::AcqRel);
        if started && self.verdict.recv() == Ok(true) {
            Ok(self.entries)
        } else {
            Err(self.entries)
        }
    }
}

impl<'a> Check<'a> {
    pub(super) fn new(shared: &'a Shared, id: &'a KeyId, messages: &'a [&'a [u8]]) -> Result<Self, Pkcs11Error> {
        let key = shared.strict_key(id)?;
        let sigs = vec![None; messages.len()];
        Ok(Self {
            shared,
            id,
            messages,
            key,
            reread: false,
            sigs,
            pending: Vec::new(),
            received: 0,
            beside: None,
            shipped: Vec::new(),
        })
    }

    /// Has `workers` check what arrives while the caller, signing alone, goes on signing: the
    /// check then leaves the caller's path, all but the last signature's.
    pub(super) fn check_beside(&mut self, workers: &'a Workers) {
        self.beside = Some(workers);
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
        if let Some(workers) = self.beside {
            // The last signature is checked here: shipping it would only add a wait.
            let left = self.messages.len().saturating_sub(self.received);
            if left > 0 && (self.pending.len() >= CHECK_BATCH || left == 1) {
                self.ship(workers);
            }
            return Ok(true);
        }
        Ok(self.pending.len() < CHECK_BATCH || self.verify_locally())
    }

    /// Hands what arrived so far to a worker to check as one batch.
    fn ship(&mut self, workers: &Workers) {
        let entries = std::mem::take(&mut self.pending);
        match Shipped::send(workers, self.key, self.messages, entries) {
            Ok(shipped) => self.shipped.push(shipped),
            // No worker thread: the caller checks everything itself from now on.
            Err(entries) => {
                self.pending = entries;
                self.beside = None;
            }
        }
    }

    /// Takes the shipped batches back: one that passed is done; one that no worker has started
    /// yet, that failed, or whose worker is gone is left for [`Self::verify_pending`] (which
    /// names a bad signature).
    pub(super) fn settle_shipped(&mut self) {
        for shipped in std::mem::take(&mut self.shipped) {
            match shipped.settle() {
                Ok(passed) => passed.into_iter().for_each(|(index, sig)| self.sigs[index] = Some(sig)),
                Err(unchecked) => self.pending.extend(unchecked),
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};
    use std::sync::{mpsc, Mutex};

    fn signed(n: usize) -> (StrictKey, Vec<Vec<u8>>, Entries) {
        let sk = SigningKey::from_bytes(&[0x24; 32]);
        let messages: Vec<Vec<u8>> = (0..n).map(|i| format!("session message {i}").into_bytes()).collect();
        let entries = messages.iter().enumerate().map(|(i, m)| (i, sk.sign(m))).collect();
        (StrictKey::new(sk.verifying_key()), messages, entries)
    }

    #[test]
    fn a_shipped_batch_passes_only_if_every_signature_holds() {
        let workers = Workers::new(1, "test-check");
        let (key, messages, entries) = signed(5);
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        // Settled once the worker has started on it, so its verdict (not a take-back) decides.
        let checked = |entries: &Entries| {
            let shipped = Shipped::send(&workers, key, &refs, entries.clone()).ok().unwrap();
            while !shipped.claimed.load(Ordering::Acquire) {
                std::thread::yield_now();
            }
            shipped.settle()
        };
        assert_eq!(checked(&entries), Ok(entries.clone()));
        // One signature of another message: the batch comes back whole, for the caller to check.
        let mut bad = entries.clone();
        bad[2].1 = entries[3].1;
        assert_eq!(checked(&bad), Err(bad));
    }

    #[test]
    fn a_batch_no_worker_has_started_is_taken_back_not_waited_for() {
        let workers = Workers::new(1, "test-check");
        // The only worker is busy with another call's job until released.
        let (release, held) = mpsc::channel::<()>();
        let held = Mutex::new(held);
        let busy = workers.stream(1, move |_: &mpsc::Sender<()>| {
            let _ = held.lock().map(|h| h.recv());
        });
        let (key, messages, entries) = signed(3);
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let shipped = Shipped::send(&workers, key, &refs, entries.clone()).ok().unwrap();
        let (settled, outcome) = mpsc::channel();
        std::thread::spawn(move || settled.send(shipped.settle()));
        let outcome = outcome.recv_timeout(std::time::Duration::from_secs(10));
        release.send(()).unwrap();
        drop(busy);
        assert_eq!(outcome, Ok(Err(entries)), "returned at once, for the caller to check");
    }
}
