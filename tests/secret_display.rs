//! `Debug` and `Display` of every type that holds a PIN or a secret key, and of every error
//! that could carry one (a key file's contents, a PIN file's, a PIN in a URI), print no form of
//! the secret: hex, decimal bytes, base64 or the text itself (see `common/secret_forms.rs`).
//! The PKCS#11 store, token and wallet are checked against SoftHSM2 in
//! `hsm-tests/secret_hygiene.rs`; the command line in `tests/secret_cli.rs`.

#[path = "common/secret_forms.rs"]
mod secret_forms;

use std::path::Path;

use base64::Engine;
use lit_session_signer::keystore::{MemoryKeyStore, SessionKey, SessionKeyStore};
use lit_session_signer::secret_file::{parse_key_hex, read_key_file, KeyBytes};
use lit_session_signer::wallet::{MemoryWallet, WalletSigner};
use secret_forms::{assert_no_secret, leaked_form};
use zeroize::Zeroizing;

const SEED: [u8; 32] = [
    0xc4, 0x17, 0x9e, 0x62, 0x0b, 0xd8, 0x35, 0xaf, 0x71, 0x4c, 0xe3, 0x28, 0x96, 0x5b, 0x0f, 0xba, 0x43, 0xed, 0x19,
    0x86, 0x7e, 0x21, 0xcc, 0x54, 0xf0, 0x3a, 0x8d, 0x67, 0xb2, 0x09, 0xde, 0x15,
];
const WALLET: [u8; 32] = [
    0x5e, 0xa2, 0x3b, 0xc8, 0x71, 0x0d, 0xf6, 0x94, 0x2f, 0xe9, 0x46, 0x1b, 0xd0, 0x87, 0x6c, 0x33, 0xa9, 0x52, 0x0e,
    0xfb, 0x24, 0x98, 0x6d, 0xc1, 0x3f, 0x7a, 0xe5, 0x11, 0x8c, 0x47, 0xb3, 0x2a,
];
const PIN: &str = "hyg1ene-PIN-7319";

fn shown<T: std::fmt::Debug>(value: &T) -> String {
    format!("{value:?} {value:#?}")
}

#[test]
fn the_forms_catch_the_usual_leaks() {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    for leak in [
        hex::encode(SEED),
        format!("0x{}", hex::encode_upper(&SEED[3..20])),
        format!("{SEED:?}"),
        format!("{:?}", &SEED[10..15]),
        format!("{:#?}", &SEED[..]),
        STANDARD.encode(SEED),
        format!("xx{}", URL_SAFE_NO_PAD.encode(&SEED[7..])),
        format!("pin={PIN}"),
    ] {
        let secret: &[u8] = if leak.contains(PIN) { PIN.as_bytes() } else { &SEED };
        assert!(leaked_form(&leak, secret).is_some(), "not caught: {leak}");
    }
    // The seed buffer callers hand to `import_seed`: zeroize 1.9 prints no contents.
    assert_no_secret("Zeroizing", &shown(&Zeroizing::new(SEED)), &SEED);
    assert_eq!(leaked_form("nothing to see", &SEED), None);
}

#[test]
fn memory_key_store_and_session_key() {
    let store = MemoryKeyStore::new();
    let id = store.import_seed("hygiene", Zeroizing::new(SEED)).unwrap();
    assert_no_secret("MemoryKeyStore", &shown(&store), &SEED);
    let key = SessionKey::new(&store, id.clone());
    assert_no_secret("SessionKey", &shown(&key), &SEED);
    assert_no_secret("KeyId", &format!("{id} {id:?}"), &SEED);
    assert_no_secret("KeyInfo", &shown(&store.list().unwrap()), &SEED);
    let err = store.sign(&lit_session_signer::keystore::KeyId::from_bytes(SEED.to_vec()), b"x");
    // A key id is public, so an id that happens to be made of secret bytes would be shown;
    // the store itself never builds one from a seed.
    assert!(err.is_err());
}

#[test]
fn memory_wallet() {
    let wallet = MemoryWallet::from_bytes(&WALLET).unwrap();
    let text = shown(&wallet);
    assert!(text.contains(&wallet.address().to_checksum()), "{text}");
    assert_no_secret("MemoryWallet", &text, &WALLET);
    // k256 holds the scalar as little-endian limbs.
    let reversed: Vec<u8> = WALLET.iter().rev().copied().collect();
    assert_no_secret("MemoryWallet", &text, &reversed);
    let sig = wallet.personal_sign(b"hello").unwrap();
    assert_no_secret("RecoverableSignature", &shown(&sig), &WALLET);
    // Invalid secrets (0 and ≥ n) are refused without being echoed.
    let n = hex::decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141").unwrap();
    let err = MemoryWallet::from_bytes(&n.clone().try_into().unwrap()).unwrap_err();
    assert_no_secret("WalletError", &format!("{err} {err:?}"), &n);
}

#[test]
fn key_bytes_and_key_file_errors() {
    let key: KeyBytes = parse_key_hex(&hex::encode(SEED)).unwrap();
    assert_eq!(format!("{key:?}"), "KeyBytes([redacted])");
    assert_no_secret("KeyBytes", &shown(&key), &SEED);

    let dir = tempfile::tempdir().unwrap();
    let hex = hex::encode(SEED);
    let cases = [
        ("63 digits", hex[..63].to_string()),
        ("66 digits", format!("{hex}ab")),
        ("not hex", format!("{hex}zz")),
        ("two keys", format!("{hex}\n{hex}")),
        ("base64", base64::engine::general_purpose::STANDARD.encode(SEED)),
    ];
    for (name, contents) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, &contents).unwrap();
        let err = read_key_file(&path).unwrap_err();
        assert_no_secret(name, &format!("{err} {err:?}"), &SEED);
        let err = parse_key_hex(&contents).unwrap_err();
        assert_no_secret(name, &format!("{err} {err:?}"), &SEED);
    }
    // The secret given as the path itself is not repeated either.
    for value in [hex.clone(), format!("0x{hex}"), PIN.to_string()] {
        let err = read_key_file(Path::new(&value)).unwrap_err();
        assert_no_secret("inline secret", &format!("{err} {err:?}"), value.as_bytes());
    }
}

