//! The BLS half of PKP sessions against real Lit node output:
//! `tests/vectors/bls-sign-session-key.json` (three `/web/sign_session_key` responses) and
//! the `LIT_BLS` capabilities of `session-sigs-wrapped-keys.json`.

mod common;

use common::vector;
use lit_session_signer::auth_sig::AuthSig;
use lit_session_signer::bls::{
    combine_shares, combine_verified, lit_bls_auth_sig, lit_bls_signature, session_digest, verify_lit_bls_auth_sig,
    BlsError, BlsSignature, NetworkPublicKey, SignatureShare,
};
use serde_json::Value;

struct Responses {
    shares: Vec<SignatureShare>,
    root: NetworkPublicKey,
    siwe: String,
    data_signed: String,
    combined: String,
    v: Value,
}

fn responses() -> Responses {
    let v = vector("bls-sign-session-key.json");
    let list = v["responses"].as_array().expect("responses");
    assert_eq!(list.len(), 3);
    let shares: Vec<SignatureShare> =
        list.iter().map(|r| SignatureShare::from_node_json(&r["signatureShare"]).unwrap()).collect();
    for r in list {
        // Every node agrees on the message, the digest and the root key.
        assert_eq!(r["siweMessage"], list[0]["siweMessage"]);
        assert_eq!(r["dataSigned"], list[0]["dataSigned"]);
        assert_eq!(r["blsRootPubkey"], list[0]["blsRootPubkey"]);
        assert_eq!(r["curveType"], "BLS");
    }
    let root = NetworkPublicKey::from_hex(list[0]["blsRootPubkey"].as_str().unwrap()).unwrap();
    Responses {
        shares,
        root,
        siwe: list[0]["siweMessage"].as_str().unwrap().to_string(),
        data_signed: list[0]["dataSigned"].as_str().unwrap().to_string(),
        combined: v["derived"]["combinedSignature"].as_str().unwrap().to_string(),
        v,
    }
}

#[test]
fn shares_parse_with_identifier_share_index_plus_one() {
    let r = responses();
    for (share, resp) in r.shares.iter().zip(r.v["responses"].as_array().unwrap()) {
        assert_eq!(u64::from(share.identifier()), resp["shareIndex"].as_u64().unwrap() + 1);
        assert_eq!(share.to_node_json(), resp["signatureShare"]);
        assert_eq!(serde_json::from_value::<SignatureShare>(resp["signatureShare"].clone()).unwrap(), *share);
        assert_eq!(serde_json::to_value(share).unwrap(), resp["signatureShare"]);
    }
}

#[test]
fn data_signed_is_our_digest_of_the_siwe() {
    let r = responses();
    assert_eq!(hex::encode(session_digest(&r.siwe)), r.data_signed);
    assert_eq!(r.v["derived"]["dataSignedRecomputed"], r.data_signed.as_str());
}

#[test]
fn three_shares_and_every_pair_combine_to_the_recorded_signature() {
    let r = responses();
    assert_eq!(
        r.v["derived"]["thresholdNote"].as_str().unwrap(),
        "Any 2 of the 3 shares combine to the same signature (threshold 2)."
    );
    let digest = session_digest(&r.siwe);
    let all = combine_shares(&r.shares).unwrap();
    assert_eq!(all.to_hex(), r.combined);
    assert_eq!(all.verify(&r.root, &digest), Ok(()));
    for (a, b) in [(0, 1), (0, 2), (1, 2), (2, 0), (1, 0), (2, 1)] {
        let pair = combine_shares(&[r.shares[a], r.shares[b]]).unwrap();
        assert_eq!(pair.to_hex(), r.combined, "shares {a} and {b}");
    }
    let checked = combine_verified(&r.shares, 2, &r.root, &digest).unwrap();
    assert_eq!(checked.signature, all);
    assert!(checked.rejected.is_empty());
    // One share alone is not the signature.
    assert_eq!(r.shares[0].point_as_signature().verify(&r.root, &digest), Err(BlsError::InvalidSignature));
    // The wrong key or message fails.
    let other_key = NetworkPublicKey::from_hex(
        r#"a43499a4b786da2dd28af9f209eb152ff6f646b34b68a02954967271e17fb4c511fd67b81e067f690c6f38acab70585d"#,
    )
    .unwrap();
    assert_eq!(all.verify(&other_key, &digest), Err(BlsError::InvalidSignature));
    assert_eq!(
        all.verify(&r.root, &session_digest(&r.siwe.replace("Chain ID: 1", "Chain ID: 2"))),
        Err(BlsError::InvalidSignature)
    );
}

