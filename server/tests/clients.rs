//! The client packages (`clients/js`, `clients/python`) against real servers.
//!
//! Each package's own tests (`node --test`, `pytest`) run against a fixture made here: a
//! `--dev` server, a server with mutual TLS and a policy that denies Lit Actions, and the
//! configuration of a third server on a SoftHSM2 session key that the tests start, restart and
//! take the token from themselves (503 `hsm-unavailable`, a 429 client, a deadline). Then the
//! artifacts (`npm pack`'s tarball, `python -m build`'s wheel) are installed into clean
//! directories and the README's short programs (`server/examples/`) run against the dev server.
//!
//! The artifacts come from `scripts/client-packages.sh` (`LIT_CLIENT_ARTIFACTS`); maps are
//! checked with the `lit-session` binary of the same build. Skipped when either is missing,
//! unless `LIT_REQUIRE_INTEROP=1` (as `scripts/test-all.sh` sets).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::tokens;
use common::*;
use serde_json::{json, Value};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn required() -> bool {
    std::env::var("LIT_REQUIRE_INTEROP").as_deref() == Ok("1")
}

fn skip<T>(why: String) -> Option<T> {
    assert!(!required(), "the client package tests cannot run: {why}");
    eprintln!("SKIPPED: {why}");
    None
}

/// What `scripts/client-packages.sh` built, and the CLI that checks maps.
struct Artifacts {
    dir: PathBuf,
    lit_session: PathBuf,
}

impl Artifacts {
    fn find() -> Option<Self> {
        let Some(dir) = std::env::var_os("LIT_CLIENT_ARTIFACTS").map(PathBuf::from) else {
            return skip("LIT_CLIENT_ARTIFACTS is not set (run scripts/client-packages.sh)".into());
        };
        let lit_session = Path::new(BIN).with_file_name("lit-session");
        if !lit_session.exists() {
            return skip(format!("{} is missing (cargo build --release --bin lit-session)", lit_session.display()));
        }
        Some(Self { dir, lit_session })
    }

    fn file(&self, suffix: &str) -> PathBuf {
        std::fs::read_dir(&self.dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with(suffix))
            .unwrap_or_else(|| panic!("no *{suffix} in {}", self.dir.display()))
    }

    /// The virtual environment with the test dependencies and the wheel installed.
    fn python(&self) -> PathBuf {
        self.dir.join("venv/bin/python")
    }
}

/// The servers and files a package's tests run against; the servers stop when it is dropped.
struct Fixture {
    dev: Server,
    mtls: Server,
    dev_token: String,
    file: PathBuf,
    _hsm: tokens::ThrowawayTokens,
    _dir: tempfile::TempDir,
}

const MTLS_POLICY: &str = r#"
    [clients.app]
    auth = ["mtls"]
    endpoints = ["session-sigs", "policy-evaluate", "verify", "keys"]
    [[clients.app.allow]]
    name = "pkp-and-actions"
    signers = ["*"]
    resources = ["lit-pkp://*", "lit-litaction://*"]
    abilities = ["pkp-signing", "lit-action-execution"]
    max_lifetime = "10m"
    nodes = ["*"]
    [[clients.app.deny]]
    name = "no-lit-actions"
    resources = ["lit-litaction://*"]
    abilities = ["lit-action-execution"]
"#;

const RESTARTABLE_POLICY: &str = r#"
    [clients.app]
    endpoints = ["session-sigs", "keys"]
    [[clients.app.allow]]
    signers = ["*"]
    resources = ["lit-pkp://*"]
    abilities = ["pkp-signing"]
    max_lifetime = "10m"
    nodes = ["*"]
    [clients.limited]
    rate = { count = 1, per = "1s" }
    [[clients.limited.allow]]
    signers = ["*"]
    resources = ["lit-pkp://*"]
    abilities = ["pkp-signing"]
    max_lifetime = "10m"
    nodes = ["*"]