#[cfg(feature = "pkcs11")]
mod pkcs11 {
    use super::*;
    use lit_session_signer::pkcs11::{Pin, PinSource, Pkcs11Uri, TokenConfig};

    #[test]
    fn pin_and_its_sources() {
        let pin = Pin::new(Zeroizing::new(format!("{PIN}\n"))).unwrap();
        assert_eq!(format!("{pin:?}"), "Pin([REDACTED])");
        assert_no_secret("Pin", &shown(&pin), PIN.as_bytes());

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pin");
        std::fs::write(&file, format!("{PIN}\n")).unwrap();
        let set_mode = |mode: u32| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        set_mode(0o600);
        let source = PinSource::File(file.clone());
        assert_no_secret("PinSource", &format!("{source} {}", shown(&source)), PIN.as_bytes());
        let pin = source.read().unwrap();
        assert_no_secret("Pin from a file", &shown(&pin), PIN.as_bytes());

        // Errors while reading PINs: world-readable, not UTF-8, empty, unset variable.
        set_mode(0o644);
        let err = source.read().unwrap_err();
        assert_no_secret("PinError::FilePermissions", &format!("{err} {err:?}"), PIN.as_bytes());
        set_mode(0o600);
        std::fs::write(&file, [PIN.as_bytes(), &[0xff, 0xfe]].concat()).unwrap();
        let err = source.read().unwrap_err();
        assert_no_secret("PinError::File (not UTF-8)", &format!("{err} {err:?}"), PIN.as_bytes());
        let err = PinSource::Env("LIT_HYGIENE_SURELY_UNSET".into()).read().unwrap_err();
        assert_no_secret("PinError::EnvMissing", &format!("{err} {err:?}"), PIN.as_bytes());
    }

    #[test]
    fn uris_never_carry_or_echo_a_pin() {
        for text in [
            format!("pkcs11:token=t?pin-value={PIN}"),
            format!("pkcs11:token=t;pin-value={PIN}"),
            format!("pkcs11:token=t?module-path=/m.so&pin-value={PIN}&pin-source=env:P"),
        ] {
            let err = Pkcs11Uri::parse(&text).unwrap_err();
            assert_no_secret("UriError (pin-value)", &format!("{err} {err:?}"), PIN.as_bytes());
        }
        let uri = Pkcs11Uri::parse("pkcs11:token=t;object=k?module-path=/m.so&pin-source=env:LIT_PIN").unwrap();
        std::env::set_var("LIT_HYGIENE_PIN", PIN);
        let config = TokenConfig::from_uri(&uri).unwrap();
        assert_no_secret("Pkcs11Uri", &format!("{uri} {}", shown(&uri)), PIN.as_bytes());
        assert_no_secret("TokenConfig", &shown(&config), PIN.as_bytes());
        let pin = PinSource::Env("LIT_HYGIENE_PIN".into()).read().unwrap();
        assert_no_secret("Pin from the environment", &shown(&pin), PIN.as_bytes());
    }
}

#[test]
fn pkp_access_tokens_and_manager() {
    use lit_session_signer::pkp::{auth_method_type, AuthMethod, EncodedRequest, PkpSessionSigsRequest};
    const TOKEN: &str = "hyg1ene-access-token-5581";
    let method = AuthMethod::new(auth_method_type::GOOGLE_JWT, TOKEN);
    assert_no_secret("AuthMethod", &shown(&method), TOKEN.as_bytes());
    let pkp = "0x0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798\
               483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8"
        .parse()
        .unwrap();
    let request = PkpSessionSigsRequest::new(
        vec!["https://127.0.0.1:7470".parse().unwrap()],
        pkp,
        vec![method],
        vec!["lit-pkp://*=pkp-signing".parse().unwrap()],
        "0x3a9c4f1e8b7d6a5c4b3a29180f7e6d5c",
        1,
    );
    assert_no_secret("PkpSessionSigsRequest", &shown(&request), TOKEN.as_bytes());
    let store = MemoryKeyStore::new();
    let key = store.public_key(&store.import_seed("pkp", Zeroizing::new(SEED)).unwrap()).unwrap();
    let body = EncodedRequest::new(&request.sign_session_key_request(&key).unwrap()).unwrap();
    // The body carries the token on purpose (it goes to the nodes); Debug does not.
    assert!(String::from_utf8_lossy(body.body()).contains(TOKEN));
    assert_no_secret("EncodedRequest", &shown(&body), TOKEN.as_bytes());

    use lit_session_signer::manager::{AuthSource, MemoryAuthSigStore, SessionKeyPolicy, SessionManager};
    let keys = std::sync::Arc::new(MemoryKeyStore::new());
    let id = keys.import_seed("m", Zeroizing::new(SEED)).unwrap();
    let manager = SessionManager::new(
        keys,
        SessionKeyPolicy::Fixed(id),
        AuthSource::wallet(MemoryWallet::from_bytes(&WALLET).unwrap()),
        std::sync::Arc::new(MemoryAuthSigStore::new()),
    );
    let text = shown(&manager);
    assert_no_secret("SessionManager", &text, &SEED);
    assert_no_secret("SessionManager", &text, &WALLET);
}
