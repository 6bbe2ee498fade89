//! Session sigs minted with a token-held session key: the library path and the CLI path.

use std::process::Command;

use lit_session_signer::keystore::SessionKeyStore;
use lit_session_signer::session_sigs::{NodeUrl, SessionSigsRequest};
use lit_session_signer::verify::{Verifier, VerifyPolicy};
use lit_session_signer::wallet::MemoryWallet;

use crate::common::{self, unique_label};
use crate::hsm;

#[test]
fn thirty_node_session_sigs_on_the_token_verify() {
    let env = hsm!();
    let _g = common::shared();
    let store = env.open();
    let id = store.generate(&unique_label("sessionsigs30")).expect("generate");
    let public_key = store.public_key(&id).unwrap();
    let wallet = MemoryWallet::random().unwrap();
    let nodes: Vec<NodeUrl> = (0..30).map(|i| format!("https://10.1.0.{i}:443").parse().unwrap()).collect();
    let requests =
        vec!["lit-pkp://*=pkp-signing".parse().unwrap(), "lit-litaction://*=lit-action-execution".parse().unwrap()];
    let request = SessionSigsRequest::new(nodes.clone(), requests, "0x3a9c4f1e8b7d6a5c4b3a29180f7e6d5c");
    let sigs = request.sign(&store, &id, &wallet).expect("mint on the token");
    assert_eq!(sigs.len(), 30);
    let verifier = Verifier::new(VerifyPolicy::strict());
    for (node, sig) in sigs.iter() {
        let bytes: [u8; 64] = hex::decode(&sig.sig).unwrap().try_into().unwrap();
        public_key.verify_strict(sig.signed_message.as_bytes(), &ed25519_dalek::Signature::from_bytes(&bytes)).unwrap();
        for req in &request.requests {
            verifier.verify(sig, node, req, request.now).expect("the verifier accepts it");
        }
    }
    store.delete(&id).unwrap();
}

fn lit_session(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lit-session")).args(args).output().unwrap()
}

#[test]
fn cli_generates_uses_lists_and_deletes_a_token_key() {
    let env = hsm!();
    let _g = common::shared();
    let token_uri = env.uri().to_string();
    let label = unique_label("cli");

    let out = lit_session(&["keys", "generate", "--pkcs11-uri", &token_uri, "--label", &label]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key_uri = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(key_uri.starts_with("pkcs11:") && key_uri.contains(&label), "{key_uri}");

    let listed = lit_session(&["keys", "list", "--pkcs11-uri", &token_uri]);
    assert!(listed.status.success());
    let listing = String::from_utf8(listed.stdout).unwrap();
    let line = listing.lines().find(|l| l.starts_with(&format!("{label}\t"))).expect("the new key is listed");
    let public_key = line.rsplit('\t').next().unwrap().to_string();

    let dir = tempfile::tempdir().unwrap();
    let wallet = dir.path().join("wallet.key");
    std::fs::write(&wallet, "0x3333333333333333333333333333333333333333333333333333333333333333\n").unwrap();
    let out = lit_session(&[
        "session-sigs",
        "--wallet-key-file",
        wallet.to_str().unwrap(),
        "--session-key",
        &key_uri,
        "--node",
        "https://127.0.0.1:7470",
        "--resource",
        "lit-pkp://*=pkp-signing",
        "--nonce",
        "0x3a9c4f1e8b7d6a5c4b3a29180f7e6d5c",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let map: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(map["https://127.0.0.1:7470"]["address"], public_key.as_str());
    let file = dir.path().join("sigs.json");
    std::fs::write(&file, &out.stdout).unwrap();
    let v = lit_session(&[
        "verify",
        "--session-sigs",
        file.to_str().unwrap(),
        "--node",
        "https://127.0.0.1:7470",
        "--resource",
        "lit-pkp://*=pkp-signing",
    ]);
    assert_eq!(String::from_utf8_lossy(&v.stdout).trim(), "valid");

    let del = lit_session(&["keys", "delete", "--pkcs11-uri", &key_uri]);
    assert!(del.status.success(), "{}", String::from_utf8_lossy(&del.stderr));
    let gone = lit_session(&[
        "session-sigs",
        "--wallet-key-file",
        wallet.to_str().unwrap(),
        "--session-key",
        &key_uri,
        "--node",
        "https://127.0.0.1:7470",
        "--resource",
        "lit-pkp://*=pkp-signing",
        "--nonce",
        "0x3a9c4f1e8b7d6a5c",
    ]);
    assert_eq!(gone.status.code(), Some(2));
    let err = String::from_utf8_lossy(&gone.stderr);
    assert!(err.contains("--session-key") && !err.contains("panicked"), "{err}");
}