#[test]
fn resulting_auth_sig_matches_the_sdk_shape_byte_for_byte() {
    let r = responses();
    let expected = &r.v["derived"]["resultingAuthSig"];
    let sig = BlsSignature::from_hex(&r.combined).unwrap();
    let address = expected["address"].as_str().unwrap().parse().unwrap();
    let auth_sig = lit_bls_auth_sig(&sig, r.siwe.clone(), &address);
    // Key order included: sig, algo, derivedVia, signedMessage, address.
    assert_eq!(serde_json::to_string(&auth_sig).unwrap(), serde_json::to_string(expected).unwrap());
    let parsed: AuthSig = serde_json::from_value(expected.clone()).unwrap();
    assert_eq!(parsed, auth_sig);
    assert_eq!(lit_bls_signature(&parsed), Ok(sig));
    assert_eq!(verify_lit_bls_auth_sig(&parsed, &r.root), Ok(()));
    let mut wallet_kind = parsed.clone();
    wallet_kind.algo = None;
    assert!(matches!(lit_bls_signature(&wallet_kind), Err(BlsError::NotLitBls { .. })));
}

fn flip(share: &SignatureShare, byte: usize) -> Result<SignatureShare, BlsError> {
    let mut bytes = share.to_bytes();
    bytes[byte] ^= 0x01;
    SignatureShare::from_bytes(&bytes)
}