"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn fixture(artifacts: &Artifacts) -> Option<Fixture> {
    let hsm = match tokens::ThrowawayTokens::create(tokens::Module::SoftHsm2, &["clients"]) {
        Ok(h) => h,
        Err(e) => return skip(format!("SoftHSM2: {e}")),
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (dev, dev_token, _dev_dir) = dev();
    write_private(&d.join("dev-token"), &dev_token);

    // Mutual TLS: the client's certificate names it ("app"); the policy denies Lit Actions.
    let (server_ca, client_ca) = (ca("server CA"), ca("client CA"));
    let (cert, key, _) = leaf(&server_ca, &["localhost", "127.0.0.1"], "server");
    std::fs::write(d.join("server.crt"), cert).unwrap();
    write_private(&d.join("server.key"), &key);
    std::fs::write(d.join("client-ca.crt"), &client_ca.pem).unwrap();
    std::fs::write(d.join("server-ca.crt"), &server_ca.pem).unwrap();
    let (ccert, ckey, _) = leaf(&client_ca, &["app"], "app");
    std::fs::write(d.join("client.crt"), ccert).unwrap();
    write_private(&d.join("client.key"), &ckey);
    let mtls_dir = d.join("mtls");
    std::fs::create_dir(&mtls_dir).unwrap();
    let tls = format!(
        "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\nclient_ca_file = \"{}\"\nrequire_client_cert = true\n",
        d.join("server.crt").display(),
        d.join("server.key").display(),
        d.join("client-ca.crt").display()
    );
    let mtls = configured(&mtls_dir, MTLS_POLICY, &[], &tls);

    // The server the tests start and stop themselves: a session key on a SoftHSM2 token (the
    // tests move the token's directory away for a real 503), bearer tokens for "app" and for
    // "limited" (one request per second: a real 429).
    let token = hsm.main();
    let base = format!(
        "pkcs11:token=clients?module-path={}&pin-source=file:{}",
        hsm.library.display(),
        token.pin_file.display()
    );
    // Made with the CLI, as an operator would, in a process of its own (the module reads its
    // configuration once per process; the JS and Python fixtures each have their own).
    let made = Command::new(&artifacts.lit_session)
        .args(["keys", "generate", "--pkcs11-uri", &base, "--label", "client-session"])
        .env(hsm.conf_var(), hsm.conf())
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", show("lit-session keys generate", &made));
    let key_uri = String::from_utf8(made.stdout).unwrap().trim().to_string();
    assert!(key_uri.contains("client-session"), "{key_uri}");
    let (app_token, limited_token) = (run_token(), run_token());
    let r = d.join("restartable");
    std::fs::create_dir(&r).unwrap();
    std::fs::write(r.join("policy.toml"), RESTARTABLE_POLICY).unwrap();
    write_tokens(&r.join("tokens"), &[("app", &app_token), ("limited", &limited_token)]);
    write_private(&r.join("app-token"), &app_token);
    write_private(&r.join("limited-token"), &limited_token);
    let port = free_port();
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\nhealth_interval = \"1s\"\nshutdown_grace = \"2s\"\n\
         [auth]\ntokens_file = \"{}\"\n[store]\npath = \"{}\"\n[policy]\nfile = \"{}\"\n\
         [signers.default]\nsession_key = \"{key_uri}\"\nwallet = \"random\"\n",
        r.join("tokens").display(),
        r.join("store.sqlite").display(),
        r.join("policy.toml").display()
    );
    std::fs::write(r.join("config.toml"), config).unwrap();

    let fixture = json!({
        "litSession": artifacts.lit_session,
        "dev": {"url": dev.base, "tokenFile": d.join("dev-token")},
        "mtls": {
            "url": mtls.base,
            "ca": d.join("server-ca.crt"), "cert": d.join("client.crt"), "key": d.join("client.key"),
            "deniedRule": "no-lit-actions",
        },
        "restartable": {
            "url": format!("http://127.0.0.1:{port}"),
            "argv": [BIN, "--config", r.join("config.toml")],
            "env": {hsm.conf_var(): hsm.conf(), "LITSIGNER_LOG_FORMAT": "text"},
            "tokenFile": r.join("app-token"),
            "limitedTokenFile": r.join("limited-token"),
            "hsmTokenDir": hsm.softhsm_token_dir("clients").expect("the token's directory"),
            // Outside SoftHSM2's token directory, where it would find the token again.
            "hsmParkedDir": hsm.dir.join("parked"),
        },
        "secrets": [dev_token, app_token, limited_token, std::fs::read_to_string(&token.pin_file).unwrap().trim()],
        "interop": repo().join("interop"),
    });
    let file = d.join("fixture.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&fixture).unwrap()).unwrap();
    Some(Fixture { dev, mtls, dev_token, file, _hsm: hsm, _dir: dir })
}

