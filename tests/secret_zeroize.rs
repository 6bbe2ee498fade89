//! In-memory secrets are wiped before their memory goes back to the allocator.
//!
//! How: this test binary's global allocator zero-fills every block it hands out and, while
//! armed, scans every block released (`dealloc`, and `realloc`, which here always moves) for
//! known secrets: the session seeds, the wallet key (raw, as k256's little-endian limbs, and as
//! hex text) and a PIN. A hit means some copy of a secret was freed without being zeroized.
//! Positive controls free a key's memory without running its destructor and must be caught,
//! so the scan cannot pass vacuously.
//!
//! What this proves: every heap copy of those secrets made by the key-file reader, the memory
//! key store (import, sign, delete, drop, including the map's internal moves), the memory
//! wallet and the PIN readers (file and environment) is zeroized before it is freed. What it
//! does not cover: stack copies (moves of key structs, signing temporaries), which no test can
//! check soundly, and memory owned by C libraries (SoftHSM). The scan only reads blocks the program gave back, whose
//! every byte the allocator itself initialised, and never allocates.
//!
//! The drop path itself (`Drop` → `zeroize`) is checked value by value, without an allocator,
//! by `signing_key_drop_zeroizes_the_seed` (keystore/memory.rs) and `drop_zeroizes_the_key`
//! (wallet/memory.rs).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

use common::write_private;
use lit_session_signer::keystore::{KeyId, MemoryKeyStore, SessionKeyStore};
use lit_session_signer::secret_file::{read_key_file, KeyBytes};
use lit_session_signer::session_sigs::SessionSigsRequest;
use lit_session_signer::wallet::{MemoryWallet, WalletSigner};
use zeroize::{ZeroizeOnDrop, Zeroizing};

/// Each needle is 16 bytes: long enough never to occur by chance.
const NEEDLE: usize = 16;

static ARMED: AtomicBool = AtomicBool::new(false);
static HITS: AtomicUsize = AtomicUsize::new(0);
/// 1 + index of the first needle found, and the size of its block.
static FIRST_NEEDLE: AtomicUsize = AtomicUsize::new(0);
static FIRST_BLOCK: AtomicUsize = AtomicUsize::new(0);
static NEEDLES: OnceLock<Vec<(String, [u8; NEEDLE])>> = OnceLock::new();

struct ScanningAllocator;

/// Scans a block about to be released.
///
/// # Safety
/// `ptr` must be a live block of `size` bytes from this allocator.
unsafe fn scan(ptr: *mut u8, size: usize) {
    if !ARMED.load(Ordering::SeqCst) || size < NEEDLE {
        return;
    }
    let Some(needles) = NEEDLES.get() else { return };
    // SAFETY: the caller owns the block; `alloc` zero-filled it, so every byte is initialised.
    let block = unsafe { std::slice::from_raw_parts(ptr, size) };
    for (i, (_, needle)) in needles.iter().enumerate() {
        if block.windows(NEEDLE).any(|w| w == needle) {
            if HITS.fetch_add(1, Ordering::SeqCst) == 0 {
                FIRST_NEEDLE.store(i + 1, Ordering::SeqCst);
                FIRST_BLOCK.store(size, Ordering::SeqCst);
            }
            return;
        }
    }
}

