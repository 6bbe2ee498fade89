//! Session sigs minted with a token-held session key: the library path and the CLI path.

use std::process::Command;

use lit_session_signer::keystore::SessionKeyStore;
use lit_session_signer::session_sigs::{NodeUrl, SessionSigsRequest};
use lit_session_signer::verify::{Verifier, VerifyPolicy};
use lit_session_signer::wallet::MemoryWallet;

use crate::common::{cli_verdict, lit_session, unique_label};
use crate::hsm_test;

hsm_test! {
    fn thirty_node_session_sigs_on_the_token_verify(env) {
        let _g = env.shared();
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
}

hsm_test! {
    fn cli_generates_uses_lists_and_deletes_a_token_key(env) {
        // The CLI runs in other processes on the same token directory; SoftHSM 2.6.1 can lose a
        // token when processes write it concurrently (SoftHSM#757), so nothing else runs meanwhile.
        let _g = env.exclusive();
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
        crate::common::write_private(&wallet, b"0x3333333333333333333333333333333333333333333333333333333333333333\n");
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
        let (verdict, _) = cli_verdict(&out.stdout, "https://127.0.0.1:7470", "lit-pkp://*=pkp-signing");
        assert_eq!(verdict, "valid");

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
}

hsm_test! {
    fn token_session_key_works_through_signature_signer(env) {
        use lit_session_signer::keystore::SessionKey;
        use signature::Signer;

        fn sign_generically<S: Signer<ed25519_dalek::Signature>>(signer: &S, msg: &[u8]) -> ed25519_dalek::Signature {
            signer.sign(msg)
        }
        let _g = env.shared();
        let store = env.open();
        let id = store.generate(&unique_label("signer-trait")).unwrap();
        let key = SessionKey::new(&store, id.clone());
        let sig = sign_generically(&key, b"through signature::Signer");
        key.verifying_key().unwrap().verify_strict(b"through signature::Signer", &sig).unwrap();
        assert!(SessionKey::new(&store, lit_session_signer::keystore::KeyId::from_bytes(vec![9; 16]))
            .try_sign(b"x")
            .is_err());
        store.delete(&id).unwrap();
    }
}

hsm_test! {
    /// Session sigs and a capacity delegation minted with the session key AND the wallet on the
    /// token pass the Lit JS SDK's own checks (interop/rust-to-js.js). On a module that cannot
    /// make secp256k1 keys (Kryoptic) the wallet is in memory and only the session key is on the
    /// token.
    fn token_minted_session_sigs_pass_the_js_sdk_checks(env) {
        use lit_session_signer::capacity_delegation::CapacityDelegation;
        use lit_session_signer::wallet::{Pkcs11Wallet, WalletSigner};

        let interop = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("interop");
        if !interop.join("node_modules/@lit-protocol/misc").is_dir() {
            assert!(std::env::var("LIT_REQUIRE_INTEROP").as_deref() != Ok("1"), "interop/node_modules missing");
            eprintln!("SKIPPED: interop/node_modules missing (npm ci in interop/)");
            return;
        }
        let _g = env.shared();
        let store = env.open();
        let id = store.generate(&unique_label("interop")).unwrap();
        let token_wallet = env
            .kind
            .makes_secp256k1_keys()
            .then(|| Pkcs11Wallet::generate(&env.uri(), &unique_label("interop-wallet")).unwrap().0);
        let memory_wallet = MemoryWallet::random().unwrap();
        let wallet: &dyn WalletSigner = match &token_wallet {
            Some(w) => w,
            None => &memory_wallet,
        };
        let owner = MemoryWallet::random().unwrap();
        let nodes: Vec<NodeUrl> = (0..10).map(|i| format!("https://10.2.0.{i}:443").parse().unwrap()).collect();
        let requests = vec![
            "lit-pkp://*=pkp-signing".parse().unwrap(),
            "lit-accesscontrolcondition://*=access-control-condition-decryption".parse().unwrap(),
        ];
        let mut request = SessionSigsRequest::new(nodes, requests, "0x3a9c4f1e8b7d6a5c4b3a29180f7e6d5c");
        let delegation = CapacityDelegation {
            token_id: Some("77".into()),
            delegatees: Some(vec![wallet.address().to_string()]),
            uses: Some(3),
            ..CapacityDelegation::default()
        };
        request
            .params
            .capability_auth_sigs
            .push(serde_json::to_value(delegation.sign(&owner, &request.params.nonce, request.now).unwrap()).unwrap());
        let sigs = request.sign(&store, &id, &wallet).unwrap();
        let set = serde_json::json!({"sets": [{
            "id": env.kind.id(),
            "now": request.now.to_string(),
            "nodes": sigs.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>(),
            "resources": [
                {"prefix": "lit-pkp", "id": "*", "ability": "pkp-signing"},
                {"prefix": "lit-accesscontrolcondition", "id": "*", "ability": "access-control-condition-decryption"}
            ],
            "sessionSigsJson": sigs.to_json(),
        }]});
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("minted.json");
        std::fs::write(&file, set.to_string()).unwrap();
        let status = Command::new("node").arg("rust-to-js.js").arg(&file).current_dir(&interop).status().unwrap();
        assert!(status.success(), "the JS SDK's checks refused session sigs minted on the token");
        store.delete(&id).unwrap();
        if let Some(w) = token_wallet {
            w.delete().unwrap();
        }
    }
}
