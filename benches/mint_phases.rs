//! Where the time of one v7 session-sigs mint goes on each PKCS#11 module (SoftHSM2, Kryoptic),
//! for N = 10 and 30 nodes: the whole mint against the `C_Sign` floor of the speed report, and
//! its phases timed alone (the AuthSig, the per-node messages, `sign_many` with the store's
//! signing threads and with none, the local batch verification, one `C_Sign`). Prints medians
//! and the CPU time of the mint and the floor (all threads); asserts nothing about time.
//!
//! `cargo bench --bench mint_phases` (needs softhsm2, and Kryoptic from scripts/kryoptic.sh —
//! `LIT_KRYOPTIC_MODULE=$(bash scripts/kryoptic.sh)` — for its table; `REPS=n` repetitions,
//! `ONLY=softhsm2|kryoptic` one module, `NODES=10,30` the node counts).

mod support;
#[path = "../hsm-tests/common/tokens/mod.rs"]
mod tokens;

use std::time::{Duration, Instant};

use lit_session_signer::ed25519::{verify_strict_all, StrictKey};
use lit_session_signer::internal::pkcs11::store_token;
use lit_session_signer::keystore::{Pkcs11KeyStore, SessionKeyStore};
use lit_session_signer::pkcs11::{PinSource, Pkcs11Uri, TokenConfig};
use lit_session_signer::session_sigs::{NodeUrl, SessionSigsRequest};
use lit_session_signer::wallet::MemoryWallet;
use lit_session_signer::{AuthSig, Timestamp};
use support::{median, RawSigner};

fn main() {
    let reps: usize = std::env::var("REPS").ok().and_then(|r| r.parse().ok()).unwrap_or(25);
    let nodes: Vec<usize> = std::env::var("NODES")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10, 30]);
    let made: Vec<_> = tokens::Module::ALL
        .into_iter()
        .filter_map(|m| match tokens::ThrowawayTokens::create(m, &["lit-phases"]) {
            Ok(h) => Some(h),
            Err(why) => {
                eprintln!("SKIPPED mint_phases on {m}: {why}");
                None
            }
        })
        .collect();
    for hsm in &made {
        hsm.activate();
    }
    let only = std::env::var("ONLY").ok();
    for hsm in &made {
        if only.as_deref().map_or(true, |o| hsm.module.to_string().eq_ignore_ascii_case(o)) {
            for &n in &nodes {
                bench(hsm, n, reps);
            }
        }
    }
}

fn bench(hsm: &tokens::ThrowawayTokens, n: usize, reps: usize) {
    let token = hsm.main();
    let uri = Pkcs11Uri::for_token(&hsm.library, &token.label, PinSource::File(token.pin_file.clone()));
    let store = Pkcs11KeyStore::open(&uri).expect("open store");
    let id = store.generate("phases").expect("generate");
    // The same key through a store with one pooled session: no signing threads besides the caller.
    let mut one = TokenConfig::from_uri(&uri).expect("config");
    one.pool_size = Some(1);
    let serial = Pkcs11KeyStore::open_with(one).expect("open the one-session store");
    let raw = RawSigner::new(&store, &id);
    let wallet = MemoryWallet::from_bytes(&[0x33; 32]).unwrap();
    let now: Timestamp = "2026-01-01T00:00:00.000Z".parse().unwrap();
    let urls: Vec<NodeUrl> =
        (0..n).map(|i| format!("https://10.0.{}.{}:443", i / 256, i % 256).parse().unwrap()).collect();
    let req = SessionSigsRequest::new(
        urls,
        vec!["lit-pkp://*=pkp-signing".parse().unwrap(), "lit-litaction://*=lit-action-execution".parse().unwrap()],
        &format!("0x{}", "3a".repeat(32)),
    )
    .with_now(now);
    let pk = store.public_key(&id).unwrap();
    let strict = StrictKey::new(pk);
    let session_nodes = req.session_nodes().unwrap();
    let auth = AuthSig::sign(&wallet, &req.session_siwe(&pk, &wallet)).unwrap();
    let messages: Vec<String> = req.template(&auth).prepare(pk, &session_nodes).messages().to_vec();
    let refs: Vec<&[u8]> = messages.iter().map(|m| m.as_bytes()).collect();
    let sigs = store.sign_many(&id, &refs).unwrap();

    // Warm-up of every path.
    req.sign(&store, &id, &wallet).unwrap();
    serial.sign_many(&id, &refs).unwrap();
    refs.iter().for_each(|m| drop(raw.sign(m)));

    let names = [
        "whole mint (req.sign)",
        "C_Sign floor (N × raw C_Sign, one session)",
        "  AuthSig: public key + SIWE/ReCap + wallet signature",
        "  messages: template + N per-node messages",
        "  sign_many, pool (signing threads + batch check)",
        "  sign_many, one session (caller only + batch check)",
        "  batch verification of N signatures alone",
        "  one raw C_Sign (× N)",
    ];
    let mut t: Vec<Vec<Duration>> = vec![Vec::with_capacity(reps); names.len()];
    let (mut cpu_mint, mut cpu_floor) = (0u64, 0u64);
    for _ in 0..reps {
        let time = |f: &mut dyn FnMut()| {
            let s = Instant::now();
            f();
            s.elapsed()
        };
        let c = cpu_ns();
        t[0].push(time(&mut || drop(std::hint::black_box(req.sign(&store, &id, &wallet).unwrap()))));
        cpu_mint += cpu_ns() - c;
        let c = cpu_ns();
        t[1].push(time(&mut || refs.iter().for_each(|m| drop(std::hint::black_box(raw.sign(m))))));
        cpu_floor += cpu_ns() - c;
        t[2].push(time(&mut || {
            let pk = store.public_key(&id).unwrap();
            std::hint::black_box(AuthSig::sign(&wallet, &req.session_siwe(&pk, &wallet)).unwrap());
        }));
        t[3].push(time(&mut || {
            let nodes = req.session_nodes().unwrap();
            std::hint::black_box(req.template(&auth).prepare(pk, &nodes));
        }));
        t[4].push(time(&mut || drop(std::hint::black_box(store.sign_many(&id, &refs).unwrap()))));
        t[5].push(time(&mut || drop(std::hint::black_box(serial.sign_many(&id, &refs).unwrap()))));
        t[6].push(time(&mut || assert!(verify_strict_all(&strict, &refs, &sigs).is_ok())));
        let one = time(&mut || drop(std::hint::black_box(raw.sign(refs[0]))));
        t[7].push(one * n as u32);
    }
    let floor = median(t[1].clone());
    println!();
    println!(
        "{} N = {n}: median of {reps}, pool of {} sessions, {} cores",
        hsm.module,
        store_token(&store).pool_capacity(),
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    println!("| phase | time | / floor |");
    println!("|---|---:|---:|");
    for (name, v) in names.iter().zip(t) {
        let d = median(v);
        println!("| {name} | {:.3} ms | {:.2}× |", d.as_secs_f64() * 1e3, d.as_secs_f64() / floor.as_secs_f64());
    }
    println!(
        "CPU per run (all threads): mint {:.3} ms, floor {:.3} ms",
        cpu_mint as f64 / reps as f64 / 1e6,
        cpu_floor as f64 / reps as f64 / 1e6
    );
}

/// CPU time of every thread of this process so far, in ns (Linux schedstat).
fn cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}
