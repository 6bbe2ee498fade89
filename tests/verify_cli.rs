//! `lit-session verify` and `lit-session inspect`: exit 0 / 1 / 2 and both output formats, on the
//! real SDK vectors in `tests/vectors/`.

mod common;

use common::{lit_session, vector};

use std::process::Output;

use serde_json::Value;

struct Files {
    dir: tempfile::TempDir,
    v: Value,
}

impl Files {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap(), v: vector("session-sigs-wrapped-keys.json") }
    }
    fn write(&self, name: &str, contents: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, contents).unwrap();
        p.to_str().unwrap().to_string()
    }
    fn eoa(&self) -> String {
        self.write("eoa.json", &self.v["eoaSessionSig"].to_string())
    }
    fn pkp_map(&self) -> String {
        self.write("pkp.json", &self.v["sessionSigs"].to_string())
    }
    fn at(&self, which: &str, key: &str) -> String {
        self.v["validity"][which][key].as_str().unwrap().to_string()
    }
}

const NODE: &str = "https://207.244.70.36:8474";
const PKP: &str = "lit-pkp://*=pkp-signing";

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn verify_valid_exits_0() {
    let f = Files::new();
    let now = f.at("eoaSession", "suggestedVerifyAt");
    let eoa = f.eoa();
    for extra in [&[][..], &["--strict"][..]] {
        let mut args = vec!["verify", "--session-sigs", &eoa, "--node", NODE, "--resource", PKP, "--now", &now];
        args.extend(extra);
        let out = lit_session(&args);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(stdout(&out), "valid\n");
    }
}

#[test]
fn verify_invalid_exits_1_naming_the_rule() {
    let f = Files::new();
    let eoa = f.eoa();
    let late = "2024-06-05T00:00:00Z";
    let out = lit_session(&["verify", "--session-sigs", &eoa, "--node", NODE, "--resource", PKP, "--now", late]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).starts_with("invalid: expired: "), "{}", stdout(&out));
    assert!(out.stderr.is_empty());

    // A single object is used for any node, and then fails the node-address rule.
    let now = f.at("eoaSession", "suggestedVerifyAt");
    let other = "https://207.244.70.36:8475";
    let out = lit_session(&["verify", "--session-sigs", &eoa, "--node", other, "--resource", PKP, "--now", &now]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).starts_with("invalid: node-address: "), "{}", stdout(&out));

    // PKP sessions: everything but the BLS capability checks out.
    let now = f.at("pkpSessions", "suggestedVerifyAt");
    let pkp = f.pkp_map();
    let out = lit_session(&["verify", "--session-sigs", &pkp, "--node", NODE, "--resource", PKP, "--now", &now]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).starts_with("invalid: needs-network-key: capability #0"), "{}", stdout(&out));

    // Tampered signed message.
    let mut sig = f.v["eoaSessionSig"].clone();
    let msg = sig["signedMessage"].as_str().unwrap().replace("lit-pkp", "lit-pkq");
    sig["signedMessage"] = Value::String(msg);
    let bad = f.write("bad.json", &sig.to_string());
    let now = f.at("eoaSession", "suggestedVerifyAt");
    let out = lit_session(&["verify", "--session-sigs", &bad, "--node", NODE, "--resource", PKP, "--now", &now]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).starts_with("invalid: ed25519-signature: "), "{}", stdout(&out));
}

