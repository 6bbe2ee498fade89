//! PKP and Lit Action session signatures end to end against the in-process Lit node simulator
//! (10 nodes, real BLS key shares), with an in-memory session key.

mod common;
mod simulator;

use std::time::{Duration, Instant};

use lit_session_signer::bls::{self, verify_lit_bls_auth_sig, NetworkPublicKey};
use lit_session_signer::keystore::{KeyId, MemoryKeyStore, SessionKeyStore};
use lit_session_signer::pkp::{
    auth_method_type, AuthMethod, EncodedRequest, HttpTransport, LitAction, NodeFailureReason, PkpSessionSigs,
    PkpSessionSigsRequest, SignOptions, SignSessionKeyError, TransportError,
};
use lit_session_signer::recap::Recap;
use lit_session_signer::resources::ResourceAbilityRequest;
use lit_session_signer::session_sigs::NodeUrl;
use lit_session_signer::verify::{Verifier, VerifyError, VerifyPolicy};
use lit_session_signer::Timestamp;
use serde_json::{json, Value};
use simulator::{config_accepting, test_pkp, Fault, KnownAction, Simulator, SimulatorConfig};

const TOKEN: &str = "google-jwt-for-the-test-user";

fn requests() -> Vec<ResourceAbilityRequest> {
    vec!["lit-pkp://*=pkp-signing".parse().unwrap(), "lit-litaction://*=lit-action-execution".parse().unwrap()]
}

fn session_key() -> (MemoryKeyStore, KeyId) {
    let store = MemoryKeyStore::new();
    let id = store.generate("pkp-session").unwrap();
    (store, id)
}

fn pkp_request(sim: &Simulator, token: &str) -> PkpSessionSigsRequest {
    PkpSessionSigsRequest::new(
        sim.urls(),
        test_pkp(1),
        vec![AuthMethod::new(auth_method_type::GOOGLE_JWT, token)],
        requests(),
        &sim.config().latest_block_hash(),
        sim.config().epoch,
    )
}

async fn start(nodes: usize) -> Simulator {
    Simulator::start(config_accepting(nodes, test_pkp(1), auth_method_type::GOOGLE_JWT, TOKEN)).await
}

