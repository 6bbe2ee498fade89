//! The secp256k1 wallet key on the token: AuthSigs, attributes, reopening, errors, and
//! session sigs with both keys on the token, on SoftHSM2; and the typed error on Kryoptic,
//! which cannot make secp256k1 keys.

use std::time::Instant;

use lit_session_signer::auth_sig::AuthSig;
use lit_session_signer::eth::{eip191_hash, RecoverableSignature};
use lit_session_signer::keystore::SessionKeyStore;
use lit_session_signer::pkcs11::{Pkcs11ErrorKind, Pkcs11Uri};
use lit_session_signer::session_sigs::{NodeUrl, SessionSigsRequest};
use lit_session_signer::siwe::SiweMessage;
use lit_session_signer::verify::{Verifier, VerifyPolicy};
use lit_session_signer::wallet::{Pkcs11Wallet, WalletSigner};
use lit_session_signer::Timestamp;

use crate::common::{cli_verdict, lit_session, unique_label};
use crate::hsm_test;

hsm_test! {
    only softhsm2 because "Kryoptic 1.5.4 cannot make secp256k1 keys (see \
        `kryoptic_refuses_secp256k1_with_a_typed_error`)";
    fn five_hundred_auth_sigs_from_the_token_recover_and_verify(env) {
        let _g = env.shared();
        let (wallet, _id) = Pkcs11Wallet::generate(&env.uri(), &unique_label("wallet500")).expect("generate on token");
        let address = wallet.address();
        let now = Timestamp::now();
        let started = Instant::now();
        let sigs: Vec<AuthSig> = (0..500)
            .map(|i| {
                let nonce = format!("0x{i:08x}{:08x}", std::process::id());
                AuthSig::sign(&wallet, &SiweMessage::new(address, &nonce, now)).expect("AuthSig on the token")
            })
            .collect();
        let elapsed = started.elapsed();
        let stats = wallet.sign_stats();
        eprintln!(
            "500 AuthSigs on the token in {elapsed:?} ({:.2} ms each); {} of {} token signatures were high-s before normalisation",
            elapsed.as_secs_f64() * 1000.0 / 500.0,
            stats.high_s,
            stats.signatures
        );
        assert_eq!(stats.signatures, 500);
        // About half of them: a token that never returns high-s would be suspicious of a bug
        // in the counting, not of the token (P(0 of 500) = 2^-500).
        assert!(stats.high_s > 0 && stats.high_s < 500, "{stats:?}");

        for a in &sigs {
            assert_eq!(a.address, address.to_checksum());
            let bytes = hex::decode(a.sig.strip_prefix("0x").unwrap()).unwrap();
            // from_bytes refuses high-s, so this is also the low-s check.
            let sig = RecoverableSignature::from_bytes(&bytes).expect("65 bytes, low-s");
            assert!(sig.signature().normalize_s().is_none(), "low-s");
            assert!(bytes[64] == 27 || bytes[64] == 28);
            assert_eq!(sig.recover_address(&eip191_hash(a.signed_message.as_bytes())).unwrap(), address);
            let m: siwe::Message = a.signed_message.parse().expect("siwe parses the message");
            let sig65: [u8; 65] = bytes.try_into().unwrap();
            m.verify_eip191(&sig65).expect("siwe verify_eip191");
        }
        wallet.delete().unwrap();
    }

    fn wallet_key_never_left_the_token_and_reopens_by_uri(env) {
        let _g = env.shared();
        let label = unique_label("wallet-attrs");
        let (wallet, id) = Pkcs11Wallet::generate(&env.uri(), &label).expect("generate");
        assert_eq!(wallet.key_id(), id);
        assert_eq!(wallet.label(), label);
        assert_eq!(id.as_bytes().len(), 16);

        let a = wallet.key_attributes().expect("attributes");
        assert_eq!(a.violations(), Vec::<&str>::new(), "{a:?}");
        assert!(a.token && a.private && a.value_sensitive, "CKA_TOKEN, CKA_PRIVATE, CKA_VALUE sensitive: {a:?}");

        // Reopen by label and by id, in a fresh token connection: same key, same address.
        let by_label = Pkcs11Wallet::open(&env.uri().with_object(&label)).expect("open by object=");
        assert_eq!(by_label.address(), wallet.address());
        assert_eq!(by_label.verifying_key(), wallet.verifying_key());
        assert_eq!(by_label.key_id(), id);
        let by_id = Pkcs11Wallet::open(&env.uri().with_id(id.as_bytes())).expect("open by id=");
        assert_eq!(by_id.address(), wallet.address());
        // And through the URI's text form, as a CLI would get it.
        let text = env.uri().with_object(&label).to_string();
        let parsed: Pkcs11Uri = text.parse().unwrap();
        assert_eq!(Pkcs11Wallet::open(&parsed).unwrap().address(), wallet.address());

        // A signature of the reopened wallet recovers to the same address.
        let sig = by_label.personal_sign(b"reopened").unwrap();
        assert_eq!(sig.recover_address(&eip191_hash(b"reopened")).unwrap(), wallet.address());

        // Through the PrehashSigner trait too.
        use signature::hazmat::PrehashSigner;
        let digest = eip191_hash(b"prehash");
        let (s, rid) = by_id.sign_prehash(&digest).unwrap();
        let vk = k256::ecdsa::VerifyingKey::recover_from_prehash(&digest, &s, rid).unwrap();
        assert_eq!(&vk, wallet.verifying_key());
        assert!(by_id.sign_prehash(&[0u8; 31]).is_err());

        drop((by_label, by_id));
        wallet.delete().unwrap();
        let gone = Pkcs11Wallet::open(&env.uri().with_object(&label)).expect_err("deleted");
        assert_eq!(gone.kind(), Pkcs11ErrorKind::KeyNotFound, "{gone:?}");
    }

    fn session_sigs_with_wallet_and_session_key_both_on_the_token(env) {
        let _g = env.shared();
        let store = env.open();
        let id = store.generate(&unique_label("ss-session")).unwrap();
        let (wallet, _) = Pkcs11Wallet::generate(&env.uri(), &unique_label("ss-wallet")).unwrap();
        let nodes: Vec<NodeUrl> = (0..5).map(|i| format!("https://10.2.0.{i}:443").parse().unwrap()).collect();
        let requests = vec!["lit-pkp://*=pkp-signing".parse().unwrap()];
        let request = SessionSigsRequest::new(nodes, requests, "0x3a9c4f1e8b7d6a5c4b3a29180f7e6d5c");
        let sigs = request.sign(&store, &id, &wallet).expect("mint with both keys on the token");
        assert_eq!(sigs.len(), 5);
        let verifier = Verifier::new(VerifyPolicy::strict());
        for (node, sig) in sigs.iter() {
            assert!(sig.signed_message.contains(&wallet.address().to_checksum()), "the AuthSig names the token wallet");
            for req in &request.requests {
                verifier.verify(sig, node, req, request.now).expect("the verifier accepts it");
            }
        }
        store.delete(&id).unwrap();
        wallet.delete().unwrap();
    }

    fn cli_generates_a_token_wallet_and_signs_with_it(env) {
        // The CLI runs in other processes on the same token directory; SoftHSM 2.6.1 can lose a
        // token when processes write it concurrently (SoftHSM#757), so nothing else runs meanwhile.
        let _g = env.exclusive();
        let token_uri = env.uri().to_string();
        let label = unique_label("cli-wallet");
        let out = lit_session(&["wallet", "generate", "--pkcs11-uri", &token_uri, "--label", &label]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).unwrap();
        let mut lines = stdout.lines();
        let (key_uri, address) = (lines.next().unwrap().to_string(), lines.next().unwrap().to_string());
        assert!(key_uri.starts_with("pkcs11:") && key_uri.contains(&label), "{key_uri}");
        assert!(address.starts_with("0x") && address.len() == 42, "{address}");

        let out = lit_session(&["wallet", "address", "--pkcs11-uri", &key_uri]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), address);
        let by_label = env.uri().with_object(&label).to_string();
        let out = lit_session(&["wallet", "address", "--pkcs11-uri", &by_label]);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), address);

        // session-sigs with the wallet on the token (and an in-memory session key).
        let out = lit_session(&[
            "session-sigs",
            "--wallet",
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
        let signed = map["https://127.0.0.1:7470"]["signedMessage"].as_str().unwrap();
        assert!(signed.contains(&address), "the session AuthSig is the token wallet's");
        let (verdict, err) = cli_verdict(&out.stdout, "https://127.0.0.1:7470", "lit-pkp://*=pkp-signing");
        assert_eq!(verdict, "valid", "{err}");

        // capacity-delegation with the credit owner's key on the token.
        let out = lit_session(&["capacity-delegation", "--wallet", &key_uri, "--nonce", "0x3a9c4f1e8b7d6a5c"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let auth_sig: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(auth_sig["address"], address.as_str());

        // Neither or both wallet flags: exit 2 with a message naming the flags.
        let none = lit_session(&["wallet", "address"]);
        assert_eq!(none.status.code(), Some(2));
        let wrong = lit_session(&["wallet", "address", "--pkcs11-uri", &env.uri().with_object("nope").to_string()]);
        assert_eq!(wrong.status.code(), Some(2));
        let err = String::from_utf8_lossy(&wrong.stderr);
        assert!(err.contains("--pkcs11-uri") && err.contains("nope") && !err.contains("panicked"), "{err}");

        // Clean-up only. SoftHSM's file store can show a key made by another process (the CLI) to
        // this process a moment late, so a miss here is not a failure of the code under test.
        if let Ok(wallet) = Pkcs11Wallet::open(&env.uri().with_object(&label)) {
            let _ = wallet.delete();
        }
    }

    fn the_token_wallet_passes_the_wallet_conformance_suite(env) {
        let _g = env.shared();
        let (wallet, _) = Pkcs11Wallet::generate(&env.uri(), &unique_label("wallet-conformance")).expect("generate");
        lit_session_signer::wallet::testing::check_wallet(&wallet);
        lit_session_signer::wallet::testing::check_wallet(&&wallet);
        wallet.delete().unwrap();
    }
}

hsm_test! {
    fn uris_naming_no_key_or_a_wrong_key_give_clear_errors(env) {
        let _g = env.shared();

        let err = Pkcs11Wallet::open(&env.uri()).expect_err("no object/id");
        assert_eq!(err.kind(), Pkcs11ErrorKind::Config, "{err:?}");
        assert!(err.to_string().contains("object=<label>"), "{err}");

        let missing = unique_label("no-such-wallet");
        let err = Pkcs11Wallet::open(&env.uri().with_object(&missing)).expect_err("missing key");
        assert_eq!(err.kind(), Pkcs11ErrorKind::KeyNotFound, "{err:?}");
        assert!(err.to_string().contains(&missing), "{err}");

        // An ed25519 session key is not a wallet key.
        let store = env.open();
        let ed_label = unique_label("ed-not-wallet");
        let ed = store.generate(&ed_label).unwrap();
        let err = Pkcs11Wallet::open(&env.uri().with_object(&ed_label)).expect_err("wrong key type");
        assert_eq!(err.kind(), Pkcs11ErrorKind::KeyUnusable, "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("not a secp256k1") && msg.contains(&ed_label), "{msg}");
        eprintln!("wrong key type: {msg}");
        store.delete(&ed).unwrap();

        // And the ed25519 store does not mistake a wallet key for a session key (on modules
        // that can make one).
        if env.kind.makes_secp256k1_keys() {
            let w_label = unique_label("wallet-not-ed");
            let (wallet, _) = Pkcs11Wallet::generate(&env.uri(), &w_label).unwrap();
            assert!(store.find_by_label(&w_label).is_err());
            wallet.delete().unwrap();
        }
    }
}

hsm_test! {
    only kryoptic because "only Kryoptic lacks secp256k1: it lists CKM_EC_KEY_PAIR_GEN (256 to 521 bits) and \
        CKM_ECDSA, so the wallet passes the mechanism probe and only generating a key shows it";
    /// Generating is the only probe; it gives a typed, permanent `CurveUnsupported` error at
    /// once (no recovery steps: a logged-in session answering `CKR_GENERAL_ERROR` is the
    /// curve), leaves nothing on the token, and the CLI prints the same message.
    fn kryoptic_refuses_secp256k1_with_a_typed_error(env) {
        use cryptoki::context::Function;
        use cryptoki::object::Attribute;
        use lit_session_signer::internal::pkcs11::store_token;

        let _g = env.shared();
        let label = unique_label("no-secp256k1");
        let err = Pkcs11Wallet::generate(&env.uri(), &label).expect_err("Kryoptic has no secp256k1");
        assert_eq!(err.kind(), Pkcs11ErrorKind::CurveUnsupported, "{err:?}");
        assert!(!err.is_transient());
        assert!(matches!(err.function(), Some(Function::GenerateKeyPair)), "{err:?}");
        assert_eq!(err.code(), Some("CKR_GENERAL_ERROR"));
        let msg = err.to_string();
        for part in [
            "the token cannot make secp256k1 keys",
            "generate secp256k1 wallet key",
            "C_GenerateKeyPair returned CKR_GENERAL_ERROR",
            &format!("token {:?}", env.main.label),
            "permanent (retrying will not help)",
            "for secp256k1: SoftHSM2",
        ] {
            assert!(msg.contains(part), "{part:?} missing from: {msg}");
        }
        eprintln!("secp256k1 on Kryoptic: {msg}");

        // Nothing was left behind under that label, and there is no wallet to open.
        let store = env.open();
        let token = store_token(&store);
        let left = token
            .run("look for leftovers", |session, _| {
                Ok(session.find_objects(&[Attribute::Label(label.as_bytes().to_vec())]).expect("C_FindObjects"))
            })
            .unwrap();
        assert!(left.is_empty(), "{} objects left behind", left.len());
        let err = Pkcs11Wallet::open(&env.uri().with_object(&label)).expect_err("nothing was made");
        assert_eq!(err.kind(), Pkcs11ErrorKind::KeyNotFound, "{err:?}");

        // The CLI: the same message, no panic, not a success.
        let out = lit_session(&["wallet", "generate", "--pkcs11-uri", &env.uri().to_string(), "--label", &label]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(
            stderr.contains("the token cannot make secp256k1 keys") && stderr.contains("CKR_GENERAL_ERROR"),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[cfg(feature = "alloy")]
mod alloy {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

    use alloy_signer::{Signer, SignerSync};
    use lit_session_signer::wallet::{AlloyWallet, Pkcs11Wallet, WalletSigner};

    use crate::common::unique_label;
    use crate::hsm_test;

    /// Polls a future that never waits (the adapter's async fns do not) to completion.
    fn run_ready<F: Future>(f: F) -> F::Output {
        const VTABLE: RawWakerVTable =
            RawWakerVTable::new(|_| RawWaker::new(std::ptr::null(), &VTABLE), |_| {}, |_| {}, |_| {});
        // SAFETY: the vtable's functions ignore the (null) data pointer.
        let waker = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) };
        let mut cx = Context::from_waker(&waker);
        let mut f = pin!(f);
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("the future waited"),
        }
    }

    hsm_test! {
        only softhsm2 because "Kryoptic 1.5.4 cannot make secp256k1 keys (see \
        `kryoptic_refuses_secp256k1_with_a_typed_error`)";
        fn alloy_signs_through_the_token_wallet(env) {
            let _g = env.shared();
            let (wallet, _) = Pkcs11Wallet::generate(&env.uri(), &unique_label("alloy")).unwrap();
            let ours = wallet.address();
            let mut signer = AlloyWallet::new(wallet);
            assert_eq!(signer.address().0 .0, *ours.as_bytes());

            let sig = signer.sign_message_sync(b"hello from the HSM").expect("alloy sign_message_sync");
            let recovered = sig.recover_address_from_msg(b"hello from the HSM").expect("alloy recovers");
            assert_eq!(recovered, signer.address());
            assert_eq!(recovered.to_checksum(None), ours.to_checksum());
            assert!(sig.normalize_s().is_none(), "alloy sees low-s");

            signer.set_chain_id(Some(175188));
            assert_eq!(signer.chain_id_sync(), Some(175188));
            let sig = run_ready(signer.sign_message(b"async")).expect("alloy async sign_message");
            assert_eq!(sig.recover_address_from_msg(b"async").unwrap(), signer.address());

            signer.into_inner().delete().unwrap();
        }
    }
}