/// A bearer token as `token new` makes them (the tests never print one).
fn run_token() -> String {
    lit_session_server::run::new_token().as_str().to_string()
}

fn show(what: &str, out: &Output) -> String {
    format!(
        "{what}: {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The runner's closing counts ("tests N, pass N" / "N passed"), echoed for the CI log.
fn counts(text: &str, markers: &[&str]) -> String {
    text.lines().filter(|l| markers.iter().any(|m| l.contains(m))).map(str::trim).collect::<Vec<_>>().join("; ")
}

fn assert_no_secret(fixture: &Fixture, text: &str, what: &str) {
    let v: Value = serde_json::from_slice(&std::fs::read(&fixture.file).unwrap()).unwrap();
    for secret in v["secrets"].as_array().unwrap() {
        let s = secret.as_str().unwrap();
        assert!(!text.contains(s), "a secret in {what}");
    }
}

#[test]
fn js_package_tests_against_live_servers() {
    let Some(artifacts) = Artifacts::find() else { return };
    if !js_ready(&repo().join("interop"), "@lit-protocol/lit-node-client-nodejs", "interop/", "the JS client tests")
        || !js_ready(&repo().join("interop/v8"), "@lit-protocol/networks", "interop/v8/", "the JS client tests")
    {
        return;
    }
    let Some(f) = fixture(&artifacts) else { return };
    let js = repo().join("clients/js");
    let mut files: Vec<PathBuf> = std::fs::read_dir(js.join("test"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".test.mjs"))
        .collect();
    files.sort();
    let out = Command::new("node")
        .args(["--test", "--test-concurrency=1", "--test-reporter=spec"])
        .args(&files)
        .current_dir(&js)
        .env("LIT_CLIENT_FIXTURE", &f.file)
        .output()
        .unwrap();
    let text = show("node --test", &out);
    assert!(out.status.success(), "{text}\n--- mTLS server\n{}", f.mtls.log());
    eprintln!("clients/js: {}", counts(&String::from_utf8_lossy(&out.stdout), &["ℹ tests", "ℹ pass", "ℹ fail"]));
    assert_no_secret(&f, &text, "the JS tests' output");
    assert_no_secret(&f, &f.mtls.log(), "the mTLS server's log");
    // The dev server prints its token once, by design, on its "dev token:" line; nowhere else.
    let dev_log = f.dev.log().lines().filter(|l| !l.starts_with("dev token: ")).collect::<Vec<_>>().join("\n");
    assert!(!dev_log.contains(&f.dev_token), "the dev token in the dev server's log");
    assert!(dev_log.contains("request_id=lsc-"), "no generated correlation id in the dev server's log");
}

#[test]
fn python_package_tests_against_live_servers() {
    let Some(artifacts) = Artifacts::find() else { return };
    let Some(f) = fixture(&artifacts) else { return };
    let out = Command::new(artifacts.python())
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"])
        .current_dir(repo().join("clients/python"))
        .env("LIT_CLIENT_FIXTURE", &f.file)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let text = show("pytest", &out);
    assert!(out.status.success(), "{text}\n--- mTLS server\n{}", f.mtls.log());
    eprintln!("clients/python: {}", counts(&String::from_utf8_lossy(&out.stdout), &[" passed"]));
    assert_no_secret(&f, &text, "the Python tests' output");
    assert_no_secret(&f, &f.mtls.log(), "the mTLS server's log");
    let dev_log = f.dev.log().lines().filter(|l| !l.starts_with("dev token: ")).collect::<Vec<_>>().join("\n");
    assert!(!dev_log.contains(&f.dev_token), "the dev token in the dev server's log");
}

/// Runs an example program from `server/examples/` in `dir` against the dev server; returns the
/// map it printed, checked by the library's verifier for every node.
fn run_example(program: &mut Command, dir: &Path) -> Value {
    let (server, token, _d) = dev();
    let token_file = dir.join("token");
    write_private(&token_file, &token);
    let out = program
        .current_dir(dir)
        .env("LITSIGNER_URL", &server.base)
        .env("LITSIGNER_TOKEN_FILE", &token_file)
        .output()
        .unwrap();
    let text = show("the example", &out);
    assert!(out.status.success(), "{text}\n--- server\n{}", server.log());
    let map: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {text}"));
    let nodes: Vec<&String> = map.as_object().unwrap().keys().collect();
    assert_eq!(nodes, ["https://127.0.0.1:7470", "https://127.0.0.1:7471"], "{text}");
    let request = lit_session_server::signing::parse_request("lit-pkp", "0x1a2b", "pkp-signing", None).unwrap();
    let results = lit_session_server::signing::verify_map(
        &map.to_string(),
        None,
        std::slice::from_ref(&request),
        lit_session_server::signing::Timestamp::now(),
        true,
        lit_session_server::signing::Generation::Datil,
    )
    .unwrap();
    assert!(results.len() == 2 && results.iter().all(|r| r.valid), "{results:?}");
    assert!(server.log().contains("request_id=lsc-"), "{}", server.log());
    map
}

#[test]
fn node_example_from_the_packed_tarball_in_a_clean_directory() {
    let Some(artifacts) = Artifacts::find() else { return };
    if !program_ready("npm", "the Node example") {
        return;
    }
    let tarball = artifacts.file(".tgz");
    let dir = tempfile::tempdir().unwrap();
    // The dependency at the version the package's lock file pins, from npm's cache.
    let lock: Value =
        serde_json::from_slice(&std::fs::read(repo().join("clients/js/package-lock.json")).unwrap()).unwrap();
    let undici = lock["packages"]["node_modules/undici"]["version"].as_str().unwrap();
    std::fs::write(dir.path().join("package.json"), r#"{"name": "example", "private": true}"#).unwrap();
    let out = Command::new("npm")
        .args(["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"])
        .arg(&tarball)
        .arg(format!("undici@{undici}"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show("npm install", &out));
    std::fs::copy(repo().join("server/examples/node/session-sigs.mjs"), dir.path().join("session-sigs.mjs")).unwrap();
    run_example(Command::new("node").arg("session-sigs.mjs"), dir.path());
}

#[test]
fn python_example_from_the_wheel_in_a_clean_venv() {
    let Some(artifacts) = Artifacts::find() else { return };
    let wheel = artifacts.file(".whl");
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("venv");
    let out = Command::new("python3").args(["-m", "venv"]).arg(&venv).output().unwrap();
    assert!(out.status.success(), "{}", show("venv", &out));
    let pip = |args: &[&std::ffi::OsStr]| {
        let out = Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "--disable-pip-version-check", "--no-deps"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", show("pip install", &out));
    };
    // The runtime dependencies at their pinned versions and hashes, then the wheel itself.
    let runtime = repo().join("clients/python/requirements-runtime.txt");
    pip(&["--require-hashes".as_ref(), "--only-binary".as_ref(), ":all:".as_ref(), "-r".as_ref(), runtime.as_os_str()]);
    pip(&[wheel.as_os_str()]);
    std::fs::copy(repo().join("server/examples/python/session_sigs.py"), dir.path().join("session_sigs.py")).unwrap();
    run_example(Command::new(venv.join("bin/python")).arg("session_sigs.py"), dir.path());
}

#[test]
fn the_readme_shows_the_examples_as_they_are() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    for (file, fence) in
        [("server/examples/node/session-sigs.mjs", "```js"), ("server/examples/python/session_sigs.py", "```python")]
    {
        let program = std::fs::read_to_string(repo().join(file)).unwrap();
        assert!(readme.contains(&format!("{fence}\n{program}```")), "README.md does not show {file} as it is");
        let lines = program.lines().filter(|l| !l.trim().is_empty()).count();
        assert!(lines <= 10, "{file} has {lines} lines; the README promises at most 10");
    }
}
