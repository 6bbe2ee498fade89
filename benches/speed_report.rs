//! The speed report: from ONE run on this machine, for N = 1, 10, 30, 100 nodes, the Lit JS SDK's
//! own `getSessionSigs` (offline, interop/bench-js.js), ours in memory and on SoftHSM2, and the
//! floors (N × ed25519-dalek sign, N × raw `C_Sign` on the same token), with the ratios; then the
//! v8 (Naga) format for N = 30, 100 against the JS SDK v8's own minting (`createEoaAuthContext` +
//! `issueSessionFromContext`, offline, interop/v8/bench-js.js) with the same node prices; then
//! ours on Kryoptic, the second PKCS#11 module, against its own `C_Sign` floor.
//!
//! `cargo bench --bench speed_report` (REPS=n for more repetitions; needs softhsm2, Kryoptic from
//! scripts/kryoptic.sh for its table, and node with interop/node_modules and
//! interop/v8/node_modules for the JS columns).

mod support;
#[path = "../hsm-tests/common/tokens/mod.rs"]
mod tokens;

use std::process::Command;
use std::time::Duration;

use ed25519_dalek::{Signer, SigningKey};
use lit_session_signer::internal::pkcs11::store_token;
use lit_session_signer::keystore::{KeyId, MemoryKeyStore, Pkcs11KeyStore, SessionKeyStore};
use lit_session_signer::pkcs11::{PinSource, Pkcs11Uri};
use lit_session_signer::pricing::NodePricing;
use lit_session_signer::protocol::Price;
use lit_session_signer::session_sigs::{NodeUrl, SessionParams, SessionSigsRequest};
use lit_session_signer::wallet::MemoryWallet;
use lit_session_signer::{SessionFormat, Timestamp};
use support::{time_against, RawSigner};
use zeroize::Zeroizing;

const NODES: [usize; 4] = [1, 10, 30, 100];
const V8_NODES: [usize; 2] = [30, 100];

