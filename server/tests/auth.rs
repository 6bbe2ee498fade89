//! Authentication on a real server: bearer tokens (missing, wrong, in the query string,
//! rotation with two valid tokens, reload), mTLS with certificates made here (no certificate,
//! wrong CA, pinned fingerprint mismatch, TLS 1.2 refused, identity from the certificate).

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::json;

const POLICY: &str = r#"
[clients.app]
endpoints = ["session-sigs", "keys"]
[[clients.app.allow]]
name = "pkp"
signers = ["default"]
resources = ["lit-pkp://*"]
abilities = ["pkp-signing"]
max_lifetime = "10m"
nodes = ["*"]

[clients."payments-api.internal"]
auth = ["mtls"]
endpoints = ["session-sigs", "keys"]
[[clients."payments-api.internal".allow]]
name = "pkp"
signers = ["default"]
resources = ["lit-pkp://*"]
abilities = ["pkp-signing"]
max_lifetime = "10m"
nodes = ["*"]

[clients.pinned-client]
auth = ["mtls"]
[[clients.pinned-client.allow]]
signers = ["default"]
resources = ["lit-pkp://*"]
abilities = ["pkp-signing"]
max_lifetime = "10m"
nodes = ["*"]
"#;

fn tls_client(ca_pem: &str, identity: Option<(&str, &str)>, tls12_only: bool) -> reqwest::blocking::Client {
    let mut b = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(30));
    if let Some((cert, key)) = identity {
        b = b.identity(reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap());
    }
    if tls12_only {
        b = b.max_tls_version(reqwest::tls::Version::TLS_1_2);
    }
    b.build().unwrap()
}

struct TlsSetup {
    server_ca: Ca,
    client_ca: Ca,
}

fn tls_server(dir: &Path, setup: &TlsSetup, extra_tls: &str, tokens: &[(&str, &str)]) -> Server {
    let (cert, key, _) = leaf(&setup.server_ca, &["localhost", "127.0.0.1"], "lit-session-server");
    std::fs::write(dir.join("server.crt"), cert).unwrap();
    write_private(&dir.join("server.key"), &key);
    std::fs::write(dir.join("client-ca.crt"), &setup.client_ca.pem).unwrap();
    let extra = format!(
        "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\nclient_ca_file = \"{}\"\n{extra_tls}\n",
        dir.join("server.crt").display(),
        dir.join("server.key").display(),
        dir.join("client-ca.crt").display()
    );
    configured(dir, POLICY, tokens, &extra)
}

fn body() -> serde_json::Value {
    sigs_body(&["https://127.0.0.1:7470"], &[("lit-pkp", "*", "pkp-signing")])
}

#[test]
fn bearer_tokens_header_only_and_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let server = configured(dir.path(), POLICY, &[("app", "old-token"), ("app", "new-token")], "");
    let c = client();
    let url = server.url("/v1/session-sigs");
    let (s, p) = post(&c, &url, None, &body());
    assert_eq!((s, problem_type(&p).as_str()), (401, "unauthenticated"));
    let (s, p) = post(&c, &url, Some("not-a-token"), &body());
    assert_eq!((s, problem_type(&p).as_str()), (401, "unauthenticated"));
    // A valid token in the query string is refused, with or without the header.
    let (s, p) = post(&c, &format!("{url}?access_token=old-token"), None, &body());
    assert_eq!((s, problem_type(&p).as_str()), (401, "token-in-query"));
    let (s, _) = post(&c, &format!("{url}?token=old-token"), Some("old-token"), &body());
    assert_eq!(s, 401);
    // However the name is spelt: percent-encoded (once or twice), upper case, after a `;`.
    for query in
        ["access%5Ftoken=old-token", "access%255Ftoken=old-token", "ACCESS_TOKEN=x", "a=1;token=x", "%74oken=x"]
    {
        let (s, p) = post(&c, &format!("{url}?{query}"), Some("old-token"), &body());
        assert_eq!((s, problem_type(&p).as_str()), (401, "token-in-query"), "{query}");
    }
    let resp = c.post(&url).header("authorization", "Basic b2xkLXRva2Vu").json(&body()).send().unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");

    // Both tokens of a rotation are valid.
    assert_eq!(post(&c, &url, Some("old-token"), &body()).0, 200);
    assert_eq!(post(&c, &url, Some("new-token"), &body()).0, 200);
    // A client configured for mTLS only may not use a token.
    write_tokens(&dir.path().join("tokens"), &[("app", "new-token"), ("payments-api.internal", "pay-token")]);
    server.signal("HUP");
    assert!(wait_until(Duration::from_secs(10), || post(&c, &url, Some("old-token"), &body()).0 == 401));
    assert_eq!(post(&c, &url, Some("new-token"), &body()).0, 200);
    let (s, p) = post(&c, &url, Some("pay-token"), &body());
    assert_eq!((s, p["rule"].as_str()), (403, Some("auth-method")), "{p}");

    // A token file with three tokens for a client is refused; the old tokens stay valid and
    // readiness says the policy is degraded.
    write_tokens(&dir.path().join("tokens"), &[("app", "a"), ("app", "b"), ("app", "c")]);
    server.signal("HUP");
    assert!(wait_until(Duration::from_secs(10), || get(&c, &server.url("/readyz"), None).1["checks"][2]["status"]
        == "degraded"));
    assert_eq!(post(&c, &url, Some("new-token"), &body()).0, 200);
    assert_eq!(post(&c, &url, Some("a"), &body()).0, 401);
    let log = server.log();
    for secret in ["old-token", "new-token", "pay-token"] {
        assert!(!log.contains(secret), "the log shows a token");
    }
}

