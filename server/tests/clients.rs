//! The client examples against a real server: the Node.js example with the real Lit JS SDK v7
//! (from `interop/node_modules`), which checks that the SDK puts the server's session sig for
//! each node into that node's request body; the Python example over mTLS.
//!
//! Skipped when Node.js / the SDK or Python are missing, unless `LIT_REQUIRE_INTEROP=1`.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

#[test]
fn node_example_hands_the_map_to_the_real_sdk() {
    if !js_ready(&repo().join("interop"), "@lit-protocol/lit-node-client-nodejs", "interop/", "the Node example") {
        return;
    }
    let (server, token, dir) = dev();
    let token_file = dir.path().join("token");
    write_private(&token_file, &token);
    let out = Command::new("node")
        .arg(repo().join("server/examples/node/session-sigs.js"))
        .env("LITSIGNER_URL", &server.base)
        .env("LITSIGNER_TOKEN_FILE", &token_file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}\n{}", server.log());
    assert!(stdout.contains("ok: 3 node request bodies carry the signer's session sigs"), "{stdout}\n{stderr}");
    assert!(server.log().contains("request_id=node-example-"), "{}", server.log());
}

#[test]
fn python_example_over_mtls() {
    if !program_ready("python3", "the Python example") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (server_ca, client_ca) = (ca("server CA"), ca("client CA"));
    let (cert, key, _) = leaf(&server_ca, &["localhost", "127.0.0.1"], "server");
    std::fs::write(dir.path().join("server.crt"), cert).unwrap();
    write_private(&dir.path().join("server.key"), &key);
    std::fs::write(dir.path().join("client-ca.crt"), &client_ca.pem).unwrap();
    std::fs::write(dir.path().join("server-ca.crt"), &server_ca.pem).unwrap();
    let (ccert, ckey, _) = leaf(&client_ca, &["python-app"], "python-app");
    std::fs::write(dir.path().join("client.crt"), ccert).unwrap();
    write_private(&dir.path().join("client.key"), &ckey);
    let policy = r#"
        [clients.python-app]
        auth = ["mtls"]
        [[clients.python-app.allow]]
        signers = ["default"]
        resources = ["lit-pkp://*"]
        abilities = ["pkp-signing"]
        max_lifetime = "10m"
        nodes = ["*"]
    "#;
    let extra = format!(
        "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\nclient_ca_file = \"{}\"\nrequire_client_cert = true\n",
        dir.path().join("server.crt").display(),
        dir.path().join("server.key").display(),
        dir.path().join("client-ca.crt").display()
    );
    let server = configured(dir.path(), policy, &[], &extra);
    let out = Command::new("python3")
        .arg(repo().join("server/examples/python/session_sigs_mtls.py"))
        .args(["https://127.0.0.1:7470", "https://127.0.0.1:7471"])
        .env("LITSIGNER_URL", &server.base)
        .env("LITSIGNER_CA", dir.path().join("server-ca.crt"))
        .env("LITSIGNER_CERT", dir.path().join("client.crt"))
        .env("LITSIGNER_KEY", dir.path().join("client.key"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}\n{}", String::from_utf8_lossy(&out.stderr), server.log());
    let map: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let keys: Vec<&String> = map.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["https://127.0.0.1:7470", "https://127.0.0.1:7471"]);
}
