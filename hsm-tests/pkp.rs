//! PKP and Lit Action session sigs with the session key on a SoftHSM2 token, against the
//! in-process Lit node simulator (10 nodes, real BLS key shares): library and CLI paths.

#[path = "../tests/simulator/mod.rs"]
mod simulator;

use std::process::Command;
use std::time::Duration;

use lit_session_signer::bls::verify_lit_bls_auth_sig;
use lit_session_signer::keystore::SessionKeyStore;
use lit_session_signer::pkp::{
    auth_method_type, AuthMethod, HttpTransport, LitAction, PkpSessionSigs, PkpSessionSigsRequest, SignOptions,
};
use lit_session_signer::resources::ResourceAbilityRequest;
use lit_session_signer::session_sigs::{NodeUrl, SessionSig};
use lit_session_signer::verify::{Verifier, VerifyPolicy};
use lit_session_signer::Timestamp;
use serde_json::{json, Value};
use simulator::{config_accepting, test_pkp, Fault, KnownAction, Simulator};

use crate::common::{self, unique_label};
use crate::hsm_test;

const TOKEN: &str = "hsm-test-google-jwt";

fn requests() -> Vec<ResourceAbilityRequest> {
    vec!["lit-pkp://*=pkp-signing".parse().unwrap(), "lit-litaction://*=lit-action-execution".parse().unwrap()]
}

fn assert_accepted(sigs: &PkpSessionSigs, request: &PkpSessionSigsRequest, sim: &Simulator, session_key: &str) {
    verify_lit_bls_auth_sig(&sigs.signed.auth_sig, &sim.network_key()).expect("LIT_BLS AuthSig");
    assert_eq!(sigs.session_sigs.len(), 10);
    let verifier = Verifier::new(VerifyPolicy::strict().with_network_key(sim.network_key()));
    for (node, sig) in sigs.session_sigs.iter() {
        assert_eq!(sig.address, session_key);
        for r in &request.requests {
            let v = verifier.verify(sig, node, r, Timestamp::now()).unwrap_or_else(|e| panic!("{node}: {e}"));
            assert_eq!(v.user_address, test_pkp(1).address().to_checksum());
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

hsm_test! {
    fn pkp_and_lit_action_session_sigs_with_a_token_session_key(env) {
        // A sync guard, so the async part runs inside it rather than holding it across awaits.
        let _g = env.shared();
        runtime().block_on(token_key_flows(env));
    }
}

async fn token_key_flows(env: &common::HsmEnv) {
    let store = env.open();
    let id = store.generate(&unique_label("pkp")).expect("generate on the token");
    let public_key = hex::encode(store.public_key(&id).unwrap().as_bytes());

    let mut config = config_accepting(10, test_pkp(1), auth_method_type::GOOGLE_JWT, TOKEN);
    config.actions.push(KnownAction { code_base64: None, ipfs_id: "QmHsmAction".into(), pkp: test_pkp(1) });
    let sim = Simulator::start(config).await;
    // Two nodes misbehave; 8 of 10 is above the threshold of 7.
    sim.set_fault(2, Fault::Delay(Duration::from_secs(30)));
    sim.set_fault(6, Fault::WrongShare);
    let transport = HttpTransport::new().unwrap();
    let options = SignOptions::new(7).with_timeout(Duration::from_secs(2));
    let nonce = sim.config().latest_block_hash();

    let pkp = PkpSessionSigsRequest::new(
        sim.urls(),
        test_pkp(1),
        vec![AuthMethod::new(auth_method_type::GOOGLE_JWT, TOKEN)],
        requests(),
        &nonce,
        1,
    );
    let sigs = pkp.sign(&transport, &store, &id, &options).await.expect("PKP session sigs");
    assert_accepted(&sigs, &pkp, &sim, &public_key);
    assert!(!sigs.signed.signers.contains(&sim.urls()[2]) && !sigs.signed.signers.contains(&sim.urls()[6]));

    let action = LitAction::from_ipfs_id("QmHsmAction", json!({"n": 1})).unwrap();
    let lit = PkpSessionSigsRequest::lit_action(sim.urls(), test_pkp(1), action, requests(), &nonce, 1);
    let sigs = lit.sign(&transport, &store, &id, &options).await.expect("Lit Action session sigs");
    assert_accepted(&sigs, &lit, &sim, &public_key);
    store.delete(&id).unwrap();
}

hsm_test! {
    fn cli_mints_pkp_session_sigs_with_a_token_key(env) {
        // The CLI opens the token from another process (SoftHSM#757): nothing else runs meanwhile.
        let _g = env.exclusive();
        let rt = runtime();
        let sim = rt.block_on(Simulator::start(config_accepting(10, test_pkp(1), auth_method_type::GOOGLE_JWT, TOKEN)));
        let store = env.open();
        let label = unique_label("pkp-cli");
        let id = store.generate(&label).expect("generate on the token");
        let public_key = hex::encode(store.public_key(&id).unwrap().as_bytes());
        let key_uri = env.uri().with_id(id.as_bytes()).to_string();

        let dir = tempfile::tempdir().unwrap();
        let auth = dir.path().join("auth.json");
        crate::common::write_private(&auth, json!({"authMethodType": 6, "accessToken": TOKEN}).to_string().as_bytes());
        let mut args: Vec<String> = vec![
            "pkp-session-sigs".into(),
            "--pkp-public-key".into(),
            test_pkp(1).to_hex(),
            "--auth-method-file".into(),
            auth.to_str().unwrap().into(),
            "--session-key".into(),
            key_uri,
            "--resource".into(),
            "lit-pkp://*=pkp-signing".into(),
            "--nonce".into(),
            sim.config().latest_block_hash(),
            "--epoch".into(),
            "1".into(),
            "--network-public-key".into(),
            sim.network_key().to_hex(),
        ];
        for url in sim.urls() {
            args.extend(["--node".into(), url.to_string()]);
        }
        let out = Command::new(env!("CARGO_BIN_EXE_lit-session")).args(&args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let map: Value = serde_json::from_slice(&out.stdout).unwrap();
        let verifier = Verifier::new(VerifyPolicy::strict().with_network_key(sim.network_key()));
        let request: ResourceAbilityRequest = "lit-pkp://*=pkp-signing".parse().unwrap();
        assert_eq!(map.as_object().unwrap().len(), 10);
        for (url, entry) in map.as_object().unwrap() {
            let sig: SessionSig = serde_json::from_value(entry.clone()).unwrap();
            assert_eq!(sig.address, public_key);
            let node: NodeUrl = url.parse().unwrap();
            verifier.verify(&sig, &node, &request, Timestamp::now()).unwrap_or_else(|e| panic!("{url}: {e}"));
        }
        store.delete(&id).unwrap();
    }
}
