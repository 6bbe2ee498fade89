//! `CKA_EC_POINT` values from arbitrary bytes, for both curves: a 32-byte Edwards point and a
//! 65-byte uncompressed secp256k1 point (and the length the first byte names). Whatever
//! parses has the asked length, and re-encoding it in the form reported gives the input back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lit_session_signer::internal::pkcs11::parse_ec_point;

fuzz_target!(|data: &[u8]| {
    let Some((&first, value)) = data.split_first() else { return };
    for len in [32usize, 65, usize::from(first)] {
        if let Ok((point, encoding)) = parse_ec_point(value, len) {
            assert_eq!(point.len(), len);
            assert_eq!(encoding.encode(point), value, "{encoding} re-encoding differs");
            let _ = encoding.to_string();
        }
    }
    if let Ok((point, _)) = parse_ec_point(value, 32) {
        // What the PKCS#11 session-key store does with an Ed25519 point.
        let _ = ed25519_dalek::VerifyingKey::from_bytes(point.try_into().expect("32 bytes"));
    }
    if let Ok((point, _)) = parse_ec_point(value, 65) {
        // What the PKCS#11 wallet does with a secp256k1 point.
        let _ = k256::ecdsa::VerifyingKey::from_sec1_bytes(point);
    }
});