#[test]
fn tampered_shares_are_detected_and_named() {
    let r = responses();
    let digest = session_digest(&r.siwe);

    // A flipped bit in the point: almost always not a G2 point at all.
    let mut refused = 0;
    for byte in [1, 20, 48, 96] {
        match flip(&r.shares[1], byte) {
            Err(e) => {
                assert!(matches!(e, BlsError::InvalidPoint { group: "G2", .. }), "{e:?}");
                refused += 1;
            }
            Ok(tampered) => {
                let c = combine_verified(&[r.shares[0], tampered, r.shares[2]], 2, &r.root, &digest).unwrap();
                assert_eq!(c.rejected, vec![tampered.identifier()]);
            }
        }
    }
    assert!(refused > 0);
    // Flipped compression flag.
    let mut bytes = r.shares[0].to_bytes();
    bytes[1] ^= 0x80;
    assert!(matches!(SignatureShare::from_bytes(&bytes), Err(BlsError::InvalidPoint { .. })));
    // Identifier 0, truncated, bad hex, wrong scheme.
    bytes = r.shares[0].to_bytes();
    bytes[0] = 0;
    assert_eq!(SignatureShare::from_bytes(&bytes), Err(BlsError::ZeroIdentifier));
    let hex = r.shares[0].to_hex();
    assert!(matches!(SignatureShare::from_hex(&hex[..192]), Err(BlsError::Length { expected: 97, got: 96, .. })));
    assert!(matches!(SignatureShare::from_hex(&hex.replace('b', "x")), Err(BlsError::Hex { .. })));
    let basic = serde_json::json!({ "Basic": hex });
    assert!(matches!(SignatureShare::from_node_json(&basic), Err(BlsError::WrongScheme { .. })));

    // Swapped identifiers: valid points, wrong x. Identifiers 1 and 3 exchanged.
    let swapped_a = SignatureShare::from_hex(&format!("03{}", &r.shares[0].to_hex()[2..])).unwrap();
    let swapped_b = SignatureShare::from_hex(&format!("01{}", &r.shares[1].to_hex()[2..])).unwrap();
    assert!(combine_shares(&[swapped_a, swapped_b]).unwrap().verify(&r.root, &digest).is_err());
    // With the honest share as well: both swapped shares are bad and one good share is below
    // the threshold, so no pair verifies and nobody can be blamed.
    assert!(matches!(
        combine_verified(&[swapped_a, swapped_b, r.shares[2]], 2, &r.root, &digest),
        Err(BlsError::Unattributable { shares: 3, threshold: 2, .. })
    ));
    // One share relabelled to an unused identifier: the other two still combine, it is named.
    let relabelled = SignatureShare::from_hex(&format!("07{}", &r.shares[2].to_hex()[2..])).unwrap();
    let c = combine_verified(&[r.shares[0], r.shares[1], relabelled], 2, &r.root, &digest).unwrap();
    assert_eq!(c.rejected, vec![7]);
    assert_eq!(c.signature.to_hex(), r.combined);
    assert_eq!(c.clone().require_all(), Err(BlsError::BadShares { identifiers: vec![7], good: 2, threshold: 2 }));
    // Duplicate identifiers are refused before any arithmetic.
    assert_eq!(combine_shares(&[r.shares[0], swapped_b]), Err(BlsError::DuplicateIdentifier(1)));

    // A valid G2 point signing another message: the network signature of a wrapped-keys
    // session (another SIWE, another network), sent as share 2.
    let other = vector("session-sigs-wrapped-keys.json");
    let signed: Value = serde_json::from_str(other["pkpSessionSig"]["signedMessage"].as_str().unwrap()).unwrap();
    let other_sig = BlsSignature::from_sig_json(signed["capabilities"][0]["sig"].as_str().unwrap()).unwrap();
    let foreign = SignatureShare::from_hex(&format!("02{}", other_sig.to_hex())).unwrap();
    let c = combine_verified(&[r.shares[0], r.shares[1], foreign], 2, &r.root, &digest).unwrap();
    assert_eq!(c.rejected, vec![2]);
    assert_eq!(c.signature.to_hex(), r.combined);
    // And in first position, so the first subset tried is bad.
    let c = combine_verified(&[foreign, r.shares[0], r.shares[1]], 2, &r.root, &digest).unwrap();
    assert_eq!(c.rejected, vec![2]);
}

#[test]
fn wrapped_keys_bls_capabilities_verify_against_the_recorded_network_key() {
    let v = vector("session-sigs-wrapped-keys.json");
    let key = NetworkPublicKey::from_hex(v["blsNetworkRootPubkey"]["hex"].as_str().unwrap()).unwrap();
    let mut seen = 0;
    for (node, entry) in v["sessionSigs"].as_object().unwrap() {
        let signed: Value = serde_json::from_str(entry["signedMessage"].as_str().unwrap()).unwrap();
        let cap: AuthSig = serde_json::from_value(signed["capabilities"][0].clone()).unwrap();
        let facts = &v["verification"]["perMapEntry"][node]["capabilities"][0];
        assert_eq!(hex::encode(session_digest(&cap.signed_message)), facts["blsDigestHex"].as_str().unwrap());
        assert_eq!(verify_lit_bls_auth_sig(&cap, &key), Ok(()));
        // Re-serialising the parsed capability gives the bytes inside the signed message.
        let inner = serde_json::to_string(&signed["capabilities"][0]).unwrap();
        assert_eq!(serde_json::to_string(&cap).unwrap(), inner);
        assert!(entry["signedMessage"].as_str().unwrap().contains(&inner));
        let root = NetworkPublicKey::from_hex(
            "a6f7c284ac766db1b43f8c65d8ff15c7271a05b0863b5205d96459fd32aa353e9390ce0626560fb76720c1a5c8ca6902",
        )
        .unwrap();
        assert_eq!(verify_lit_bls_auth_sig(&cap, &root), Err(BlsError::InvalidSignature));
        seen += 1;
    }
    assert_eq!(seen, 3);
}
