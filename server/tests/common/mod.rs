//! Test helpers: a real `lit-session-server` process (configuration files in a temporary
//! directory, ports picked by the kernel), HTTP clients, certificates made with rcgen.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod in_process;
pub mod postgres;

#[allow(unused_imports)] // each test crate uses a different subset
pub use in_process::InProcess;

// The helpers the library's tests share (tool checks, 0600 files), from the test kit.
#[allow(unused_imports)] // each test crate uses a different subset
pub use lit_testkit::env::{js_ready, program_ready, write_private};

// The library's throwaway-token makers and fault helpers, included by path in hsm_tokens.rs only.
mod hsm_tokens;
#[allow(unused_imports)] // the PKCS#11 tests use it
pub use hsm_tokens::tokens;

pub const BIN: &str = env!("CARGO_BIN_EXE_lit-session-server");

/// A running server process.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub metrics: Option<String>,
    pub stderr: Arc<Mutex<Vec<String>>>,
    pub dir: PathBuf,
}

impl Server {
    /// Starts the binary with `args` and waits for its "listening on" line.
    pub fn start(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Result<Self, String> {
        let mut cmd = Command::new(BIN);
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        cmd.env("LITSIGNER_LOG_FORMAT", "text").env_remove("LITSIGNER_CONFIG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|e| e.to_string())?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("lit-session-server: listening on ") {
                    let _ = tx.send(Ok(rest.to_string()));
                } else if let Some(rest) = line.strip_prefix("lit-session-server: metrics on ") {
                    let _ = tx.send(Err(rest.trim_end_matches("/metrics").to_string()));
                }
                sink.lock().unwrap().push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut base = None;
        let mut metrics = None;
        let wants_metrics = args.contains(&"--metrics-listen");
        while Instant::now() < deadline {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Ok(b)) => base = Some(b),
                Ok(Err(m)) => metrics = Some(m),
                Err(_) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        let log = lines.lock().unwrap().join("\n");
                        return Err(format!("server exited with {status}:\n{log}"));
                    }
                }
            }
            if base.is_some() && (!wants_metrics || metrics.is_some()) {
                break;
            }
        }
        let base = base.ok_or_else(|| format!("server did not start:\n{}", lines.lock().unwrap().join("\n")))?;
        Ok(Self { child, base, metrics, stderr: lines, dir: dir.to_path_buf() })
    }

    /// Everything the process wrote on stderr so far.
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Sends a signal.
    pub fn signal(&self, sig: &str) {
        Command::new("kill").args([&format!("-{sig}"), &self.child.id().to_string()]).status().unwrap();
    }

    /// SIGTERM and wait (bounded).
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return self.child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lets client `app` mint sessions for any PKP (`pkp-signing`) with every profile, on any node,
/// for up to ten minutes.
pub const PKP_APP_POLICY: &str = r#"
    [clients.app]
    [[clients.app.allow]]
    signers = ["*"]
    resources = ["lit-pkp://*"]
    abilities = ["pkp-signing"]
    max_lifetime = "10m"
    nodes = ["*"]
"#;

/// The `[signers.default]` section for a session-key seed file and a wallet key file.
pub fn seed_file_signer(seed: &Path, wallet: &Path) -> String {
    format!(
        "[signers.default]\nsession_key_seed_file = \"{}\"\nwallet_key_file = \"{}\"\n",
        seed.display(),
        wallet.display()
    )
}

