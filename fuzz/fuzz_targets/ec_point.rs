//! `CKA_EC_POINT` values from arbitrary bytes, for both curves: a 32-byte Edwards point and a
//! 65-byte uncompressed secp256k1 point (and the length the first byte names). Whatever
//! parses has the asked length, and re-encoding it in the form reported gives the input back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lit_session_signer::keystore::pkcs11::ec_point::{parse_ec_point, parse_edwards_point, EcPointEncoding};

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn reencode(point: &[u8], encoding: EcPointEncoding) -> Vec<u8> {
    match encoding {
        EcPointEncoding::Raw => point.to_vec(),
        EcPointEncoding::DerOctetString => der(0x04, point),
        EcPointEncoding::DerBitString => der(0x03, &[&[0u8][..], point].concat()),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, value)) = data.split_first() else { return };
    for len in [32usize, 65, usize::from(first)] {
        if let Ok((point, encoding)) = parse_ec_point(value, len) {
            assert_eq!(point.len(), len);
            assert_eq!(reencode(point, encoding), value, "{encoding} re-encoding differs");
            let _ = encoding.to_string();
        }
    }
    if let Ok(point) = parse_edwards_point(value) {
        assert_eq!(parse_ec_point(value, 32).map(|(p, _)| p.to_vec()), Ok(point.to_vec()));
        let _ = ed25519_dalek::VerifyingKey::from_bytes(&point);
    }
    if let Ok((point, _)) = parse_ec_point(value, 65) {
        // What the PKCS#11 wallet does with a secp256k1 point.
        let _ = k256::ecdsa::VerifyingKey::from_sec1_bytes(point);
    }
});