#[test]
fn mtls_refuses_missing_foreign_and_old_clients_and_names_the_client_from_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let setup = TlsSetup { server_ca: ca("server CA"), client_ca: ca("client CA") };
    let server = tls_server(dir.path(), &setup, "require_client_cert = true", &[]);
    assert!(server.base.starts_with("https://127.0.0.1:"), "{}", server.base);
    let url = server.url("/v1/session-sigs");
    let good = leaf(&setup.client_ca, &["payments-api.internal"], "ignored-cn");
    let stranger_ca = ca("stranger CA");
    let foreign = leaf(&stranger_ca, &["payments-api.internal"], "x");

    // No certificate: the handshake is refused.
    assert!(tls_client(&setup.server_ca.pem, None, false).post(&url).json(&body()).send().is_err());
    // A certificate from another CA with the same name.
    assert!(tls_client(&setup.server_ca.pem, Some((&foreign.0, &foreign.1)), false)
        .post(&url)
        .json(&body())
        .send()
        .is_err());
    // TLS 1.2 is not offered.
    assert!(tls_client(&setup.server_ca.pem, Some((&good.0, &good.1)), true).post(&url).json(&body()).send().is_err());

    let c = tls_client(&setup.server_ca.pem, Some((&good.0, &good.1)), false);
    let (s, v) = post(&c, &url, None, &body());
    assert_eq!(s, 200, "{v}");
    // /livez needs no credentials but still the handshake.
    assert_eq!(get(&c, &server.url("/livez"), None).0, 200);
    // A certificate whose only name is its CN.
    let cn_only = leaf(&setup.client_ca, &[], "payments-api.internal");
    let c2 = tls_client(&setup.server_ca.pem, Some((&cn_only.0, &cn_only.1)), false);
    assert_eq!(post(&c2, &url, None, &body()).0, 200);
    // A client the policy does not know is denied.
    let unknown = leaf(&setup.client_ca, &["someone-else"], "x");
    let c3 = tls_client(&setup.server_ca.pem, Some((&unknown.0, &unknown.1)), false);
    let (s, p) = post(&c3, &url, None, &body());
    assert_eq!((s, p["rule"].as_str()), (403, Some("implicit-deny")), "{p}");
    assert!(server.stop().success());

    let conn = rusqlite::Connection::open(dir.path().join("store.sqlite")).unwrap();
    let rows: Vec<(String, String)> = conn
        .prepare("SELECT client, json_extract(record, '$.auth') FROM audit ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows[0], ("payments-api.internal".to_string(), "mtls".to_string()));
    assert_eq!(rows.last().unwrap().0, "someone-else");
}

#[test]
fn pinned_fingerprints_admit_only_listed_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let setup = TlsSetup { server_ca: ca("server CA"), client_ca: ca("client CA") };
    let pinned = leaf(&setup.client_ca, &["whatever.internal"], "x");
    let other = leaf(&setup.client_ca, &["whatever.internal"], "x");
    write_private(&dir.path().join("pins"), format!("pinned-client sha256:{}\n", hex_sha256(&pinned.2)));
    let extra =
        format!("require_client_cert = true\nclient_fingerprints_file = \"{}\"", dir.path().join("pins").display());
    let server = tls_server(dir.path(), &setup, &extra, &[]);
    let url = server.url("/v1/session-sigs");
    assert!(tls_client(&setup.server_ca.pem, Some((&other.0, &other.1)), false)
        .post(&url)
        .json(&body())
        .send()
        .is_err());
    let c = tls_client(&setup.server_ca.pem, Some((&pinned.0, &pinned.1)), false);
    let (s, v) = post(&c, &url, None, &body());
    assert_eq!(s, 200, "{v}");
    assert!(server.stop().success());
    let conn = rusqlite::Connection::open(dir.path().join("store.sqlite")).unwrap();
    let client: String = conn.query_row("SELECT client FROM audit", [], |r| r.get(0)).unwrap();
    assert_eq!(client, "pinned-client");
}

#[test]
fn tokens_over_tls_with_optional_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let setup = TlsSetup { server_ca: ca("server CA"), client_ca: ca("client CA") };
    let server = tls_server(dir.path(), &setup, "", &[("app", "app-token")]);
    let url = server.url("/v1/session-sigs");
    let no_cert = tls_client(&setup.server_ca.pem, None, false);
    assert_eq!(post(&no_cert, &url, Some("app-token"), &body()).0, 200);
    let (s, p) = post(&no_cert, &url, None, &body());
    assert_eq!((s, problem_type(&p).as_str()), (401, "unauthenticated"));
    // A certificate and a token that name different clients.
    let pay = leaf(&setup.client_ca, &["payments-api.internal"], "x");
    let c = tls_client(&setup.server_ca.pem, Some((&pay.0, &pay.1)), false);
    let (s, p) = post(&c, &url, Some("app-token"), &body());
    assert_eq!(s, 401, "{p}");
    assert_eq!(post(&c, &url, None, &body()).0, 200);
    // Foreign certificates are still refused when certificates are optional.
    let stranger = ca("stranger");
    let foreign = leaf(&stranger, &["app"], "x");
    let c = tls_client(&setup.server_ca.pem, Some((&foreign.0, &foreign.1)), false);
    assert!(c.post(&url).bearer_auth("app-token").json(&json!({})).send().is_err());
}
