//! PKCS#11 URIs (RFC 7512) from arbitrary text: parse never panics, and any URI that parses
//! prints (Display) to a URI that parses back to the same value. Also `pin-source` values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lit_session_signer::pkcs11::{PinSource, Pkcs11Uri};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for candidate in [text.to_string(), format!("pkcs11:{text}")] {
        if let Ok(uri) = Pkcs11Uri::parse(&candidate) {
            let shown = uri.to_string();
            let again = Pkcs11Uri::parse(&shown).unwrap_or_else(|e| panic!("{shown:?} does not parse: {e}"));
            assert_eq!(again, uri, "{candidate:?} → {shown:?}");
            assert_eq!(again.to_string(), shown, "Display is not stable");
            let _ = format!("{uri:?}");
        }
    }
    if let Ok(source) = PinSource::parse(text) {
        let shown = source.to_string();
        let again = PinSource::parse(&shown).unwrap_or_else(|e| panic!("{text:?} → {shown:?} does not parse: {e}"));
        assert_eq!(again, source, "{text:?} → {shown:?}");
    }
});
