//! The main job, on the in-memory backend (no HSM needed): generate a wallet and a session key,
//! mint session sigs for five local Lit nodes, print the map and a short summary.
//!
//! Run with `cargo run --release --example mint_in_memory`.

use std::time::Instant;

use lit_session_signer::keystore::{MemoryKeyStore, SessionKeyStore};
use lit_session_signer::session_sigs::{NodeUrl, SessionSigsRequest};
use lit_session_signer::wallet::{MemoryWallet, WalletSigner};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let wallet = MemoryWallet::random()?;
    let store = MemoryKeyStore::new();
    let session_key = store.generate("example-session")?;

    let nodes: Vec<NodeUrl> =
        (7470..7475).map(|port| format!("http://127.0.0.1:{port}").parse()).collect::<Result<_, _>>()?;
    let requests = vec!["lit-pkp://*=pkp-signing".parse()?, "lit-litaction://*=lit-action-execution".parse()?];
    // A real client uses a recent Ethereum block hash from the nodes' handshake.
    let nonce = "0x3a9c4f1e8b7d6a5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c";
    let request = SessionSigsRequest::new(nodes, requests, nonce);

    let started = Instant::now();
    let sigs = request.sign(&store, &session_key, &wallet)?;
    let elapsed = started.elapsed();

    println!("{}", serde_json::to_string_pretty(&sigs)?);
    eprintln!();
    eprintln!("wallet        {}", wallet.address());
    eprintln!("session key   {}", hex::encode(store.public_key(&session_key)?.as_bytes()));
    eprintln!("expires       {}", request.expiration());
    eprintln!("nodes         {}", sigs.len());
    for (node, sig) in sigs.iter() {
        eprintln!("  {node:<24} signedMessage {:>5} bytes  sig {}…", sig.signed_message.len(), &sig.sig[..16]);
    }
    eprintln!("minted in     {:.2} ms (AuthSig + {} ed25519 signatures)", elapsed.as_secs_f64() * 1e3, sigs.len());
    Ok(())
}
