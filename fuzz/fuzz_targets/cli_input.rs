//! The command line's value and file parsers, selected by the first byte: key files, JSON
//! files (with JCS canonicalisation idempotence), RFC 3339 times, resource-ability requests,
//! node URLs, Ethereum addresses and the inline-secret refusal. Every parser that accepts a
//! value must print it in a form that parses back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lit_session_signer::internal::cli::{check_uri_arg, parse_json};
use lit_session_signer::secret_file::{looks_like_inline_secret, parse_key_hex, KeyTextError};
use lit_session_signer::eth::EthAddress;
use lit_session_signer::jcs;
use lit_session_signer::resources::ResourceAbilityRequest;
use lit_session_signer::session_sigs::NodeUrl;
use lit_session_signer::Timestamp;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    match selector % 7 {
        0 => match parse_key_hex(text) {
            Ok(key) => {
                let t = text.trim();
                let body = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")).unwrap_or(t);
                assert_eq!(hex::encode(key.expose()), body.to_ascii_lowercase());
                assert!(!format!("{key:?}").contains(&hex::encode(key.expose())));
            }
            Err(KeyTextError::Length { found }) => assert_ne!(found, 64),
            Err(KeyTextError::NotHex) => {}
        },
        1 => {
            if let Ok(value) = parse_json(text) {
                let canonical = jcs::to_canonical_string(&value);
                let reparsed = parse_json(&canonical).expect("canonical JSON parses");
                assert_eq!(jcs::to_canonical_string(&reparsed), canonical, "JCS is not idempotent");
                let js = jcs::to_js_string(&value);
                let reparsed = parse_json(&js).expect("JSON.stringify output parses");
                assert_eq!(jcs::to_js_string(&reparsed), js, "to_js_string is not idempotent");
            }
        }
        2 => {
            if let Ok(t) = text.parse::<Timestamp>() {
                let shown = t.to_string();
                let again: Timestamp = shown.parse().unwrap_or_else(|e| panic!("{text:?} → {shown:?}: {e}"));
                assert_eq!(again, t);
                assert_eq!(again.to_string(), shown);
            }
        }
        3 => {
            if let Ok(r) = text.parse::<ResourceAbilityRequest>() {
                let shown = r.to_string();
                let again: ResourceAbilityRequest =
                    shown.parse().unwrap_or_else(|e| panic!("{text:?} → {shown:?}: {e}"));
                assert_eq!(again, r, "{text:?} → {shown:?}");
                assert!(r.resource().prefix().accepts(r.ability()));
            }
        }
        4 => {
            if let Ok(n) = text.parse::<NodeUrl>() {
                assert_eq!(n.as_str(), text);
                assert_eq!(n.to_string().parse::<NodeUrl>().expect("NodeUrl round trip"), n);
            }
        }
        5 => {
            if let Ok(a) = text.parse::<EthAddress>() {
                let shown = a.to_string();
                assert_eq!(shown.parse::<EthAddress>().expect("EIP-55 form parses"), a);
                assert!(text.eq_ignore_ascii_case(&shown), "{text:?} vs {shown:?}");
            }
        }
        _ => {
            let _ = looks_like_inline_secret(text);
            let is_uri = text.trim_start().get(..7).is_some_and(|s| s.eq_ignore_ascii_case("pkcs11:"));
            assert_eq!(check_uri_arg(text).is_ok(), is_uri);
        }
    }
});