/// Checks every node's session sig as that node would (and with the strict rules), the
/// network key configured, plus the network signature on its own.
fn assert_accepted(sigs: &PkpSessionSigs, request: &PkpSessionSigsRequest, network_key: &NetworkPublicKey) {
    verify_lit_bls_auth_sig(&sigs.signed.auth_sig, network_key).expect("the LIT_BLS AuthSig verifies");
    assert_eq!(sigs.session_sigs.len(), request.nodes.len());
    let pkp_address = request.pkp_public_key.address().to_checksum();
    for policy in [VerifyPolicy::node(), VerifyPolicy::strict()] {
        let verifier = Verifier::new(policy.with_network_key(*network_key));
        for (node, sig) in sigs.session_sigs.iter() {
            let caps = serde_json::from_str::<Value>(&sig.signed_message).unwrap()["capabilities"].clone();
            let last = caps.as_array().unwrap().last().unwrap().clone();
            assert_eq!(
                last,
                serde_json::to_value(&sigs.signed.auth_sig).unwrap(),
                "the PKP AuthSig is the last capability"
            );
            for r in &request.requests {
                let verified =
                    verifier.verify(sig, node, r, Timestamp::now()).unwrap_or_else(|e| panic!("{node}: {e}"));
                assert_eq!(verified.user_address, pkp_address);
            }
        }
    }
    // Without the network key the verifier cannot decide, and says so.
    let (node, sig) = sigs.session_sigs.iter().next().unwrap();
    let err =
        Verifier::new(VerifyPolicy::node()).verify(sig, node, &request.requests[0], Timestamp::now()).unwrap_err();
    assert!(matches!(err, VerifyError::NeedsNetworkKey { .. }), "{err}");
    // Another network's key does not verify it.
    let (other, _) = bls::deal_shares_from_seed(1, 1, &[99; 32]).unwrap();
    let verifier = Verifier::new(VerifyPolicy::node().with_network_key(other));
    assert!(verifier.verify(sig, node, &request.requests[0], Timestamp::now()).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkp_session_sigs_from_ten_nodes() {
    let sim = start(10).await;
    let (store, id) = session_key();
    let request = pkp_request(&sim, TOKEN);
    let options = SignOptions::new(7).with_timeout(Duration::from_secs(10));
    let sigs = request.sign(&HttpTransport::new().unwrap(), &store, &id, &options).await.expect("PKP session sigs");
    assert_accepted(&sigs, &request, &sim.network_key());
    assert!(sigs.signed.signers.len() >= 7 && sigs.signed.failures.is_empty(), "{:?}", sigs.signed.failures);
    assert_eq!(sigs.signed.network_public_key, sim.network_key());

    // The node-built SIWE: PKP address, block time to the second, the node's auth-context ReCap.
    let auth_sig = &sigs.signed.auth_sig;
    assert_eq!((auth_sig.algo.as_deref(), auth_sig.derived_via.as_str()), (Some("LIT_BLS"), "lit.bls"));
    assert_eq!(auth_sig.address, test_pkp(1).address().to_checksum());
    let siwe = lit_session_signer::siwe::parse(&auth_sig.signed_message).unwrap();
    let issued = siwe.issued_at.to_string();
    assert!(issued.ends_with('Z') && issued.len() == 20, "{issued}");
    assert_eq!(auth_sig.signed_message.matches("I further authorize the stated URI").count(), 3);
    let recap = Recap::decode(siwe.resources.last().unwrap().as_str()).unwrap();
    let context = &recap.attenuations()["lit-resolvedauthcontext://*"]["Auth/Auth"][0]["auth_context"];
    assert_eq!(context["authMethodContexts"][0]["authMethodType"], 6);
    assert!(recap.grants(requests()[0].resource(), requests()[0].ability()));

    // Every node got the same body and request id, with the SDK's headers.
    let ids = simulator::request_ids(&sim);
    let first = ids.values().flatten().next().expect("a request id");
    assert!(first.starts_with("lit_"));
    // The driver stops once 7 answers combine, so a late node may not have been reached.
    let reached: Vec<usize> = (0..10).filter(|i| !sim.received(*i).is_empty()).collect();
    assert!(reached.len() >= 7);
    for i in reached {
        let got = &sim.received(i)[0];
        assert_eq!(simulator::header(got, "x-request-id"), Some(first.as_str()));
        assert_eq!(simulator::header(got, "x-lit-sdk-version"), Some("7.4.0"));
        assert_eq!(simulator::header(got, "x-lit-sdk-type"), Some("Typescript"));
        assert_eq!(simulator::header(got, "content-type"), Some("application/json"));
        assert_eq!(simulator::header(got, "accept"), Some("application/json"));
        assert_eq!(got.body, sim.received(0)[0].body);
    }
    let body: Value = serde_json::from_slice(&sim.received(0)[0].body).unwrap();
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["sessionKey", "authMethods", "pkpPublicKey", "siweMessage", "curveType", "epoch"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lit_action_session_sigs_by_code_and_by_ipfs_id() {
    let code = "(async () => { LitActions.setResponse({ response: 'true' }); })();";
    let by_code = LitAction::from_code(code, json!({"magic": 42})).unwrap();
    let by_cid = LitAction::from_ipfs_id("QmSimulatedAction1111111111111111111111111111", json!({})).unwrap();
    let mut config = SimulatorConfig::new(10, 7);
    let code_b64 = match by_code.source() {
        lit_session_signer::pkp::LitActionSource::Code(b64) => b64.clone(),
        other => panic!("{other:?}"),
    };
    config.actions.push(KnownAction { code_base64: Some(code_b64), ipfs_id: "QmCodeCid".into(), pkp: test_pkp(1) });
    config.actions.push(KnownAction {
        code_base64: None,
        ipfs_id: "QmSimulatedAction1111111111111111111111111111".into(),
        pkp: test_pkp(1),
    });
    let sim = Simulator::start(config).await;
    let transport = HttpTransport::new().unwrap();
    for (action, cid, field) in
        [(by_code, "QmCodeCid", "code"), (by_cid, "QmSimulatedAction1111111111111111111111111111", "litActionIpfsId")]
    {
        let (store, id) = session_key();
        let request = PkpSessionSigsRequest::lit_action(
            sim.urls(),
            test_pkp(1),
            action,
            requests(),
            &sim.config().latest_block_hash(),
            1,
        );
        let sigs = request.sign(&transport, &store, &id, &SignOptions::new(7)).await.expect("Lit Action session sigs");
        assert_accepted(&sigs, &request, &sim.network_key());
        let siwe = lit_session_signer::siwe::parse(&sigs.signed.auth_sig.signed_message).unwrap();
        let recap = Recap::decode(siwe.resources.last().unwrap().as_str()).unwrap();
        let context = &recap.attenuations()["lit-resolvedauthcontext://*"]["Auth/Auth"][0]["auth_context"];
        assert_eq!(context["actionIpfsIds"], json!([cid]));
        let body: Value = serde_json::from_slice(&sim.received(0).last().unwrap().body).unwrap();
        assert!(body.get(field).is_some() && body["jsParams"].is_object(), "{body}");
    }
    // An action the network does not know is refused by every node, and the error says so.
    let unknown = LitAction::from_ipfs_id("QmUnknown", json!({})).unwrap();
    let (store, id) = session_key();
    let request = PkpSessionSigsRequest::lit_action(
        sim.urls(),
        test_pkp(1),
        unknown,
        requests(),
        &sim.config().latest_block_hash(),
        1,
    );
    let err = request.sign(&transport, &store, &id, &SignOptions::new(7)).await.unwrap_err().to_string();
    assert!(err.contains("HTTP 401") && err.contains("did not return true"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_below_the_threshold_are_tolerated() {
    let sim = start(10).await;
    sim.set_fault(0, Fault::Delay(Duration::from_secs(30)));
    sim.set_fault(1, Fault::Garbage);
    sim.set_fault(2, Fault::Http500);
    let (store, id) = session_key();
    let request = pkp_request(&sim, TOKEN);
    let options = SignOptions::new(7).with_timeout(Duration::from_millis(500));
    let started = Instant::now();
    let sigs = request.sign(&HttpTransport::new().unwrap(), &store, &id, &options).await.expect("7 good nodes suffice");
    assert!(started.elapsed() < Duration::from_secs(5), "did not wait for the slow node");
    assert_accepted(&sigs, &request, &sim.network_key());
    let faulty: Vec<NodeUrl> = sim.urls()[..3].to_vec();
    assert_eq!(sigs.signed.signers.len(), 7);
    assert!(sigs.signed.signers.iter().all(|n| !faulty.contains(n)));
    assert!(sigs.signed.failures.iter().all(|f| faulty.contains(&f.node)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_shares_are_named_and_left_out() {
    let sim = start(10).await;
    sim.set_fault(3, Fault::WrongShare);
    sim.set_fault(4, Fault::WrongShare);
    // Let the bad shares arrive first so they are among those combined.
    for i in (0..10).filter(|i| ![3, 4].contains(i)) {
        sim.set_fault(i, Fault::Delay(Duration::from_millis(150)));
    }
    let (store, id) = session_key();
    let request = pkp_request(&sim, TOKEN);
    let sigs =
        request.sign(&HttpTransport::new().unwrap(), &store, &id, &SignOptions::new(7)).await.expect("8 good shares");
    assert_accepted(&sigs, &request, &sim.network_key());
    let urls = sim.urls();
    assert!(!sigs.signed.signers.contains(&urls[3]) && !sigs.signed.signers.contains(&urls[4]));
    for bad in [3, 4] {
        assert!(
            sigs.signed.failures.iter().any(|f| f.node == urls[bad] && f.reason == NodeFailureReason::RejectedShare),
            "{:?}",
            sigs.signed.failures
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_above_the_threshold_fail_naming_each_node() {
    let sim = start(10).await;
    for i in 0..2 {
        sim.set_fault(i, Fault::Delay(Duration::from_secs(30)));
    }
    sim.set_fault(2, Fault::Garbage);
    sim.set_fault(3, Fault::Http500);
    let (store, id) = session_key();
    let request = pkp_request(&sim, TOKEN);
    let options = SignOptions::new(7).with_timeout(Duration::from_millis(300));
    let err = request.sign(&HttpTransport::new().unwrap(), &store, &id, &options).await.unwrap_err();
    let text = err.to_string();
    let urls = sim.urls();
    assert!(text.contains("only 6 of 10 nodes gave a usable answer, 7 needed"), "{text}");
    assert!(text.contains(&format!("{}: timed out after 300 ms", urls[0])), "{text}");
    assert!(text.contains(&format!("{}: timed out after 300 ms", urls[1])), "{text}");
    assert!(text.contains(&format!("{}: bad JSON", urls[2])), "{text}");
    assert!(text.contains(&format!("{}: HTTP 500: NodeUnknownError: simulated internal error", urls[3])), "{text}");
    let lit_session_signer::pkp::PkpSessionError::SignSessionKey(SignSessionKeyError::NotEnoughResponses {
        failures,
        ..
    }) = err
    else {
        panic!("{text}")
    };
    assert_eq!(failures.0.len(), 4);
    assert_eq!(failures.0[0].reason, NodeFailureReason::Transport(TransportError::Timeout(Duration::from_millis(300))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_disagreeing_on_the_network_key() {
    let sim = start(10).await;
    sim.set_fault(5, Fault::WrongRootKey);
    for i in (0..10).filter(|i| *i != 5) {
        sim.set_fault(i, Fault::Delay(Duration::from_millis(150)));
    }
    let (store, id) = session_key();
    let request = pkp_request(&sim, TOKEN);
    let transport = HttpTransport::new().unwrap();
    let err = request.sign(&transport, &store, &id, &SignOptions::new(7)).await.unwrap_err().to_string();
    assert!(err.contains("nodes disagree on the network key") && err.contains(sim.urls()[5].as_str()), "{err}");
    // With the key pinned, the odd node is left out and named.
    let options = SignOptions::new(7).with_network_public_key(sim.network_key());
    let sigs = request.sign(&transport, &store, &id, &options).await.expect("pinned key");
    assert_accepted(&sigs, &request, &sim.network_key());
    assert!(matches!(sigs.signed.failures[0].reason, NodeFailureReason::OtherRootKey { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_refusals_are_reported() {
    let sim = start(4).await;
    let transport = HttpTransport::new().unwrap();
    let (store, id) = session_key();
    // An access token the network does not accept.
    let err = pkp_request(&sim, "someone-elses-token").sign(&transport, &store, &id, &SignOptions::new(3)).await;
    let text = err.unwrap_err().to_string();
    assert!(text.contains("HTTP 401: NodeAuthFailed: auth method of type 6 not accepted"), "{text}");
    // A nonce that is not a known block hash.
    let mut request = pkp_request(&sim, TOKEN);
    request.params.nonce = simulator::test_block_hash(999);
    let text = request.sign(&transport, &store, &id, &SignOptions::new(3)).await.unwrap_err().to_string();
    assert!(text.contains("Error fetching block from hash"), "{text}");
    // The wrong epoch.
    let mut request = pkp_request(&sim, TOKEN);
    request.epoch = 9;
    let text = request.sign(&transport, &store, &id, &SignOptions::new(3)).await.unwrap_err().to_string();
    assert!(text.contains("epoch 9 is not the current epoch 1"), "{text}");
    // A node that is not there at all.
    let mut request = pkp_request(&sim, TOKEN);
    request.nodes.push("http://127.0.0.1:9".parse().unwrap());
    let text = request.sign(&transport, &store, &id, &SignOptions::new(5)).await.unwrap_err().to_string();
    assert!(text.contains("http://127.0.0.1:9: connection failed"), "{text}");
}

/// The client SIWE is the SDK's: its statement is the real node SIWE's statement without the
/// node's appended sentence, and the simulator rebuilds it to the real node's shape.
#[test]
fn siwe_matches_the_real_node_vector() {
    let vector = common::vector("bls-sign-session-key.json");
    let real = vector["responses"][0]["siweMessage"].as_str().unwrap();
    let real_lines: Vec<&str> = real.lines().collect();
    let real_statement = real_lines[3];
    let node_sentence = " I further authorize the stated URI to perform the following actions on my behalf: \
        (1) 'Threshold': 'Execution' for 'lit-litaction://*'. (2) 'Threshold': 'Signing' for 'lit-pkp://*'. \
        (3) 'Auth': 'Auth' for 'lit-resolvedauthcontext://*'.";
    let client_statement = real_statement.strip_suffix(node_sentence).expect("the node appends its ReCap sentence");

    let session = MemoryKeyStore::new();
    let key = session.public_key(&session.generate("s").unwrap()).unwrap();
    let mut config = config_accepting(3, test_pkp(1), auth_method_type::GOOGLE_JWT, TOKEN);
    let block_time = time::macros::datetime!(2024-04-25 02:09:35 UTC);
    config.blocks = vec![(real_lines[8].trim_start_matches("Nonce: ").to_string(), block_time)];
    config.now = Some(block_time + time::Duration::seconds(15));
    let mut request = PkpSessionSigsRequest::new(
        vec!["http://127.0.0.1:1".parse().unwrap()],
        test_pkp(1),
        vec![AuthMethod::new(auth_method_type::GOOGLE_JWT, TOKEN)],
        vec!["lit-litaction://*=lit-action-execution".parse().unwrap(), "lit-pkp://*=pkp-signing".parse().unwrap()],
        &config.blocks[0].0,
        1,
    );
    request.now = "2024-04-25T02:09:50.822Z".parse::<Timestamp>().unwrap();
    request.params.expiration = Some("2024-04-26T02:09:50.822Z".parse().unwrap());
    let ours = request.siwe(&key).render().unwrap();
    assert_eq!(ours.lines().nth(3), Some(client_statement));
    assert!(ours.starts_with("litprotocol.com wants you to sign in with your Ethereum account:\n"));

    let network = simulator::OfflineNetwork::new(config);
    let body = EncodedRequest::new(&request.sign_session_key_request(&key).unwrap()).unwrap();
    let (status, answer) = network.answer(0, body.body());
    assert_eq!(status, 200, "{answer}");
    let node_siwe = answer["siweMessage"].as_str().unwrap();
    // Same text as the real node's, line for line, but for the address, session key, and ReCap.
    let replace = |text: &str, from: &[&str], to: &[&str]| {
        from.iter().zip(to).fold(text.to_string(), |t, (f, to)| t.replace(f, to))
    };
    let ours_lines: Vec<&str> = node_siwe.lines().collect();
    let normalised = replace(
        node_siwe,
        &[ours_lines[1], ours_lines[5], ours_lines[12]],
        &[real_lines[1], real_lines[5], real_lines[12]],
    );
    assert_eq!(normalised, real);
    assert_eq!(answer["dataSigned"], hex::encode(bls::session_digest(node_siwe)));
}
