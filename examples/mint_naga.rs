//! The Naga (JS SDK v8) format on the in-memory backend: a payer delegates payment to the user's
//! wallet, the user mints session sigs for the three cheapest of five priced nodes with the
//! user maximum split as the v8 SDK splits it, and each node's `maxPrice` is checked against
//! the delegation, as a Naga node checks it before charging the payer.
//!
//! Run with `cargo run --release --example mint_naga`.

use std::time::Instant;

use lit_session_signer::keystore::{MemoryKeyStore, SessionKeyStore};
use lit_session_signer::payment_delegation::{PaymentDelegation, PaymentScope};
use lit_session_signer::pricing::{MaxPrice, NodePricing};
use lit_session_signer::protocol::{Price, SignedMessage};
use lit_session_signer::session_sigs::{NodeUrl, SessionParams, SessionSigsRequest};
use lit_session_signer::wallet::{MemoryWallet, WalletSigner};
use lit_session_signer::{SessionFormat, Timestamp};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let payer = MemoryWallet::random()?;
    let user = MemoryWallet::random()?;
    let store = MemoryKeyStore::new();
    let session_key = store.generate("example-session")?;
    // A real client uses a recent Ethereum block hash (the v8 SDK takes it from the block indexer).
    let nonce = "0x3a9c4f1e8b7d6a5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c";

    // The payer pays up to 0.001 (1e15 wei) per node and request, for PKP signing.
    let delegation =
        PaymentDelegation::new(vec![user.address().to_string()], "1000000000000000", vec![PaymentScope::PkpSign])
            .sign(&payer, nonce, Timestamp::now())?;

    // Five nodes with their prices for PKP signing (a real client reads the price feed).
    let nodes: Vec<NodeUrl> =
        (7470..7475).map(|port| format!("https://127.0.0.1:{port}").parse()).collect::<Result<_, _>>()?;
    let mut pricing =
        NodePricing::new().with_threshold(3).with_max_price(MaxPrice::Split(Price::from(2_100_000_000_000_000u64)));
    for (node, price) in nodes.iter().zip([900u64, 400, 700, 300, 800]) {
        pricing = pricing.with_node_price(node.clone(), Price::from(price * 1_000_000_000_000));
    }
    let params = SessionParams::new(nonce)
        .with_format(SessionFormat::V2)
        .with_pricing(pricing)
        .with_capability_auth_sig(serde_json::to_value(&delegation)?);
    let request = SessionSigsRequest::from_params(nodes, vec!["lit-pkp://*=pkp-signing".parse()?], params);

    let started = Instant::now();
    let sigs = request.sign(&store, &session_key, &user)?;
    let elapsed = started.elapsed();

    println!("{}", serde_json::to_string_pretty(&sigs)?);
    eprintln!();
    eprintln!("payer         {}", payer.address());
    eprintln!("user          {}", user.address());
    eprintln!("session key   {}", hex::encode(store.public_key(&session_key)?.as_bytes()));
    eprintln!("expires       {} (the v8 default: 15 min after issuedAt)", request.expiration());
    eprintln!("nodes         {} of 5, cheapest first", sigs.len());
    let cap = Price::from(1_000_000_000_000_000u64);
    for (node, sig) in sigs.iter() {
        let price = SignedMessage::parse(&sig.signed_message)?.max_price().ok_or("no maxPrice")??;
        let within = if price <= cap { "within" } else { "over" };
        eprintln!("  {node:<24} maxPrice {price:>16} wei ({within} the delegation's {cap})");
    }
    eprintln!("minted in     {:.2} ms (AuthSig + {} ed25519 signatures)", elapsed.as_secs_f64() * 1e3, sigs.len());
    Ok(())
}
