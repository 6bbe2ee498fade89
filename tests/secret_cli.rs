//! The command line and secrets: it refuses secrets given as argument values (without
//! repeating them), and at its most verbose (`RUST_LOG=trace`: the library's log lines on
//! stderr; full backtraces) nothing it prints, on success or failure, contains a
//! form of the seed, wallet key or PIN it was given.

mod common;
#[path = "common/secret_forms.rs"]
mod secret_forms;

use std::process::{Command, Output};

use common::vector;
use secret_forms::assert_no_secret;

const SEED: [u8; 32] = [
    0x8e, 0x31, 0xd6, 0x4a, 0x17, 0xfc, 0x62, 0xb9, 0x05, 0xc3, 0x7d, 0x28, 0xe1, 0x94, 0x3f, 0xaa, 0x50, 0x0b, 0xc7,
    0x69, 0xde, 0x23, 0x8a, 0x14, 0xf7, 0x46, 0x9b, 0x3e, 0xd2, 0x75, 0x0c, 0xb1,
];
const WALLET: [u8; 32] = [
    0x2b, 0xe7, 0x90, 0x4c, 0x13, 0xa5, 0x6f, 0xd8, 0x37, 0x81, 0xfe, 0x0a, 0x5c, 0xb3, 0x26, 0xe9, 0x74, 0x1d, 0xc0,
    0x58, 0x9f, 0x42, 0xab, 0x06, 0xf1, 0x3d, 0x88, 0x6b, 0xd4, 0x17, 0xce, 0x95,
];
const PIN: &str = "hyg1ene-PIN-7319";

/// Runs `lit-session` as verbosely as it gets.
fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lit-session"))
        .args(args)
        .env("RUST_LOG", "trace")
        .env("RUST_BACKTRACE", "full")
        .env("RUST_LIB_BACKTRACE", "1")
        .output()
        .unwrap()
}

fn printed(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Fails if the run printed any form of any of the three secrets.
fn assert_clean(what: &str, out: &Output) {
    let text = printed(out);
    assert!(!text.contains("panicked"), "{what}: {text}");
    let reversed: Vec<u8> = WALLET.iter().rev().copied().collect();
    for secret in [&SEED[..], &WALLET[..], &reversed[..], PIN.as_bytes()] {
        assert_no_secret(what, &text, secret);
    }
}

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }
    fn write(&self, name: &str, contents: &str) -> String {
        let path = self.dir.path().join(name);
        common::write_private(&path, contents.as_bytes());
        path.to_str().unwrap().to_string()
    }
}

const SIGN_ARGS: [&str; 8] = [
    "--node",
    "https://158.69.108.66:443",
    "--resource",
    "lit-pkp://*=pkp-signing",
    "--nonce",
    "0x3a9c4f1e8b7d6a5c4b3a29180f7e6d5c",
    "--now",
    "2025-03-15T12:34:56.789Z",
];