/// The JS SDK's medians in ms by N (`dir`: interop or interop/v8), or None when node or the
/// packages are missing.
fn js_medians(dir: &str, node_counts: &[usize], reps: usize) -> Option<serde_json::Value> {
    let nodes = node_counts.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(",");
    let out = Command::new("node")
        .args(["bench-js.js", "--nodes", &nodes, "--runs", &reps.min(9).to_string()])
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

fn main() {
    let reps: usize = std::env::var("REPS").ok().and_then(|r| r.parse().ok()).unwrap_or(15);
    let hsm = tokens::ThrowawayTokens::create(tokens::Module::SoftHsm2, &["lit-speed"])
        .expect("SoftHSM2 is needed for the speed report");
    // Kryoptic's table is left out, with the reason, when it is not built.
    let kryoptic = tokens::ThrowawayTokens::create(tokens::Module::Kryoptic, &["lit-speed"]);
    hsm.activate();
    if let Ok(k) = &kryoptic {
        k.activate();
    }
    let token = hsm.main();
    let uri = Pkcs11Uri::for_token(&hsm.library, &token.label, PinSource::File(token.pin_file.clone()));
    let hsm_store = Pkcs11KeyStore::open(&uri).expect("open store");
    let hsm_key = hsm_store.generate("speed-report").expect("generate");
    let raw = RawSigner::new(&hsm_store, &hsm_key);

    let mem_store = MemoryKeyStore::new();
    let mem_key = mem_store.import_seed("speed", Zeroizing::new([0x42; 32])).unwrap();
    let dalek = SigningKey::from_bytes(&[0x42; 32]);
    let wallet = MemoryWallet::from_bytes(&[0x33; 32]).unwrap();

    eprintln!("speed report: timing the JS SDK (node interop/bench-js.js) ...");
    let js = js_medians(concat!(env!("CARGO_MANIFEST_DIR"), "/interop"), &NODES, reps);
    eprintln!("speed report: timing the JS SDK v8 (node interop/v8/bench-js.js) ...");
    let js_v8 = js_medians(concat!(env!("CARGO_MANIFEST_DIR"), "/interop/v8"), &V8_NODES, reps);
    let now: Timestamp = "2026-01-01T00:00:00.000Z".parse().unwrap();

    println!();
    println!(
        "Session sigs for N nodes, one resource pair (pkp-signing + lit-action-execution); median of {reps} runs."
    );
    println!(
        "ours = AuthSig (SIWE + ReCap + EIP-191) + N per-node messages + N ed25519 signatures, as getSessionSigs."
    );
    println!(
        "SoftHSM2 2.6.1 pool: {} sessions on {} cores.",
        store_token(&hsm_store).pool_capacity(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!();
    let bench = Bench {
        reps,
        mem_store: &mem_store,
        mem_key: &mem_key,
        hsm_store: &hsm_store,
        hsm_key: &hsm_key,
        raw: &raw,
        dalek: &dalek,
        wallet: &wallet,
    };
    println!("| N | JS SDK | ours, memory | dalek floor | ours/JS | ours/floor | ours, SoftHSM2 | C_Sign floor | ours/floor |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for n in NODES {
        let req = request(n, now);
        println!("{}", bench.row(n, &req, js.as_ref()));
    }
    println!();
    println!(
        "Floors: N × ed25519-dalek sign of the same messages; N × raw C_Sign (CKM_EDDSA) on one session, same key."
    );
    println!("Ours and its floor run in turns; times are medians, ratios the median of the repetitions' ratios.");

    println!();
    println!(
        "v8 (Naga) format: N priced nodes (node i charges (N - i) × 10^12 for SIGN), threshold N, the default \
         maximum split as the SDK splits it; JS SDK v8 = createEoaAuthContext + issueSessionFromContext."
    );
    println!();
    println!("| N | JS SDK v8 | ours v8, memory | dalek floor | ours/JS | ours/floor | ours v8, SoftHSM2 | C_Sign floor | ours/floor |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for n in V8_NODES {
        let nodes = nodes(n);
        let pricing = nodes.iter().enumerate().fold(NodePricing::new().with_threshold(n), |p, (i, node)| {
            p.with_node_price(node.clone(), Price::from(1_000_000_000_000u64 * (n - i) as u64))
        });
        let params =
            SessionParams::new(&format!("0x{}", "3a".repeat(32))).with_format(SessionFormat::V2).with_pricing(pricing);
        let req = SessionSigsRequest::from_params(nodes, requests(), params).with_now(now);
        println!("{}", bench.row(n, &req, js_v8.as_ref()));
    }
    match kryoptic {
        Ok(k) => kryoptic_section(&k, reps, now, &wallet),
        Err(why) => println!("\nKryoptic: not measured ({why})."),
    }
}

/// The v7 session-sigs request of the report for `n` nodes at `now`.
fn request(n: usize, now: Timestamp) -> SessionSigsRequest {
    SessionSigsRequest::new(nodes(n), requests(), &format!("0x{}", "3a".repeat(32))).with_now(now)
}

/// The second module, in the same run: ours on a Kryoptic token against its own raw `C_Sign`
/// floor (same key, same messages).
fn kryoptic_section(k: &tokens::ThrowawayTokens, reps: usize, now: Timestamp, wallet: &MemoryWallet) {
    let token = k.main();
    let uri = Pkcs11Uri::for_token(&k.library, &token.label, PinSource::File(token.pin_file.clone()));
    let store = Pkcs11KeyStore::open(&uri).expect("open the Kryoptic store");
    let key = store.generate("speed-report").expect("generate on Kryoptic");
    let raw = RawSigner::new(&store, &key);
    println!();
    println!(
        "Kryoptic {} (same run, same messages), pool: {} sessions.",
        tokens::kryoptic::VERSION,
        store_token(&store).pool_capacity()
    );
    println!();
    println!("| N | ours, Kryoptic | C_Sign floor | ours/floor |");
    println!("|---:|---:|---:|---:|");
    for n in NODES {
        let req = request(n, now);
        let messages: Vec<String> =
            req.sign(&store, &key, wallet).unwrap().iter().map(|(_, s)| s.signed_message.clone()).collect();
        let (ours, floor, ratio) = time_against(
            reps,
            || req.sign(&store, &key, wallet).unwrap(),
            || messages.iter().map(|m| raw.sign(m.as_bytes())).collect::<Vec<_>>(),
        );
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!("| {n} | {:.2} ms | {:.2} ms | {ratio:.2}× |", ms(ours), ms(floor));
    }
}

fn nodes(n: usize) -> Vec<NodeUrl> {
    (0..n).map(|i| format!("https://10.0.{}.{}:443", i / 256, i % 256).parse().unwrap()).collect()
}

fn requests() -> Vec<lit_session_signer::ResourceAbilityRequest> {
    vec!["lit-pkp://*=pkp-signing".parse().unwrap(), "lit-litaction://*=lit-action-execution".parse().unwrap()]
}

/// What one table row is timed with.
struct Bench<'a> {
    reps: usize,
    mem_store: &'a MemoryKeyStore,
    mem_key: &'a KeyId,
    hsm_store: &'a Pkcs11KeyStore,
    hsm_key: &'a KeyId,
    raw: &'a RawSigner,
    dalek: &'a SigningKey,
    wallet: &'a MemoryWallet,
}

impl Bench<'_> {
    /// One row: the JS median for N (if measured), ours in memory and on the token, the floors.
    fn row(&self, n: usize, req: &SessionSigsRequest, js: Option<&serde_json::Value>) -> String {
        let reps = self.reps;
        // The floors sign exactly the messages we sign.
        let messages: Vec<String> = req
            .sign(self.mem_store, self.mem_key, self.wallet)
            .unwrap()
            .iter()
            .map(|(_, s)| s.signed_message.clone())
            .collect();
        let (ours_mem, floor_mem, ratio_mem) = time_against(
            reps,
            || req.sign(self.mem_store, self.mem_key, self.wallet).unwrap(),
            || messages.iter().map(|m| self.dalek.sign(m.as_bytes())).collect::<Vec<_>>(),
        );
        let (ours_hsm, floor_hsm, ratio_hsm) = time_against(
            reps,
            || req.sign(self.hsm_store, self.hsm_key, self.wallet).unwrap(),
            || messages.iter().map(|m| self.raw.sign(m.as_bytes())).collect::<Vec<_>>(),
        );
        let js_ms = js.and_then(|j| j[n.to_string()]["medianMs"].as_f64());
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let js_cell = js_ms.map_or("n/a".to_string(), |v| format!("{v:.1} ms"));
        let ratio_js = js_ms.map_or("n/a".to_string(), |v| format!("{:.0}× faster", v / ms(ours_mem)));
        format!(
            "| {n} | {js_cell} | {:.3} ms | {:.3} ms | {ratio_js} | {ratio_mem:.2}× | {:.2} ms | {:.2} ms | {ratio_hsm:.2}× |",
            ms(ours_mem),
            ms(floor_mem),
            ms(ours_hsm),
            ms(floor_hsm),
        )
    }
}
