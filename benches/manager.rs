//! The session manager on a cache hit, next to the bare signing floor of the same store, from
//! ONE run: for N = 30 and 100 nodes, in memory and on SoftHSM2.
//!
//! - floor: `store.sign_many` over the N per-node messages (the signatures alone);
//! - template: the N messages built and signed, AuthSig given (no manager);
//! - manager hit: `SessionManager::session_sigs` reusing its cached AuthSig (async, 2 workers);
//! - re-sign every call: what a caller without a cache pays (SIWE + ReCap + wallet EIP-191 too).
//!
//! `cargo bench --bench manager` (REPS=n for more repetitions; needs softhsm2).

#[allow(dead_code)] // RawSigner is for the other benches
mod support;
#[path = "../hsm-tests/common/tokens/mod.rs"]
mod tokens;

use std::sync::Arc;
use std::time::Duration;

use lit_session_signer::auth_sig::AuthSig;
use lit_session_signer::keystore::{KeyId, MemoryKeyStore, Pkcs11KeyStore, SessionKeyStore};
use lit_session_signer::manager::{
    AuthSource, MemoryAuthSigStore, SessionKeyPolicy, SessionManager, SessionSigsOptions,
};
use lit_session_signer::pkcs11::{PinSource, Pkcs11Uri};
use lit_session_signer::protocol::NodeUrl;
use lit_session_signer::resources::ResourceAbilityRequest;
use lit_session_signer::session_sigs::SessionSigsRequest;
use lit_session_signer::wallet::MemoryWallet;
use support::time;
use zeroize::Zeroizing;

const NONCE: &str = "0x3a9c4f1e8b7d6a5c4b3a29180f7e6d5c";

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

struct Row {
    floor: Duration,
    template: Duration,
    hit: Duration,
    resign: Duration,
}

fn measure(store: Arc<dyn SessionKeyStore>, key: &KeyId, n: usize, reps: usize) -> Row {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let nodes: Vec<NodeUrl> =
        (0..n).map(|i| format!("https://10.4.{}.{}:443", i / 250, i % 250).parse().unwrap()).collect();
    let requests: Vec<ResourceAbilityRequest> =
        vec!["lit-pkp://*=pkp-signing".parse().unwrap(), "lit-litaction://*=lit-action-execution".parse().unwrap()];
    let wallet = MemoryWallet::from_bytes(&[0x33; 32]).unwrap();
    let request = SessionSigsRequest::new(nodes.clone(), requests.clone(), NONCE);
    let public = store.public_key(key).unwrap();
    let auth_sig = AuthSig::sign(&wallet, &request.session_siwe(&public, &wallet)).unwrap();
    let template = request.template(&auth_sig);
    let session_nodes = request.session_nodes().unwrap();
    let messages = template.signed_messages(&public, &session_nodes);
    let refs: Vec<&[u8]> = messages.iter().map(|m| m.as_bytes()).collect();

    let floor = time(reps, || store.sign_many(key, &refs).unwrap());
    let template_time = time(reps, || template.sign(store.as_ref(), key, &session_nodes).unwrap());
    let manager = SessionManager::new(
        store.clone(),
        SessionKeyPolicy::Fixed(key.clone()),
        AuthSource::wallet(MemoryWallet::from_bytes(&[0x33; 32]).unwrap()),
        Arc::new(MemoryAuthSigStore::new()),
    );
    let options = SessionSigsOptions::new(NONCE);
    let hit = time(reps, || runtime.block_on(manager.session_sigs(&nodes, &requests, &options)).unwrap());
    assert_eq!(manager.stats().signed, 1, "every timed call was a cache hit");
    let resign = time(reps, || request.sign(store.as_ref(), key, &wallet).unwrap());
    Row { floor, template: template_time, hit, resign }
}

fn main() {
    let reps: usize = std::env::var("REPS").ok().and_then(|r| r.parse().ok()).unwrap_or(25);
    let hsm = tokens::ThrowawayTokens::create(tokens::Module::SoftHsm2, &["lit-manager-bench"])
        .expect("SoftHSM2 is needed for this bench");
    hsm.activate();
    let token = hsm.main();
    let uri = Pkcs11Uri::for_token(&hsm.library, &token.label, PinSource::File(token.pin_file.clone()));
    let hsm_store = Arc::new(Pkcs11KeyStore::open(&uri).expect("open store"));
    let hsm_key = hsm_store.generate("manager-bench").expect("generate");
    let mem_store = Arc::new(MemoryKeyStore::new());
    let mem_key = mem_store.import_seed("bench", Zeroizing::new([0x42; 32])).unwrap();

    println!();
    println!(
        "Session sigs through the manager (cache hit) vs the same store's bare signing; median of {reps} runs, ms."
    );
    println!();
    println!("| store | N | floor: sign_many | template.sign | manager hit | hit / floor | re-sign every call | re-sign / hit |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, store, key) in [
        ("memory", mem_store.clone() as Arc<dyn SessionKeyStore>, &mem_key),
        ("SoftHSM2", hsm_store.clone() as Arc<dyn SessionKeyStore>, &hsm_key),
    ] {
        for n in [30, 100] {
            let r = measure(store.clone(), key, n, reps);
            println!(
                "| {name} | {n} | {} | {} | {} | {:.2}× | {} | {:.2}× |",
                ms(r.floor),
                ms(r.template),
                ms(r.hit),
                r.hit.as_secs_f64() / r.floor.as_secs_f64(),
                ms(r.resign),
                r.resign.as_secs_f64() / r.hit.as_secs_f64(),
            );
        }
    }
    hsm_store.delete(&hsm_key).ok();
}
