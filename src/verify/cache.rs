//! A bounded, thread-safe cache of capability checks keyed by sha256 of the AuthSig's exact
//! bytes (and of the network keys a BLS signature is checked with), so an AuthSig repeated
//! across nodes and requests is recovered or pairing-checked once.
//!
//! Only clock-independent facts are cached ([`CheckedCapability`]); the clock is applied on every
//! use. An entry whose SIWE has expired is dropped on lookup, so a cached "valid" is only ever
//! used while now ≤ its expiration. Eviction is first-in first-out.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::{Digest, Sha256};

use super::capability::CheckedCapability;
use crate::bls::NetworkPublicKey;
use crate::protocol::JsonAuthSig;
use crate::Timestamp;

/// The default number of cached capabilities.
pub const DEFAULT_CACHE_CAPACITY: usize = 4096;

type Key = [u8; 32];

/// Capability AuthSig → its [`CheckedCapability`], bounded.
#[derive(Debug)]
pub struct CapabilityCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<Key, Arc<CheckedCapability>>,
    order: VecDeque<Key>,
}

/// sha256 over the length-prefixed fields the check depends on, then the network keys.
fn key(cap: &JsonAuthSig<&str>, network_keys: &[NetworkPublicKey]) -> Key {
    let mut h = Sha256::new();
    for part in [cap.derived_via, cap.algo.unwrap_or("\u{0}none"), cap.sig, cap.signed_message] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.update((network_keys.len() as u64).to_le_bytes());
    for k in network_keys {
        h.update(k.to_bytes());
    }
    h.finalize().into()
}

impl CapabilityCache {
    /// A cache holding at most `capacity` entries (0 disables caching).
    pub fn new(capacity: usize) -> Self {
        Self { capacity, inner: Mutex::new(Inner::default()) }
    }

    // A panic while holding the lock leaves the map consistent, so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached check of `cap` with `network_keys` (see [`CheckedCapability::check`]),
    /// computing (outside the lock) and storing it on a miss.
    pub fn get_or_check<S: AsRef<str>>(
        &self,
        cap: &JsonAuthSig<S>,
        now: Timestamp,
        network_keys: &[NetworkPublicKey],
    ) -> Arc<CheckedCapability> {
        let cap = cap.view();
        if self.capacity == 0 {
            return Arc::new(CheckedCapability::check(&cap, network_keys));
        }
        let k = key(&cap, network_keys);
        let now = now.as_datetime();
        {
            let mut inner = self.lock();
            if let Some(hit) = inner.map.get(&k) {
                if hit.expiration().map_or(true, |exp| now <= exp) {
                    return Arc::clone(hit);
                }
                inner.map.remove(&k);
            }
        }
        let checked = Arc::new(CheckedCapability::check(&cap, network_keys));
        // Already expired: it can only fail, and must not be served later as valid.
        if checked.expiration().is_some_and(|exp| now > exp) {
            return checked;
        }
        let mut inner = self.lock();
        while inner.map.len() >= self.capacity {
            match inner.order.pop_front() {
                Some(old) => {
                    inner.map.remove(&old);
                }
                None => inner.map.clear(),
            }
        }
        if inner.map.insert(k, Arc::clone(&checked)).is_none() {
            inner.order.push_back(k);
        }
        // Keys dropped on expiry linger in `order`; compact now and then.
        if inner.order.len() > 2 * self.capacity {
            let Inner { map, order } = &mut *inner;
            order.retain(|k| map.contains_key(k));
        }
        checked
    }

    /// The number of cached capabilities.
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.map.clear();
        inner.order.clear();
    }
}

/// Decoded session public keys and whether each is torsion-free, so a key shared by many
/// session signatures is decompressed and checked once; bounded, cleared when full.
#[derive(Debug)]
pub(crate) struct KeyCache {
    capacity: usize,
    map: Mutex<HashMap<Key, (ed25519_dalek::VerifyingKey, bool)>>,
}

impl KeyCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { capacity, map: Mutex::new(HashMap::new()) }
    }

    /// The decoded key in `address` (as [`super::ed25519::decode_key`]) and whether it is
    /// torsion-free.
    pub(crate) fn decode(
        &self,
        address: &str,
    ) -> Result<(ed25519_dalek::VerifyingKey, bool), super::error::VerifyError> {
        if let Some(k) = super::node::hex::hex_to_array::<32>(address) {
            if let Some(hit) = self.map.lock().unwrap_or_else(|e| e.into_inner()).get(&k) {
                return Ok(*hit);
            }
        }
        let key = super::ed25519::decode_key(address)?;
        // One scalar multiplication, paid once per key.
        let torsion_free = key.to_edwards().is_torsion_free();
        if self.capacity > 0 {
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            if map.len() >= self.capacity {
                map.clear();
            }
            map.insert(key.to_bytes(), (key, torsion_free));
        }
        Ok((key, torsion_free))
    }
}
