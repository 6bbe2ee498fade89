//! PKP sessions through the session manager: the simulated nodes sign the session key once,
//! and the manager reuses the network-signed AuthSig after checking it against the network key.

mod common;
mod simulator;

use std::sync::Arc;

use lit_session_signer::keystore::MemoryKeyStore;
use lit_session_signer::manager::{
    AuthSigUse, AuthSource, ManagerError, MemoryAuthSigStore, ResignReason, SessionKeyPolicy, SessionManager,
    SessionSigsOptions,
};
use lit_session_signer::pkp::{
    auth_method_type, AuthMethod, HttpTransport, PkpAuthCallback, PkpSessionSigsRequest, SignOptions,
};
use lit_session_signer::resources::ResourceAbilityRequest;
use lit_session_signer::verify::{Verifier, VerifyPolicy};
use lit_session_signer::Timestamp;
use simulator::{config_accepting, test_pkp, Simulator};

const TOKEN: &str = "google-jwt-for-the-manager-test";

fn manager(sim: &Simulator, with_key: bool) -> SessionManager {
    let template = PkpSessionSigsRequest::new(
        sim.urls(),
        test_pkp(1),
        vec![AuthMethod::new(auth_method_type::GOOGLE_JWT, TOKEN)],
        Vec::new(),
        &sim.config().latest_block_hash(),
        sim.config().epoch,
    );
    let callback = PkpAuthCallback::new(
        Arc::new(HttpTransport::new().unwrap()),
        template,
        SignOptions::new(sim.urls().len().min(7)),
    );
    let m = SessionManager::new(
        Arc::new(MemoryKeyStore::new()),
        SessionKeyPolicy::Labelled { prefix: "pkp-session".into(), rotate_after: None },
        AuthSource::callback(callback),
        Arc::new(MemoryAuthSigStore::new()),
    );
    if with_key {
        m.with_network_keys([sim.network_key()])
    } else {
        m
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_sign_the_session_key_once_for_many_calls() {
    let sim = Simulator::start(config_accepting(10, test_pkp(1), auth_method_type::GOOGLE_JWT, TOKEN)).await;
    let manager = manager(&sim, true);
    let nodes = sim.urls();
    let pkp: Vec<ResourceAbilityRequest> = vec!["lit-pkp://*=pkp-signing".parse().unwrap()];
    let options = SessionSigsOptions::new(&sim.config().latest_block_hash());
    let verifier = Verifier::new(VerifyPolicy::strict().with_network_key(sim.network_key()));
    for i in 0..20 {
        let report = manager.session_sigs_report(&nodes, &pkp, &options).await.unwrap();
        if i == 0 {
            assert!(matches!(report.auth_sig, AuthSigUse::Signed { reason: ResignReason::NotCached, .. }));
        } else {
            assert!(matches!(report.auth_sig, AuthSigUse::Reused { .. }), "{}", report.auth_sig);
        }
        for (node, sig) in report.sigs.iter() {
            let verified = verifier.verify(sig, node, &pkp[0], Timestamp::now()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(verified.user_address, test_pkp(1).address().to_checksum());
        }
    }
    assert_eq!(sim.received(0).len(), 1, "one sign_session_key round for 20 calls");

    // A new resource: the nodes are asked again.
    let action: Vec<ResourceAbilityRequest> = vec!["lit-litaction://*=lit-action-execution".parse().unwrap()];
    let report = manager.session_sigs_report(&nodes, &action, &options).await.unwrap();
    assert!(matches!(report.auth_sig, AuthSigUse::Signed { reason: ResignReason::NotCovered { .. }, .. }));
    assert_eq!(sim.received(0).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_network_key_a_network_signature_is_refused() {
    let sim = Simulator::start(config_accepting(4, test_pkp(1), auth_method_type::GOOGLE_JWT, TOKEN)).await;
    let manager = manager(&sim, false);
    let pkp: Vec<ResourceAbilityRequest> = vec!["lit-pkp://*=pkp-signing".parse().unwrap()];
    let err = manager
        .session_sigs(&sim.urls(), &pkp, &SessionSigsOptions::new(&sim.config().latest_block_hash()))
        .await
        .unwrap_err();
    assert!(matches!(err, ManagerError::Rejected(ResignReason::Unverifiable)), "{err}");
}
