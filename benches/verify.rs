//! Session-signature verification throughput, on messages from the real minting code.
//!
//! `cargo bench --bench verify` prints two tables: plain `verify_strict`, full verification with
//! a cached capability, uncached, and batch verification for 30 and 64 signatures (the verifier's,
//! ed25519-dalek's, and the key stores' one-key batch); then the BLS
//! work of PKP sessions (share combination for 3 and 10 shares, network-signature verification,
//! bad-share attribution, full verification of the real PKP session sigs in
//! `tests/vectors/session-sigs-wrapped-keys.json`), against the same
//! `verify_strict` baseline.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signature, VerifyingKey};
use lit_session_signer::bls::{
    combine_shares, combine_verified, deal_shares_from_seed, session_digest, NetworkPublicKey, SignatureShare,
};
use lit_session_signer::ed25519::{verify_strict_all, StrictKey};
use lit_session_signer::keystore::MemoryKeyStore;
use lit_session_signer::resources::ResourceAbilityRequest;
use lit_session_signer::session_sigs::{NodeUrl, SessionSig, SessionSigsRequest};
use lit_session_signer::verify::{verify_session_sig, BatchItem, Verifier, VerifyPolicy};
use lit_session_signer::wallet::MemoryWallet;
use lit_session_signer::Timestamp;
use zeroize::Zeroizing;

const NODES: usize = 64;

/// Median over `rounds` of the time per item of `f`, which handles `items` items per call.
fn per_item(items: usize, mut f: impl FnMut()) -> f64 {
    // Warm up, then size each round to about 150 ms.
    let start = Instant::now();
    let mut calls = 0u32;
    while start.elapsed() < Duration::from_millis(100) {
        f();
        calls += 1;
    }
    let per_round = ((calls as f64) * 1.5).max(1.0) as u32;
    let mut samples: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..per_round {
                f();
            }
            t.elapsed().as_secs_f64() * 1e6 / (per_round as f64 * items as f64)
        })
        .collect();
    samples.sort_by(|a, b| a.total_cmp(b));
    samples[samples.len() / 2]
}

fn main() {
    let store = MemoryKeyStore::new();
    let key = store.import_seed("bench", Zeroizing::new([0x2a; 32])).unwrap();
    let wallet = MemoryWallet::from_bytes(&[0x33; 32]).unwrap();
    let nodes: Vec<NodeUrl> =
        (0..NODES).map(|i| format!("https://192.168.1.{}:7470", i + 1).parse().unwrap()).collect();
    let requests: Vec<ResourceAbilityRequest> = ["lit-pkp://*=pkp-signing", "lit-litaction://*=lit-action-execution"]
        .iter()
        .map(|r| r.parse().unwrap())
        .collect();
    let now: Timestamp = "2025-03-15T12:34:56.789Z".parse().unwrap();
    let mut request = SessionSigsRequest::new(
        nodes.clone(),
        requests,
        "0x1f623ab8dfe6bbd3b3dc22c7a041deb697c14817bce471b1bd1d86a25d5a319c",
    );
    request.now = now;
    let minted = request.sign(&store, &key, &wallet).unwrap();
    let sigs: Vec<SessionSig> = nodes.iter().map(|n| minted.get(n.as_str()).unwrap().clone()).collect();
    let avg_len = sigs.iter().map(|s| s.signed_message.len()).sum::<usize>() / sigs.len();
    let wanted: ResourceAbilityRequest = "lit-pkp://0x1a2b=pkp-signing".parse().unwrap();

    // Plain verify_strict: keys and signatures decoded beforehand.
    let decoded: Vec<(VerifyingKey, Signature)> = sigs
        .iter()
        .map(|s| {
            let mut k = [0u8; 32];
            hex::decode_to_slice(&s.address, &mut k).unwrap();
            let mut g = [0u8; 64];
            hex::decode_to_slice(&s.sig, &mut g).unwrap();
            (VerifyingKey::from_bytes(&k).unwrap(), Signature::from_bytes(&g))
        })
        .collect();
    let strict = per_item(NODES, || {
        for (s, (k, g)) in sigs.iter().zip(&decoded) {
            black_box(k.verify_strict(s.signed_message.as_bytes(), g)).unwrap();
        }
    });

    let verifier = Verifier::new(VerifyPolicy::node());
    let cached = per_item(NODES, || {
        for (s, n) in sigs.iter().zip(&nodes) {
            black_box(verifier.verify(s, n, &wanted, now)).unwrap();
        }
    });
    let policy = VerifyPolicy::node();
    let uncached = per_item(NODES, || {
        for (s, n) in sigs.iter().zip(&nodes) {
            black_box(verify_session_sig(s, n, &wanted, now, &policy)).unwrap();
        }
    });

    let mut batch = Vec::new();
    for n in [30usize, 64] {
        let items: Vec<BatchItem> = sigs
            .iter()
            .zip(&nodes)
            .take(n)
            .map(|(s, node)| BatchItem { session_sig: s, node, request: &wanted })
            .collect();
        let full = per_item(n, || {
            for r in black_box(verifier.verify_batch(&items, now)) {
                r.unwrap();
            }
        });
        let msgs: Vec<&[u8]> = sigs.iter().take(n).map(|s| s.signed_message.as_bytes()).collect();
        let (keys, sigs_only): (Vec<VerifyingKey>, Vec<Signature>) = decoded.iter().take(n).cloned().unzip();
        let raw = per_item(n, || ed25519_dalek::verify_batch(black_box(&msgs), &sigs_only, &keys).unwrap());
        // The key stores' check of a call's token signatures: every signature under one key.
        let one_key = StrictKey::new(keys[0]);
        let ours = per_item(n, || verify_strict_all(&one_key, black_box(&msgs), &sigs_only).unwrap());
        batch.push((n, full, raw, ours));
    }

    println!("session-sig verification, {NODES} nodes, signedMessage ≈ {avg_len} bytes, 1 capability");
    println!("{:<58} {:>10}", "measurement", "µs/item");
    println!("{:<58} {:>10.1}", "verify_strict loop (per signature)", strict);
    println!("{:<58} {:>10.1}", "full verify, capability cached (per request)", cached);
    println!("{:<58} {:>10.1}", "full verify, uncached (per request)", uncached);
    for (n, full, raw, ours) in &batch {
        println!("{:<58} {:>10.1}", format!("batch, full rules via Verifier::verify_batch, n = {n} (per sig)"), full);
        println!("{:<58} {:>10.1}", format!("  of which ed25519_dalek::verify_batch alone, n = {n} (per sig)"), raw);
        println!("{:<58} {:>10.1}", format!("one-key batch, ed25519::verify_strict_all, n = {n} (per sig)"), ours);
    }
    println!("{:<58} {:>10.2}x  (goal ≤ 1.3x)", "ratio cached / verify_strict", cached / strict);
    println!("{:<58} {:>10.2}x", "ratio uncached / verify_strict", uncached / strict);
    for (n, full, _, _) in &batch {
        println!("{:<58} {:>10.2}x  (goal ≈ 17 µs/sig)", format!("ratio batch n = {n} / verify_strict"), full / strict);
    }
    println!();
    bls(strict);
}

