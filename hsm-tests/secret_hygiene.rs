//! The token's PIN (and a wrong one) never shows in `Debug`/`Display` of the PKCS#11 store,
//! token, wallet or their errors, nor in anything the CLI prints at its most verbose while
//! signing with a token key (`RUST_LOG=trace`, full backtraces).

#[path = "../tests/common/secret_forms.rs"]
mod secret_forms;

use std::process::Command;

use lit_session_signer::keystore::{KeyOptions, KeyStoreError, Pkcs11KeyStore, SessionKeyStore};
use lit_session_signer::pkcs11::{PinSource, Pkcs11Uri};
use lit_session_signer::wallet::Pkcs11Wallet;
use secret_forms::assert_no_secret;

use crate::common::unique_label;
use crate::hsm_test;

const WRONG_PIN: &str = "hyg1ene-wrong-PIN-0042";

fn token_pin(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).expect("the test token's PIN file").trim_end().to_string()
}

hsm_test! {
    fn store_token_wallet_and_errors_print_no_pin(env) {
        let _g = env.shared();
        let pin = token_pin(&env.main.pin_file);
        let store = env.open();
        let id = store.generate_with(&unique_label("hygiene"), KeyOptions::ephemeral()).expect("generate");
        assert_no_secret("Pkcs11KeyStore", &format!("{store:?} {store:#?}"), pin.as_bytes());
        assert_no_secret("KeyInfo", &format!("{:?}", store.list().unwrap()), pin.as_bytes());
        match Pkcs11Wallet::generate(&env.uri(), &unique_label("hygiene-wallet")) {
            Ok((wallet, _)) => {
                assert_no_secret("Pkcs11Wallet", &format!("{wallet:?} {wallet:#?}"), pin.as_bytes());
                wallet.delete().unwrap();
            }
            // A module without secp256k1 (Kryoptic): the refusal prints no PIN either.
            Err(e) if !env.kind.makes_secp256k1_keys() => {
                assert_no_secret("CurveUnsupported error", &format!("{e} {e:?}"), pin.as_bytes())
            }
            Err(e) => panic!("wallet: {e}"),
        }
        let uri = env.uri().with_object("no-such-key");
        assert_no_secret("Pkcs11Uri", &format!("{uri} {uri:?}"), pin.as_bytes());
        let err = store.resolve(&uri).unwrap_err();
        assert_no_secret("Pkcs11Error", &format!("{err} {err:?}"), pin.as_bytes());
        let err: KeyStoreError = err.into();
        assert_no_secret("KeyStoreError", &format!("{err} {err:?}"), pin.as_bytes());
        store.delete(&id).unwrap();
    }
}

hsm_test! {
    fn wrong_pin_file_is_not_printed(env) {
        let Some(aux) = &env.aux else {
            eprintln!("SKIPPED wrong_pin_file_is_not_printed: no second token ({})", env.origin);
            return;
        };
        // Exclusive, as in errors.rs: another store's login would stop C_Login checking the PIN.
        let _g = env.exclusive();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("wrong.pin");
        std::fs::write(&file, format!("{WRONG_PIN}\n")).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let uri = Pkcs11Uri::for_token(&env.module, &aux.label, PinSource::File(file));
        let err = Pkcs11KeyStore::open(&uri).expect_err("a wrong PIN must fail");
        let text = format!("{err} {err:?}");
        assert_no_secret("wrong-PIN error", &text, WRONG_PIN.as_bytes());
        assert_no_secret("wrong-PIN error", &text, token_pin(&aux.pin_file).as_bytes());
    }
}

fn verbose(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lit-session"))
        .args(args)
        .env("RUST_LOG", "trace")
        .env("RUST_BACKTRACE", "full")
        .output()
        .unwrap()
}

hsm_test! {
    fn cli_signing_with_token_keys_prints_no_pin(env) {
        // Other processes write the token: nothing else runs meanwhile (SoftHSM#757).
        let _g = env.exclusive();
        let pin = token_pin(&env.main.pin_file);
        let token_uri = env.uri().to_string();
        let dir = tempfile::tempdir().unwrap();
        let wallet_key: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(71) ^ 0x2d);
        let wallet_file = dir.path().join("wallet.key");
        crate::common::write_private(&wallet_file, hex::encode(wallet_key).as_bytes());
        let label = unique_label("hygiene-cli");

        let mut printed = String::new();
        // `succeeds`: whether the step must succeed (a wallet on a module without secp256k1
        // must not, and its error is checked too).
        let mut run = |args: &[&str], succeeds: bool| -> String {
            let out = verbose(args);
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert_eq!(out.status.success(), succeeds, "{args:?}: {text}");
            printed.push_str(&text);
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        let key_uri = run(&["keys", "generate", "--pkcs11-uri", &token_uri, "--label", &label], true);
        let k1 = env.kind.makes_secp256k1_keys();
        let wallet_uri =
            run(&["wallet", "generate", "--pkcs11-uri", &token_uri, "--label", &format!("{label}-w")], k1);
        let wallet_uri = wallet_uri.lines().next().unwrap_or_default().to_string();
        let sign =
            ["--node", "https://127.0.0.1:7470", "--resource", "lit-pkp://*=pkp-signing", "--nonce", "0x3a9c4f1e8b7d6a5c"];
        let wallet_path = wallet_file.to_str().unwrap();
        let mut step = |args: &[&str]| run(args, true);
        step(&[&["session-sigs", "--session-key", &key_uri, "--wallet-key-file", wallet_path][..], &sign].concat());
        if k1 {
            step(&[&["session-sigs", "--session-key", &key_uri, "--wallet", &wallet_uri][..], &sign].concat());
        }
        step(&["keys", "list", "--pkcs11-uri", &token_uri]);
        step(&["keys", "delete", "--pkcs11-uri", &key_uri]);
        assert!(printed.contains(&label), "the runs happened: {printed}");
        // RUST_LOG=trace turned the library's logging on, so the log lines were checked too.
        assert!(printed.contains("lit-session: DEBUG"), "no log output at trace: {printed}");
        assert_no_secret("the CLI with token keys", &printed, pin.as_bytes());
        assert_no_secret("the CLI with token keys", &printed, &wallet_key);
    }
}
