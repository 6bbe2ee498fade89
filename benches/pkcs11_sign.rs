//! Signing 30 messages of ~1,250 bytes (one Lit session-signature set) on a throwaway token of
//! each module (SoftHSM2, Kryoptic): `Pkcs11KeyStore::sign_many` against a raw cryptoki `C_Sign`
//! loop on one session with the same key and messages. Prints medians; asserts nothing about
//! time.
//!
//! `cargo bench --bench pkcs11_sign` (needs softhsm2, and Kryoptic from scripts/kryoptic.sh for
//! its table; `REPS=n` changes the repetitions, `POOL=n` the store's pool size and so its number
//! of signing threads, `ONLY=softhsm2|kryoptic` runs one module). Besides the medians it prints
//! the CPU time each path took, all threads together (Linux), which shows what a path costs
//! when the cores are busy with other work.

mod support;
#[path = "../hsm-tests/common/tokens/mod.rs"]
mod tokens;

use std::time::{Duration, Instant};

use lit_session_signer::internal::pkcs11::store_token;
use lit_session_signer::keystore::{Pkcs11KeyStore, SessionKeyStore};
use lit_session_signer::pkcs11::{PinSource, Pkcs11Uri, TokenConfig};

const MESSAGES: usize = 30;
const LEN: usize = 1_250;

use support::{median, RawSigner};

fn main() {
    let reps: usize = std::env::var("REPS").ok().and_then(|r| r.parse().ok()).unwrap_or(25);
    // Every module's configuration first: each is read at that module's first C_Initialize.
    let made: Vec<_> = tokens::Module::ALL
        .into_iter()
        .filter_map(|m| match tokens::ThrowawayTokens::create(m, &["lit-bench"]) {
            Ok(h) => Some(h),
            Err(why) => {
                eprintln!("SKIPPED pkcs11_sign bench on {m}: {why}");
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
            bench(hsm, reps);
        }
    }
}

fn bench(hsm: &tokens::ThrowawayTokens, reps: usize) {
    let token = hsm.main();
    let uri = Pkcs11Uri::for_token(&hsm.library, &token.label, PinSource::File(token.pin_file.clone()));
    let mut config = TokenConfig::from_uri(&uri).expect("config");
    config.pool_size = std::env::var("POOL").ok().and_then(|p| p.parse().ok());
    let store = Pkcs11KeyStore::open_with(config).expect("open store");
    let id = store.generate("bench-key").expect("generate");
    let vk = store.public_key(&id).expect("public key");

    let messages: Vec<Vec<u8>> = (0..MESSAGES)
        .map(|i| {
            let mut m = format!("{{\"node\":{i},\"payload\":\"").into_bytes();
            m.resize(LEN - 2, b'x');
            m.extend_from_slice(b"\"}");
            m
        })
        .collect();
    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();

    // Raw loop: one session of the same context, same key, no local verification.
    let raw_signer = RawSigner::new(&store, &id);

    // Warm-up (caches, page faults).
    store.sign_many(&id, &refs).expect("warm-up");
    for m in &refs {
        raw_signer.sign(m);
    }

    let mut cpu = [0u64; 3];
    let mut store_many = Vec::new();
    let mut store_seq = Vec::new();
    let mut raw = Vec::new();
    for _ in 0..reps {
        let c = cpu_ns();
        let t = Instant::now();
        let sigs = store.sign_many(&id, &refs).expect("sign_many");
        store_many.push(t.elapsed());
        cpu[0] += cpu_ns() - c;
        assert_eq!(sigs.len(), MESSAGES);

        let c = cpu_ns();
        let t = Instant::now();
        for m in &refs {
            store.sign(&id, m).expect("sign");
        }
        store_seq.push(t.elapsed());
        cpu[1] += cpu_ns() - c;

        let c = cpu_ns();
        let t = Instant::now();
        let raw_sigs: Vec<Vec<u8>> = refs.iter().map(|m| raw_signer.sign(m)).collect();
        raw.push(t.elapsed());
        cpu[2] += cpu_ns() - c;
        assert_eq!(raw_sigs[0], sigs[0].to_bytes().to_vec(), "same key, same message, same signature");
    }
    for (m, s) in refs.iter().zip(store.sign_many(&id, &refs).unwrap()) {
        vk.verify_strict(m, &s).expect("valid");
    }
    drop(raw_signer);

    let a = median(store_many);
    let seq = median(store_seq);
    let b = median(raw);
    println!();
    println!(
        "{} ed25519, {MESSAGES} messages x {LEN} B, median of {reps} runs, pool of {} sessions",
        hsm.module,
        store_token(&store).pool_capacity()
    );
    println!("| path | per set of {MESSAGES} | per signature | vs raw |");
    println!("|---|---:|---:|---:|");
    let row = |name: &str, d: Duration| {
        println!(
            "| {name} | {:.2} ms | {:.1} µs | {:.2}x |",
            d.as_secs_f64() * 1e3,
            d.as_secs_f64() * 1e6 / MESSAGES as f64,
            d.as_secs_f64() / b.as_secs_f64()
        );
    };
    row("(a) Pkcs11KeyStore::sign_many (pool threads + batch check)", a);
    row("    Pkcs11KeyStore::sign, one by one (+ verify_strict)", seq);
    row("(b) raw cryptoki C_Sign loop, one session", b);
    println!("ratio (a)/(b) = {:.2}", a.as_secs_f64() / b.as_secs_f64());
    println!(
        "CPU per set (all threads): (a) {:.2} ms, one by one {:.2} ms, (b) {:.2} ms; (a)/(b) = {:.2}",
        cpu[0] as f64 / reps as f64 / 1e6,
        cpu[1] as f64 / reps as f64 / 1e6,
        cpu[2] as f64 / reps as f64 / 1e6,
        cpu[0] as f64 / cpu[2] as f64
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
