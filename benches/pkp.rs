//! PKP session sigs: what the client side costs for N nodes, against its floors, and the whole
//! flow over loopback HTTP with the simulated nodes on the same machine.
//!
//! Columns (medians, in-memory session key):
//! - client: `PkpSessionSigsRequest::sign` on recorded node answers (no HTTP): parse and check
//!   N answers, combine + verify the shares, sign N session messages;
//! - floor: decoding the threshold's shares + `combine_verified` on them + N ed25519-dalek
//!   signatures of session-message size;
//! - http: the same over HTTP against N simulated nodes on 127.0.0.1 (their BLS signing and
//!   SIWE rebuilding share the 2 cores, so this is mostly the simulator's cost).
//!
//! `cargo bench --bench pkp` (`REPS=n` for more repetitions).

#[path = "../tests/simulator/mod.rs"]
mod simulator;

#[path = "support/timing.rs"]
#[allow(dead_code)] // `time` is for the other benches
mod timing;

use std::time::{Duration, Instant};

use ed25519_dalek::{Signer, SigningKey};
use lit_session_signer::bls::{self, SignatureShare};
use lit_session_signer::keystore::{MemoryKeyStore, SessionKeyStore};
use lit_session_signer::pkp::{
    auth_method_type, AuthMethod, EncodedRequest, HttpTransport, PkpSessionSigsRequest, SignOptions,
    SignSessionKeyResponse,
};
use lit_session_signer::session_sigs::NodeUrl;
use simulator::{config_accepting, test_pkp, OfflineNetwork, Simulator};
use timing::median;

const NODES: [usize; 3] = [10, 30, 100];

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let reps: usize = std::env::var("REPS").ok().and_then(|r| r.parse().ok()).unwrap_or(15);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let store = MemoryKeyStore::new();
    let id = store.generate("bench").unwrap();
    let public_key = store.public_key(&id).unwrap();
    let dalek = SigningKey::from_bytes(&[7; 32]);
    println!("| N | client | = answers → AuthSig | + session sigs | floor (shares + combine + N ed25519) | client/floor | http (simulated nodes) |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for n in NODES {
        let threshold = (2 * n).div_ceil(3);
        let config = config_accepting(n, test_pkp(1), auth_method_type::GOOGLE_JWT, "bench-token");
        let nonce = config.latest_block_hash();
        let urls: Vec<NodeUrl> = (0..n).map(|i| format!("http://127.0.0.1:{}", 20000 + i).parse().unwrap()).collect();
        let request = |nodes: Vec<NodeUrl>| {
            PkpSessionSigsRequest::new(
                nodes,
                test_pkp(1),
                vec![AuthMethod::new(auth_method_type::GOOGLE_JWT, "bench-token")],
                vec!["lit-pkp://*=pkp-signing".parse().unwrap()],
                &nonce,
                1,
            )
        };
        let offline = request(urls.clone());
        let network = OfflineNetwork::new(config.clone());
        let body = EncodedRequest::new(&offline.sign_session_key_request(&public_key).unwrap()).unwrap();
        let canned = network.canned(&urls, body.body());
        let options = SignOptions::new(threshold);

        // The floor's inputs: the threshold's shares as hex, session-message-sized messages.
        let first = SignSessionKeyResponse::from_json_slice(&canned.0[urls[0].as_str()]).unwrap();
        let digest = bls::session_digest(&first.siwe_message);
        let share_hex: Vec<String> = urls
            .iter()
            .take(threshold)
            .map(|u| {
                SignSessionKeyResponse::from_json_slice(&canned.0[u.as_str()])
                    .unwrap()
                    .signature_share
                    .proof_of_possession
            })
            .collect();
        let messages: Vec<Vec<u8>> = (0..n).map(|i| format!("{i:04}{}", "x".repeat(2300)).into_bytes()).collect();
        let signed = rt.block_on(offline.sign_session_key(&canned, &public_key, &options)).unwrap();
        let timed = |f: &mut dyn FnMut()| {
            let t = Instant::now();
            f();
            t.elapsed()
        };
        // Interleaved, so load from other processes hits every column alike.
        let (mut client, mut answers, mut sessions, mut floor) = (vec![], vec![], vec![], vec![]);
        for _ in 0..=reps {
            client.push(timed(&mut || {
                std::hint::black_box(rt.block_on(offline.sign(&canned, &store, &id, &options)).unwrap());
            }));
            answers.push(timed(&mut || {
                std::hint::black_box(rt.block_on(offline.sign_session_key(&canned, &public_key, &options)).unwrap());
            }));
            sessions.push(timed(&mut || {
                std::hint::black_box(offline.session_sigs(&store, &id, &signed).unwrap());
            }));
            floor.push(timed(&mut || {
                let shares: Vec<SignatureShare> =
                    share_hex.iter().map(|h| SignatureShare::from_hex(h).unwrap()).collect();
                std::hint::black_box(
                    bls::combine_verified(&shares, threshold, &network.network_key(), &digest).unwrap(),
                );
                for m in &messages {
                    std::hint::black_box(dalek.sign(m));
                }
            }));
        }
        let (client, answers, sessions, floor) = (median(client), median(answers), median(sessions), median(floor));

        let sim = rt.block_on(Simulator::start(config));
        let live = request(sim.urls());
        let transport = HttpTransport::new().unwrap();
        let http = median(
            (0..=reps.min(7))
                .map(|_| {
                    let t = Instant::now();
                    std::hint::black_box(rt.block_on(live.sign(&transport, &store, &id, &options)).unwrap());
                    t.elapsed()
                })
                .collect(),
        );
        drop(sim);
        println!(
            "| {n} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.2}× | {:.1} ms |",
            ms(client),
            ms(answers),
            ms(sessions),
            ms(floor),
            client.as_secs_f64() / floor.as_secs_f64(),
            ms(http)
        );
    }
}