#[test]
fn secrets_given_as_argument_values_are_refused_and_not_repeated() {
    let files = Files::new();
    let wallet_file = files.write("wallet.key", &hex::encode(WALLET));
    let seed_file = files.write("session.seed", &hex::encode(SEED));
    let seed_hex = hex::encode(SEED);
    let wallet_hex = format!("0x{}", hex::encode(WALLET));
    let sign = |extra: &[&str]| -> Vec<String> {
        ["session-sigs"].iter().chain(extra).chain(SIGN_ARGS.iter()).map(|s| s.to_string()).collect()
    };
    let pin_value_uri = format!("pkcs11:token=t?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value={PIN}");
    let pin_as_source_uri = format!("pkcs11:token=t?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source={PIN}");
    let cases: Vec<(Vec<String>, &str)> = vec![
        // A secret where a secret file's path belongs (what this did before: tried to open it
        // and printed "No such file" with the seed in the message).
        (
            sign(&["--session-seed-file", &seed_hex, "--wallet-key-file", &wallet_file]),
            "--session-seed-file [value withheld]",
        ),
        (
            sign(&["--session-seed-file", &format!("0x{seed_hex}"), "--wallet-key-file", &wallet_file]),
            "[value withheld]",
        ),
        (
            sign(&["--session-seed-file", &seed_file, "--wallet-key-file", &wallet_hex]),
            "--wallet-key-file [value withheld]",
        ),
        (vec!["wallet".into(), "address".into(), "--wallet-key-file".into(), wallet_hex.clone()], "[value withheld]"),
        // A secret where a pkcs11: URI belongs.
        (
            sign(&["--session-key", &seed_hex, "--wallet-key-file", &wallet_file]),
            "--session-key [value withheld]: not a pkcs11: URI",
        ),
        (sign(&["--session-seed-file", &seed_file, "--wallet", &wallet_hex]), "--wallet [value withheld]"),
        (vec!["wallet".into(), "address".into(), "--pkcs11-uri".into(), PIN.into()], "[value withheld]"),
        (vec!["keys".into(), "list".into(), "--pkcs11-uri".into(), pin_value_uri.clone()], "pin-value is refused"),
        (
            vec!["keys".into(), "list".into(), "--pkcs11-uri".into(), pin_as_source_uri.clone()],
            "pin-source [value withheld]",
        ),
        (
            vec!["keys".into(), "list".into(), "--pkcs11-uri".into(), format!("pkcs11:token=t;{PIN}")],
            "no '=value' [value withheld]",
        ),
        (
            vec!["keys".into(), "list".into(), "--pkcs11-uri".into(), format!("pkcs11:token=t?pin-source=pin:{PIN}")],
            "unsupported pin-source [value withheld]",
        ),
        // Flags people reach for.
        (sign(&["--pin", PIN]), "--pin [value withheld]"),
        (sign(&[&format!("--pin={PIN}")]), "--pin [value withheld]"),
        (sign(&["--pin-source", PIN]), "--pin-source [value withheld]"),
        (sign(&["--so-pin", PIN]), "--so-pin [value withheld]"),
        (sign(&["--seed", &seed_hex]), "--seed [value withheld]"),
        (sign(&["--session-seed", &seed_hex]), "--session-seed [value withheld]"),
        (sign(&["--wallet-key", &wallet_hex]), "--wallet-key [value withheld]"),
        (sign(&[&format!("--wallet-key={wallet_hex}")]), "--wallet-key [value withheld]"),
        (sign(&["--private-key", &wallet_hex]), "--private-key [value withheld]"),
        (sign(&["--secret-key", &seed_hex]), "--secret-key [value withheld]"),
        (
            vec![
                "--pin".into(),
                PIN.into(),
                "keys".into(),
                "list".into(),
                "--pkcs11-uri".into(),
                "pkcs11:token=t".into(),
            ],
            "--pin",
        ),
        (
            vec![
                "capacity-delegation".into(),
                "--wallet-key".into(),
                wallet_hex.clone(),
                "--nonce".into(),
                "0x1234567890".into(),
            ],
            "--wallet-key",
        ),
    ];
    for (args, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(stderr.contains(needle), "{args:?}: expected {needle:?} in {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: one line: {stderr}");
        assert_clean(&format!("{args:?}"), &out);
    }
}

#[test]
fn a_missing_key_file_that_cannot_be_a_secret_is_named() {
    let files = Files::new();
    let seed_file = files.write("session.seed", &hex::encode(SEED));
    // A name with an extension or a directory cannot be a key or PIN: the error names it.
    for missing in ["wallet.key", "keys/wallet", "./wallet"] {
        let mut args = vec!["session-sigs", "--session-seed-file", &seed_file, "--wallet-key-file", missing];
        args.extend(SIGN_ARGS);
        let out = run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&format!("--wallet-key-file {missing}: No such file")), "{missing}: {stderr}");
        assert_clean(missing, &out);
    }
    // A bare name could be a PIN or passphrase: withheld.
    let mut args = vec!["session-sigs", "--session-seed-file", &seed_file, "--wallet-key-file", PIN];
    args.extend(SIGN_ARGS);
    let out = run(&args);
    assert!(String::from_utf8_lossy(&out.stderr).contains("[value withheld]"), "{}", printed(&out));
    assert_clean("a PIN as the key file", &out);
}