#[test]
fn verify_picks_the_entry_by_url_or_node_address() {
    let f = Files::new();
    let now = f.at("pkpSessions", "suggestedVerifyAt");
    // Re-key the map so no key matches: the entry signed for :8473 is found by its nodeAddress.
    let mut map = serde_json::Map::new();
    for (i, (_, v)) in f.v["sessionSigs"].as_object().unwrap().iter().enumerate() {
        map.insert(format!("entry-{i}"), v.clone());
    }
    let path = f.write("rekeyed.json", &Value::Object(map).to_string());
    let node = "https://207.244.70.36:8473";
    let out = lit_session(&["verify", "--session-sigs", &path, "--node", node, "--resource", PKP, "--now", &now]);
    assert!(stdout(&out).starts_with("invalid: needs-network-key: "), "{}", stdout(&out));
    // No entry for this node at all: an input problem.
    let out = lit_session(&["verify", "--session-sigs", &path, "--node", "https://1.2.3.4:1", "--resource", PKP]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no session sig for node https://1.2.3.4:1"));
}

#[test]
fn unreadable_input_exits_2() {
    let f = Files::new();
    let eoa = f.eoa();
    let garbage = f.write("garbage.json", "{not json");
    let array = f.write("array.json", "[1,2]");
    let missing = f.dir.path().join("missing.json");
    let missing = missing.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["verify", "--session-sigs", missing, "--node", NODE, "--resource", PKP], "missing.json"),
        (vec!["verify", "--session-sigs", &garbage, "--node", NODE, "--resource", PKP], "not valid JSON"),
        (vec!["inspect", "--session-sigs", &array], "not a sessionSigs map"),
        (vec!["verify", "--session-sigs", &eoa, "--node", "207.244.70.36:8474", "--resource", PKP], "--node"),
        (vec!["verify", "--session-sigs", &eoa, "--node", NODE, "--resource", "lit-pkp://*"], "--resource"),
        (vec!["verify", "--session-sigs", &eoa, "--node", NODE, "--resource", PKP, "--now", "soon"], "--now"),
        (vec!["verify", "--session-sigs", &eoa, "--node", "https://207.244.70.36:8474#x", "--resource", PKP], "--node"),
        (vec!["verify", "--session-sigs", &eoa, "--node", NODE, "--resource", PKP, "--route", "sometimes"], "--route"),
        (
            vec!["verify", "--session-sigs", &eoa, "--node", NODE, "--resource", PKP, "--node-price", "1"],
            "--node-price",
        ),
        (
            vec![
                "verify",
                "--session-sigs",
                &eoa,
                "--node",
                NODE,
                "--resource",
                PKP,
                "--network",
                "naga",
                "--node-price=-1",
            ],
            "--node-price",
        ),
        (
            vec![
                "verify",
                "--session-sigs",
                &eoa,
                "--node",
                NODE,
                "--resource",
                PKP,
                "--network",
                "naga",
                "--route",
                "unversioned",
            ],
            "--route",
        ),
        (
            vec![
                "verify",
                "--session-sigs",
                &eoa,
                "--node",
                NODE,
                "--resource",
                "lit-paymentdelegation://*=lit-payment-delegation",
            ],
            "--resource",
        ),
        (vec!["inspect", "--session-sigs", &garbage], "not valid JSON"),
        (vec!["inspect", "--session-sigs", missing], "missing.json"),
    ];
    for (args, needle) in cases {
        let out = lit_session(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(out.stdout.is_empty());
    }
    // JSON that is no session sig is what the node refuses, not a usage error.
    let out = lit_session(&["verify", "--session-sigs", &array, "--node", NODE, "--resource", PKP]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).starts_with("invalid: auth-sig-json: "), "{}", stdout(&out));
}

