//! ReCap URNs from arbitrary text: decode, and for anything that decodes, encode → decode →
//! encode is stable (the ReCap is the same up to JSON number spelling), JSON round-trips, and the statement and
//! grant checks never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lit_session_signer::recap::Recap;
use lit_session_signer::resources::{LitAbility, LitResource, ResourcePrefix};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Both the text as given and as a payload after the prefix, so the mutator need not find it.
    for uri in [text.to_string(), format!("urn:recap:{text}")] {
        let Ok(recap) = Recap::decode(&uri) else { continue };
        let encoded = recap.encode();
        let again = Recap::decode(&encoded).expect("our own encoding decodes");
        // Equal up to JSON number spelling (17174440.0 is written 17174440, as JavaScript
        // does), so compare encodings, then values once normalised.
        assert_eq!(again.encode(), encoded, "encode(decode(encode(r))) != encode(r)");
        assert_eq!(Recap::decode(&again.encode()).expect("decodes"), again, "not a fixed point");
        assert_eq!(again.statement(), recap.statement());
        assert_eq!(Recap::from_json(&recap.to_json()).expect("our JSON reads back").encode(), encoded);
        let _ = recap.statement();
        let _ = recap.lit_grants();
        for prefix in ResourcePrefix::ALL {
            for ability in LitAbility::ALL {
                let _ = recap.grants(&LitResource::wildcard(prefix), ability);
                if let Ok(r) = LitResource::new(prefix, "0x1a2b") {
                    let _ = recap.grants(&r, ability);
                }
            }
        }
    }
});