#[test]
fn most_verbose_run_prints_no_secret() {
    let files = Files::new();
    let wallet_file = files.write("wallet.key", &format!("0x{}\n", hex::encode(WALLET)));
    let seed_file = files.write("session.seed", &hex::encode(SEED));
    let mut args = vec!["session-sigs", "--session-seed-file", &seed_file, "--wallet-key-file", &wallet_file];
    args.extend(SIGN_ARGS);
    args.extend(["--node", "http://127.0.0.1:7471", "--expiration", "2025-03-15T14:34:56.789Z"]);
    let out = run(&args);
    assert!(out.status.success(), "{}", printed(&out));
    assert_clean("session-sigs", &out);
    // The run really used these keys: the public key and address are printed.
    let public = ed25519_dalek::SigningKey::from_bytes(&SEED).verifying_key();
    assert!(printed(&out).contains(&hex::encode(public.as_bytes())));
    let sigs = files.write("sigs.json", &String::from_utf8(out.stdout.clone()).unwrap());

    let delegation = run(&["capacity-delegation", "--wallet-key-file", &wallet_file, "--nonce", "0x3a9c4f1e8b7d6a5c"]);
    assert!(delegation.status.success(), "{}", printed(&delegation));
    assert_clean("capacity-delegation", &delegation);
    let cap = files.write("cap.json", &String::from_utf8(delegation.stdout.clone()).unwrap());
    let mut with_cap = args.clone();
    with_cap.extend(["--capability-auth-sig", &cap]);
    let out = run(&with_cap);
    assert!(out.status.success(), "{}", printed(&out));
    assert_clean("session-sigs with a delegation", &out);

    for check in [
        vec!["wallet", "address", "--wallet-key-file", &wallet_file],
        vec![
            "verify",
            "--session-sigs",
            &sigs,
            "--node",
            "http://127.0.0.1:7471",
            "--resource",
            "lit-pkp://*=pkp-signing",
            "--now",
            "2025-03-15T12:35:00.000Z",
        ],
        vec![
            "verify",
            "--session-sigs",
            &sigs,
            "--node",
            "http://127.0.0.1:7471",
            "--resource",
            "lit-pkp://*=pkp-signing",
            "--strict",
        ],
        vec!["inspect", "--session-sigs", &sigs, "--now", "2025-03-15T12:35:00.000Z"],
        vec!["inspect", "--session-sigs", &sigs, "--json"],
    ] {
        let out = run(&check);
        assert!(matches!(out.status.code(), Some(0 | 1)), "{check:?}: {}", printed(&out));
        assert_clean(&format!("{check:?}"), &out);
    }

    // Failures while reading secret files name the file, never its contents.
    let hex_seed = hex::encode(SEED);
    let bad_files = [
        ("short.seed", hex_seed[..63].to_string()),
        ("long.seed", format!("{hex_seed}{hex_seed}")),
        ("junk.seed", format!("{hex_seed}zz")),
        ("spaced.seed", format!("{} {}", &hex_seed[..32], &hex_seed[32..])),
        ("b64.seed", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, SEED)),
    ];
    for (name, contents) in bad_files {
        let bad = files.write(name, &contents);
        let mut bad_args = vec!["session-sigs", "--session-seed-file", &bad, "--wallet-key-file", &wallet_file];
        bad_args.extend(SIGN_ARGS);
        let out = run(&bad_args);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", printed(&out));
        assert!(printed(&out).contains(name), "the message names the file: {}", printed(&out));
        assert_clean(name, &out);
        let out = run(&["wallet", "address", "--wallet-key-file", &bad]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", printed(&out));
        assert_clean(name, &out);
    }
}

#[test]
fn the_vector_keys_are_not_printed_either() {
    // The SDK vector's own keys (0x33…, 0x42…): a run reproducing it prints neither.
    let v = vector("deterministic-session-sigs-small.json");
    let inputs = &v["vector"]["inputs"];
    let files = Files::new();
    let wallet_hex = inputs["walletPrivateKey"].as_str().unwrap();
    let seed_hex = inputs["sessionKeySeedHex"].as_str().unwrap();
    let wallet = files.write("wallet.key", wallet_hex);
    let seed = files.write("session.seed", seed_hex);
    let mut args = vec!["session-sigs", "--wallet-key-file", &wallet, "--session-seed-file", &seed];
    args.extend(SIGN_ARGS);
    let out = run(&args);
    assert!(out.status.success(), "{}", printed(&out));
    let text = printed(&out).to_lowercase();
    for secret in [seed_hex, wallet_hex.trim_start_matches("0x")] {
        // 0x33… and 0x42… repeat one byte, so look for the whole key, not windows.
        assert!(!text.contains(&secret.to_lowercase()), "{text}");
    }
}
