//! What the benches share: the service's configuration for client `bench` and its process.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_lit-session-server");

/// The service's binary the benches start: `LIT_BENCH_SERVER` if set (another build, for a
/// before/after run with the same load client), else this build's.
pub fn bin() -> String {
    std::env::var("LIT_BENCH_SERVER").unwrap_or_else(|_| BIN.to_string())
}

/// A numeric option `name N` of the bench's command line.
pub fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Writes `text` readable by the owner only (token and key files).
pub fn private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// The policy (client `bench`: any PKP, any node), its token and a configuration with the
/// `[store]` body `store`, the signer `signer_toml` and `extra` sections; returns its path.
pub fn write_config(dir: &Path, signer_toml: &str, token: &str, store: &str, extra: &str) -> PathBuf {
    let policy = "[clients.bench]\n[[clients.bench.allow]]\nsigners = [\"*\"]\nresources = [\"lit-pkp://*\"]\n\
                  abilities = [\"pkp-signing\"]\nmax_lifetime = \"10m\"\nnodes = [\"*\"]\n";
    std::fs::write(dir.join("policy.toml"), policy).unwrap();
    let tokens = dir.join("tokens");
    private(&tokens, &lit_session_server::auth::token_line("bench", token));
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nhealth_interval = \"60s\"\n[auth]\ntokens_file = \"{}\"\n\
         [store]\n{store}\n[policy]\nfile = \"{}\"\n[signers.default]\n{signer_toml}\n{extra}",
        tokens.display(),
        dir.join("policy.toml").display()
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// The service's process; dropping it stops it (SIGTERM) and waits.
pub struct ServerProcess(pub std::process::Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let _ = self.0.wait();
    }
}

/// Starts the service from `config` (pinned to `core` with `taskset` when given and present)
/// and returns it with its base URL. Its warnings go to stderr.
pub fn start(config: &Path, env: &[(&str, String)], core: Option<usize>) -> (ServerProcess, String) {
    use std::io::BufRead;
    let taskset = core.is_some() && Command::new("taskset").arg("--version").output().is_ok();
    let mut cmd = match core {
        Some(core) if taskset => {
            let mut c = Command::new("taskset");
            c.args(["-c", &core.to_string(), &bin()]);
            c
        }
        _ => Command::new(bin()),
    };
    cmd.args(["--config", config.to_str().unwrap()]).stdout(Stdio::null()).stderr(Stdio::piped());
    cmd.env("LITSIGNER_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    let base = loop {
        let line = lines.next().expect("server exited").unwrap();
        if let Some(b) = line.strip_prefix("lit-session-server: listening on ") {
            break b.to_string();
        }
    };
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            eprintln!("server: {line}");
        }
    });
    (ServerProcess(child), base)
}

/// The benches' mint: a v1 session for `nodes` (URLs), one PKP resource `pkp` with
/// `pkp-signing`, ten minutes.
#[allow(dead_code)]
pub fn mint_input(nodes: &[String], pkp: &str) -> lit_session_server::signing::MintInput {
    use lit_session_server::signing;
    signing::MintInput {
        nodes: nodes.iter().map(|u| signing::parse_node_url(u).unwrap()).collect(),
        requests: vec![signing::parse_request("lit-pkp", pkp, "pkp-signing", None).unwrap()],
        nonce: "0x3a9c4f1e8b7d6a5c4b3a29180f7e6d5c".into(),
        expiration: signing::Timestamp::now().saturating_add(time::Duration::minutes(10)),
        capability_auth_sigs: vec![],
        domain: None,
        statement: None,
        chain_id: None,
        format: signing::SessionFormat::V1,
        pricing: None,
        default_lifetime: None,
    }
}
