//! The policy parser never panics, and whatever it accepts it can evaluate without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lit_session_server::policy::{Format, PaymentQuery, Policy, RequestedResource, SigsQuery};
use lit_session_server::signing::{self, PaymentScope, Price, Timestamp};

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
    let v8_prices = vec![(nodes[0].clone(), Price::from(1000u64))];
    for client in policy.client_names().map(str::to_string).collect::<Vec<_>>() {
        for req in [&requested[..1], &requested[1..], &requested[..]] {
            for (format, prices, default) in
                [(Format::V7, &[][..], None), (Format::V8, &v8_prices[..], Some(signing::V8_SESSION_LIFETIME))]
            {
                let q = SigsQuery {
                    client: &client,
                    signer: "default",
                    requests: req,
                    nodes: &nodes,
                    expiration: None,
                    default_lifetime: default,
                    format,
                    max_prices: prices,
                    now: Timestamp::now(),
                };
                let d = policy.evaluate(&q);
                assert!(!d.rule.is_empty());
            }
        }
        let q = PaymentQuery {
            client: &client,
            signer: "treasury",
            max_price: Price::from(1000u64),
            scopes: &[PaymentScope::PkpSign],
            delegatees: &["5d467fe98ff120fe0c85f2217bc61732571b28ec".to_string()],
            expiration: None,
            now: Timestamp::now(),
        };
        assert!(!policy.evaluate_payment(&q).rule.is_empty());
    }
});