/// Starts dev mode; returns the server and its token.
pub fn dev() -> (Server, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let server =
        Server::start(&["--dev", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"], dir.path(), &[])
            .unwrap();
    let token =
        server.log().lines().find_map(|l| l.strip_prefix("dev token: ").map(str::to_string)).expect("dev token line");
    (server, token, dir)
}

/// A server from a configuration written into `dir`: `policy` (TOML), `tokens` (client, token)
/// pairs, `extra` appended to the config file.
pub fn configured(dir: &Path, policy: &str, tokens: &[(&str, &str)], extra: &str) -> Server {
    try_configured(dir, policy, tokens, extra).unwrap()
}

pub fn try_configured(dir: &Path, policy: &str, tokens: &[(&str, &str)], extra: &str) -> Result<Server, String> {
    try_configured_store(dir, policy, tokens, "", extra)
}

/// [`try_configured`] with `store_extra` added to the `[store]` section.
pub fn try_configured_store(
    dir: &Path,
    policy: &str,
    tokens: &[(&str, &str)],
    store_extra: &str,
    extra: &str,
) -> Result<Server, String> {
    let config = write_config(dir, policy, tokens, store_extra, extra);
    Server::start(&["--config", config.to_str().unwrap(), "--metrics-listen", "127.0.0.1:0"], dir, &[])
}

/// Writes a configuration in `dir` (the policy, the tokens' hashes, an SQLite store, ports the
/// kernel picks; profiles `default` and `treasury` unless `extra` has its own) and returns its
/// path.
pub fn write_config(dir: &Path, policy: &str, tokens: &[(&str, &str)], store_extra: &str, extra: &str) -> PathBuf {
    let policy_file = dir.join("policy.toml");
    std::fs::write(&policy_file, policy).unwrap();
    let tokens_file = dir.join("tokens");
    write_tokens(&tokens_file, tokens);
    let config = dir.join("config.toml");
    let signers = if extra.contains("[signers.") {
        String::new()
    } else {
        "[signers.default]\nsession_key = \"memory\"\nwallet = \"random\"\n\n[signers.treasury]\nsession_key = \"memory\"\nwallet = \"random\"\n".to_string()
    };
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nmetrics_listen = \"127.0.0.1:0\"\nhealth_interval = \"1s\"\n\n\
         [auth]\ntokens_file = \"{}\"\n\n[store]\npath = \"{}\"\ndurability = \"normal\"\n{store_extra}\n\n\
         [policy]\nfile = \"{}\"\n\n{signers}\n{extra}\n",
        tokens_file.display(),
        dir.join("store.sqlite").display(),
        policy_file.display()
    );
    std::fs::write(&config, text).unwrap();
    config
}

pub fn write_tokens(path: &Path, tokens: &[(&str, &str)]) {
    let text: String = tokens
        .iter()
        .map(|(client, token)| {
            let hash = hex_sha256(token.as_bytes());
            format!("{client} sha256:{hash}\n")
        })
        .collect();
    write_private(path, &text);
}

pub fn hex_sha256(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// A blocking HTTP client (plain).
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

/// A session-sigs body with the SDK's parameter names (the policy case table's).
#[allow(unused_imports)] // each test crate uses a different subset
pub use lit_session_server::policy::testing::sigs_body;

/// POSTs JSON with a bearer token; returns status and body.
pub fn post(client: &reqwest::blocking::Client, url: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = client.post(url).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let text = resp.text().unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if status >= 400 {
        assert_eq!(ct, "application/problem+json", "status {status}: {value}");
    }
    (status, value)
}

pub fn get(client: &reqwest::blocking::Client, url: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = client.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// The problem type's last part.
pub fn problem_type(v: &Value) -> String {
    v["type"].as_str().unwrap_or("").rsplit('/').next().unwrap_or("").to_string()
}

/// Runs `audit verify` on a store file; returns exit code and stdout.
pub fn audit_verify(store: &Path) -> (i32, String) {
    let out = Command::new(BIN).args(["audit", "verify", "--store", store.to_str().unwrap()]).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).to_string())
}

/// Waits until `f` is true (bounded).
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

// ---- certificates (rcgen) ----

pub struct Ca {
    pub params: rcgen::CertificateParams,
    pub key: rcgen::KeyPair,
    pub pem: String,
}

pub fn ca(name: &str) -> Ca {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    let pem = params.self_signed(&key).unwrap().pem();
    Ca { params, key, pem }
}

/// (certificate PEM, key PEM, certificate DER)
pub fn leaf(ca: &Ca, sans: &[&str], cn: &str) -> (String, String, Vec<u8>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    let issuer = rcgen::Issuer::from_params(&ca.params, &ca.key);
    let cert = params.signed_by(&key, &issuer).unwrap();
    (cert.pem(), key.serialize_pem(), cert.der().to_vec())
}