/// The BLS table; `strict` is the ed25519 `verify_strict` time from the same run.
fn bls(strict: f64) {
    let digest = session_digest("litprotocol.com wants you to sign in with your Ethereum account:\n…");
    let mut rows: Vec<(String, f64)> = Vec::new();
    for (t, n) in [(2usize, 3usize), (7, 10)] {
        let (key, keys) = deal_shares_from_seed(t, n, &[n as u8; 32]).unwrap();
        let shares: Vec<SignatureShare> = keys.iter().map(|k| k.sign_share(&digest)).collect();
        let json: Vec<serde_json::Value> = shares.iter().map(SignatureShare::to_node_json).collect();
        rows.push((
            format!("parse {n} node shares (G2 subgroup check), per share"),
            per_item(n, || {
                for j in &json {
                    black_box(SignatureShare::from_node_json(black_box(j))).unwrap();
                }
            }),
        ));
        rows.push((
            format!("combine_shares, {n} shares (threshold {t})"),
            per_item(1, || {
                black_box(combine_shares(black_box(&shares))).unwrap();
            }),
        ));
        rows.push((
            format!("combine_verified, {n} shares, all good"),
            per_item(1, || {
                black_box(combine_verified(black_box(&shares), t, &key, &digest)).unwrap();
            }),
        ));
        let mut one_bad = shares.clone();
        one_bad[0] = keys[0].sign_share(b"another message");
        rows.push((
            format!("combine_verified, {n} shares, first one bad (found + named)"),
            per_item(1, || {
                let c = black_box(combine_verified(black_box(&one_bad), t, &key, &digest)).unwrap();
                assert_eq!(c.rejected, vec![1]);
            }),
        ));
        if n == 3 {
            let sig = combine_shares(&shares).unwrap();
            rows.push((
                "BlsSignature::verify (hash-to-G2 + 2 pairings)".into(),
                per_item(1, || {
                    black_box(sig.verify(&key, black_box(&digest))).unwrap();
                }),
            ));
        }
    }
    match pkp_vector() {
        Some((sigs, key, now)) => {
            let wanted: ResourceAbilityRequest = "lit-pkp://*=pkp-signing".parse().unwrap();
            let policy = VerifyPolicy::node().with_network_key(key);
            let verifier = Verifier::new(policy.clone());
            rows.push((
                "PKP session sig, full verify, LIT_BLS capability cached".into(),
                per_item(sigs.len(), || {
                    for (s, n) in &sigs {
                        black_box(verifier.verify(s, n, &wanted, now)).unwrap();
                    }
                }),
            ));
            rows.push((
                "PKP session sig, full verify, uncached (BLS pairing each time)".into(),
                per_item(sigs.len(), || {
                    for (s, n) in &sigs {
                        black_box(verify_session_sig(s, n, &wanted, now, &policy)).unwrap();
                    }
                }),
            ));
        }
        None => panic!("tests/vectors/session-sigs-wrapped-keys.json is missing or not the expected shape"),
    }
    println!("BLS12-381 for PKP sessions (blsful 2.5.7 / blst), baseline ed25519 verify_strict = {strict:.1} µs");
    println!("{:<66} {:>10} {:>10}", "measurement", "µs/item", "× strict");
    for (name, us) in rows {
        println!("{name:<66} {us:>10.1} {:>10.1}", us / strict);
    }
}

/// The PKP session sigs of the wrapped-keys vector (with their nodes), its network key and a
/// time inside its window.
type PkpVector = (Vec<(SessionSig, NodeUrl)>, NetworkPublicKey, Timestamp);

fn pkp_vector() -> Option<PkpVector> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/session-sigs-wrapped-keys.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let key = v["blsNetworkRootPubkey"]["hex"].as_str()?.parse().ok()?;
    let now = v["validity"]["pkpSessions"]["suggestedVerifyAt"].as_str()?.parse().ok()?;
    let mut sigs = Vec::new();
    for (node, sig) in v["sessionSigs"].as_object()? {
        sigs.push((serde_json::from_value(sig.clone()).ok()?, node.parse().ok()?));
    }
    Some((sigs, key, now))
}