// `realloc` is GlobalAlloc's default: alloc + copy + dealloc, so the old block is scanned too.
unsafe impl GlobalAlloc for ScanningAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` is a live block of `layout.size()` bytes until System.dealloc below.
        unsafe {
            scan(ptr, layout.size());
            System.dealloc(ptr, layout);
        }
    }
}

#[global_allocator]
static ALLOCATOR: ScanningAllocator = ScanningAllocator;

/// Session seeds: 20 distinct, irregular 32-byte values (enough keys to split the store's map
/// nodes, so its internal moves are exercised).
fn seed(i: u8) -> [u8; 32] {
    std::array::from_fn(|j| (j as u8).wrapping_mul(73).wrapping_add(i.wrapping_mul(151)) ^ 0xa5)
}

const WALLET: [u8; 32] = [
    0x1f, 0x8b, 0x2c, 0x47, 0x90, 0xd3, 0x6e, 0x15, 0xa8, 0x33, 0xc9, 0x5d, 0x72, 0xe4, 0x0b, 0x9a, 0x61, 0xfe, 0x24,
    0xb7, 0x58, 0x0d, 0xc2, 0x39, 0x86, 0x4f, 0xea, 0x13, 0x7c, 0xa1, 0x5e, 0x02,
];
const PIN: &str = "hyg1ene-PIN-7319";

fn halves(name: &str, bytes: &[u8]) -> Vec<(String, [u8; NEEDLE])> {
    bytes.chunks(NEEDLE).enumerate().filter_map(|(i, c)| Some((format!("{name}[{i}]"), c.try_into().ok()?))).collect()
}

fn needles() -> Vec<(String, [u8; NEEDLE])> {
    let mut out = Vec::new();
    for i in 0..20 {
        out.extend(halves(&format!("seed {i}"), &seed(i)));
        out.extend(halves(&format!("seed {i} hex"), hex::encode(seed(i)).as_bytes()));
    }
    out.extend(halves("wallet", &WALLET));
    // k256 keeps the scalar as little-endian 64-bit limbs: the bytes reversed.
    let reversed: Vec<u8> = WALLET.iter().rev().copied().collect();
    out.extend(halves("wallet limbs", &reversed));
    out.extend(halves("wallet hex", hex::encode(WALLET).as_bytes()));
    out.extend(halves("PIN", PIN.as_bytes()));
    out
}

fn arm() {
    HITS.store(0, Ordering::SeqCst);
    FIRST_NEEDLE.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
}

fn disarm() -> Option<String> {
    ARMED.store(false, Ordering::SeqCst);
    let hits = HITS.load(Ordering::SeqCst);
    (hits > 0).then(|| {
        let name = FIRST_NEEDLE
            .load(Ordering::SeqCst)
            .checked_sub(1)
            .and_then(|i| NEEDLES.get().and_then(|n| n.get(i)))
            .map_or("?".to_string(), |(name, _)| name.clone());
        format!(
            "{hits} freed block(s) held a secret; first: {name} in a {}-byte block",
            FIRST_BLOCK.load(Ordering::SeqCst)
        )
    })
}

/// Frees a box's memory without running the destructor (what a type without zeroize-on-drop
/// amounts to).
fn free_without_drop<T>(b: Box<T>) {
    let ptr = Box::into_raw(b);
    // SAFETY: `ptr` came from `Box::into_raw` of a `Box<T>`, so it was allocated with
    // `Layout::new::<T>()`; T's destructor is skipped on purpose (a leak, not UB), and T here
    // owns no other memory.
    unsafe { std::alloc::dealloc(ptr.cast(), Layout::new::<T>()) }
}

/// The claims the runtime checks below back up, checked by the compiler.
#[test]
fn secret_holders_zeroize_on_drop() {
    fn zeroize_on_drop<T: ZeroizeOnDrop + ?Sized>() {}
    zeroize_on_drop::<KeyBytes>();
    zeroize_on_drop::<MemoryWallet>();
    zeroize_on_drop::<MemoryKeyStore>();
    zeroize_on_drop::<Zeroizing<[u8; 32]>>();
    // What Pin holds, and the key types inside the memory backends.
    zeroize_on_drop::<Zeroizing<String>>();
    zeroize_on_drop::<ed25519_dalek::SigningKey>();
    zeroize_on_drop::<k256::ecdsa::SigningKey>();
}

#[test]
fn freed_memory_never_holds_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let seed_files: Vec<_> = (0..20u8)
        .map(|i| {
            let path = dir.path().join(format!("seed-{i}"));
            write_private(&path, format!("0x{}\n", hex::encode(seed(i))).as_bytes());
            path
        })
        .collect();
    let wallet_file = dir.path().join("wallet.key");
    write_private(&wallet_file, hex::encode(WALLET).as_bytes());
    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, format!("{PIN}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let nodes = vec!["https://127.0.0.1:7470".parse().unwrap(), "https://127.0.0.1:7471".parse().unwrap()];
    let request = SessionSigsRequest::new(nodes, vec!["lit-pkp://*=pkp-signing".parse().unwrap()], "0x3a9c4f1e8b7d");
    #[cfg(feature = "pkcs11")]
    std::env::set_var("LIT_ZEROIZE_TEST_PIN", PIN);
    NEEDLES.set(needles()).unwrap();

    // Positive controls: keys freed without their destructors are caught.
    arm();
    free_without_drop(Box::new(ed25519_dalek::SigningKey::from_bytes(&seed(3))));
    let caught = disarm();
    assert!(caught.as_deref().is_some_and(|m| m.contains("seed 3[")), "control not caught: {caught:?}");
    arm();
    free_without_drop(Box::new(MemoryWallet::from_bytes(&WALLET).unwrap()));
    let caught = disarm();
    assert!(caught.as_deref().is_some_and(|m| m.contains("wallet limbs")), "control not caught: {caught:?}");
    arm();
    drop(std::fs::read_to_string(&wallet_file).unwrap());
    let caught = disarm();
    assert!(caught.as_deref().is_some_and(|m| m.contains("wallet hex")), "control not caught: {caught:?}");

    arm();
    {
        // The CLI's path: key files → memory store and wallet → session sigs.
        let store = MemoryKeyStore::new();
        let ids: Vec<KeyId> = seed_files
            .iter()
            .map(|path| store.import_seed("s", read_key_file(path).unwrap().into_zeroizing()).unwrap())
            .collect();
        let wallet: Box<dyn WalletSigner> =
            Box::new(MemoryWallet::from_bytes(read_key_file(&wallet_file).unwrap().expose()).unwrap());
        for id in &ids[..5] {
            let sigs = request.sign(&store, id, wallet.as_ref()).unwrap();
            assert_eq!(sigs.len(), 2);
        }
        // Deleting from the middle and the end moves the map's entries.
        for id in ids.iter().step_by(3) {
            store.delete(id).unwrap();
        }
        store.delete(&ids[19]).unwrap();
        assert!(format!("{store:?}").contains("[redacted]"));
        drop(wallet);
        drop(store);
    }
    #[cfg(feature = "pkcs11")]
    {
        use lit_session_signer::pkcs11::{Pin, PinSource};
        let pin = PinSource::File(pin_file.clone()).read().unwrap();
        let from_env = PinSource::Env("LIT_ZEROIZE_TEST_PIN".into()).read().unwrap();
        drop(from_env);
        let copy = pin.clone();
        assert_eq!(format!("{copy:?}"), "Pin([REDACTED])");
        drop(pin);
        drop(copy);
        let mut typed = Zeroizing::new(String::with_capacity(32));
        typed.push_str(PIN);
        typed.push('\n');
        drop(Pin::new(typed).unwrap());
    }
    let leaked = disarm();
    assert_eq!(leaked, None, "a secret was freed without being zeroized");
}
