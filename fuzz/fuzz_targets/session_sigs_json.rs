//! A sessionSigs file (or a single SessionSig) from arbitrary bytes: parse, verify with and
//! without the capability cache (they must agree), strict policy, the Naga reading (never
//! laxer than Datil's), selection and inspection.
//! Seeds: the real and SDK-made session sigs in tests/vectors, which verify, so mutations
//! of them reach every rule.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lit_session_signer::resources::ResourceAbilityRequest;
use lit_session_signer::session_sigs::NodeUrl;
use lit_session_signer::verify::{
    inspect, parse_session_sigs, select_session_sig, verify_session_sig, Generation, Verifier, VerifyPolicy,
};
use lit_session_signer::Timestamp;

// The vectors' verification times (wrapped-keys PKP, EOA, the SDK-made vector, the v8 fixture and
// the v8 vector).
const NOWS: [&str; 5] = [
    "2024-06-03T07:47:15.707Z",
    "2024-06-03T08:45:04.564Z",
    "2025-03-15T12:34:56.789Z",
    "2025-04-09T14:37:09.373Z",
    "2026-01-20T09:30:15.250Z",
];
const REQUESTS: [&str; 3] = [
    "lit-pkp://*=pkp-signing",
    "lit-litaction://*=lit-action-execution",
    "lit-accesscontrolcondition://*=access-control-condition-decryption",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(entries) = parse_session_sigs(text) else { return };
    let pick = data.len();
    let now: Timestamp = NOWS[pick % NOWS.len()].parse().expect("constant");
    let request: ResourceAbilityRequest = REQUESTS[(pick / 3) % REQUESTS.len()].parse().expect("constant");
    let verifier = Verifier::new(VerifyPolicy::node());
    let strict = Verifier::new(VerifyPolicy::strict());
    let naga = Verifier::new(VerifyPolicy::node().for_generation(Generation::Naga));
    for entry in &entries {
        let node: NodeUrl = entry
            .node
            .as_deref()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| "https://207.244.70.36:8474".parse().expect("constant"));
        let uncached = verify_session_sig(&entry.session_sig, &node, &request, now, &VerifyPolicy::node());
        let cached = verifier.verify(&entry.session_sig, &node, &request, now);
        assert_eq!(uncached, cached, "the capability cache changed the verdict");
        // A second call is served from the cache and must agree too.
        assert_eq!(cached, verifier.verify(&entry.session_sig, &node, &request, now));
        let strict_result = strict.verify(&entry.session_sig, &node, &request, now);
        if strict_result.is_ok() {
            assert!(cached.is_ok(), "strict passed where the node's rules failed: {cached:?}");
        }
        if let Ok(v) = &cached {
            assert!(v.expiration >= v.issued_at);
        }
        // A Naga node reads what a Datil node reads and also requires maxPrice.
        if naga.verify(&entry.session_sig, &node, &request, now).is_ok() {
            assert!(cached.is_ok(), "the Naga reading passed where the Datil one failed: {cached:?}");
        }
        // The entry read as the node reads a request's authSig: never a panic, and once it reads,
        // the same verdict as its fields.
        let read = verifier.verify_entry(entry, &node, &request, now);
        if let Ok(sig) = lit_session_signer::verify::rules::read_session_sig(&entry.json) {
            assert_eq!(read, verifier.verify(&sig, &node, &request, now));
        }
        let _ = entry.node_address();
        let _ = select_session_sig(&entries, node.as_str());
    }
    for verifier in [&verifier, &naga] {
        let report = inspect(&entries, now, verifier);
        let _ = report.to_string();
        let _ = serde_json::to_string(&report);
    }
});
