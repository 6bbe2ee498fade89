//! The policy parser never panics, and whatever it accepts it can evaluate without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lit_session_server::policy::{Policy, RequestedResource, SigsQuery};
use lit_session_server::signing::{self, Timestamp};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let signers = ["default".to_string(), "treasury".to_string()].into();
    let Ok(policy) = Policy::parse(text, &signers) else { return };
    let requested: Vec<RequestedResource> = [("lit-pkp", "*", "pkp-signing"), ("lit-litaction", "QmX", "lit-action-execution")]
        .iter()
        .map(|(p, id, a)| {
            let prefix = signing::parse_prefix(p).unwrap_or_else(|_| unreachable!());
            RequestedResource {
                prefix,
                id: signing::normalize_id(prefix, id).unwrap_or_default(),
                ability: signing::parse_ability(a).unwrap_or_else(|_| unreachable!()),
                display: format!("{p}://{id}={a}"),
            }
        })
        .collect();
    let nodes = vec!["https://127.0.0.1:7470".to_string()];
    for client in policy.client_names().map(str::to_string).collect::<Vec<_>>() {
        for req in [&requested[..1], &requested[1..], &requested[..]] {
            let q = SigsQuery { client: &client, signer: "default", requests: req, nodes: &nodes, expiration: None, now: Timestamp::now() };
            let d = policy.evaluate(&q);
            assert!(!d.rule.is_empty());
        }
    }
});