#[test]
fn inspect_table_and_json() {
    let f = Files::new();
    let now = f.at("pkpSessions", "suggestedVerifyAt");
    let out = lit_session(&["inspect", "--session-sigs", &f.pkp_map(), "--now", &now]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let table = stdout(&out);
    for needle in [
        "NODE",
        "VERDICT",
        "https://207.244.70.36:8473",
        "4fd3d6ae41190cdd33a07bc5feb4a51b0c882474e6b51eb37cf799d6668eb44b",
        "2024-06-03T19:47:14.907Z (11h 59m left)",
        "lit-litaction://* lit-action-execution",
        "capability #0 lit.bls",
        "0xd1Af1AAC50aC837C873200D17b78664aFCde597C",
        "lit:session:4fd3d6ae",
        "lit-pkp://* Threshold/Signing",
        "needs-network-key",
    ] {
        assert!(table.contains(needle), "missing {needle:?} in\n{table}");
    }

    let now = f.at("eoaSession", "suggestedVerifyAt");
    let out = lit_session(&["inspect", "--session-sigs", &f.eoa(), "--now", &now, "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let e = &report["entries"][0];
    assert_eq!(e["node"], Value::Null);
    assert_eq!(e["session_key"], "4afd2573c82608c54a2c52c77dfbb13595b4f87d93ebc299459a06a7f698b8f1");
    assert_eq!(e["node_address"], NODE);
    assert_eq!(e["verdict"], "valid");
    assert!(e["seconds_left"].as_i64().unwrap() > 0);
    assert_eq!(e["requests"].as_array().unwrap().len(), 2);
    let cap = &e["capabilities"][0];
    assert_eq!(cap["kind"], "wallet");
    assert_eq!(cap["signer"], "0x6c48cc6CE0972a97074bA0d374B7F58E3031fE87");
    assert_eq!(cap["status"], "valid");
    assert_eq!(cap["bound_to_session"], true);
    assert_eq!(cap["expiration"], "2024-06-03T20:45:04.523Z");
    assert_eq!(cap["grants"].as_array().unwrap().len(), 2);

    // Later, the same file reads as expired.
    let out = lit_session(&["inspect", "--session-sigs", &f.eoa(), "--now", "2024-07-01T00:00:00Z", "--json"]);
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["entries"][0]["verdict"], "invalid");
    assert!(report["entries"][0]["detail"].as_str().unwrap().starts_with("expired: "));
    assert!(report["entries"][0]["capabilities"][0]["status"].as_str().unwrap().starts_with("siwe-time: "));
}

fn network_key(f: &Files) -> String {
    f.v["blsNetworkRootPubkey"]["hex"].as_str().unwrap().to_string()
}

/// The root key of the other BLS vector: a valid G1 key, not this network's.
fn other_network_key() -> String {
    vector("bls-sign-session-key.json")["responses"][0]["blsRootPubkey"].as_str().unwrap().to_string()
}

#[test]
fn verify_pkp_sessions_with_the_network_key() {
    let f = Files::new();
    let now = f.at("pkpSessions", "suggestedVerifyAt");
    let pkp = f.pkp_map();
    let key = network_key(&f);
    let base = ["verify", "--session-sigs", &pkp, "--node", NODE, "--resource", PKP, "--now", &now];
    let run = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend(extra);
        lit_session(&args)
    };
    for extra in [&["--network-key", &key][..], &["--network-key", &format!("0x{key}"), "--strict"][..]] {
        let out = run(extra);
        assert_eq!(out.status.code(), Some(0), "{extra:?}: {}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
        assert_eq!(stdout(&out), "valid\n");
    }
    // The pkp-session-sigs spelling works too.
    let out = run(&["--network-public-key", &key]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // From a file, with a comment and the wrong key first.
    let other = other_network_key();
    let file = f.write("keys.txt", &format!("# Lit networks\n{other}\n\n{key}  # this one\n"));
    let out = run(&["--network-key-file", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // The wrong key only: the BLS rule, exit 1.
    let out = run(&["--network-key", &other]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).starts_with("invalid: capability: #0: bls-signature: "), "{}", stdout(&out));
    // Bad keys are input errors.
    let empty = f.write("empty.txt", "# nothing\n");
    for (extra, needle) in [
        (vec!["--network-key", "abcd"], "--network-key abcd: network public key: expected 48 bytes"),
        (vec!["--network-key", &key[..94]], "expected 48 bytes, got 47"),
        (vec!["--network-key-file", &empty], "no key in the file"),
        (vec!["--network-key-file", "/nonexistent/keys"], "--network-key-file /nonexistent/keys"),
    ] {
        let out = run(&extra);
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(needle), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let bad_line = f.write("bad.txt", &format!("{key}\nzz\n"));
    let out = run(&["--network-key-file", &bad_line]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2: network public key: not hex"));
}

#[test]
fn inspect_with_the_network_key_reports_valid() {
    let f = Files::new();
    let now = f.at("pkpSessions", "suggestedVerifyAt");
    let key = network_key(&f);
    let out = lit_session(&["inspect", "--session-sigs", &f.pkp_map(), "--now", &now, "--network-key", &key, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let entries = report["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    for e in entries {
        assert_eq!(e["verdict"], "valid", "{e}");
        assert_eq!(e["capabilities"][0]["kind"], "lit.bls");
        assert_eq!(e["capabilities"][0]["status"], "valid");
    }
    let out =
        lit_session(&["inspect", "--session-sigs", &f.pkp_map(), "--now", &now, "--network-key", &other_network_key()]);
    let table = stdout(&out);
    assert!(table.contains("status    bls-signature: "), "{table}");
    assert!(table.contains("invalid"), "{table}");
}
