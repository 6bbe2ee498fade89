//! The README as a new user meets it, beside the doc checks that compile its Rust blocks
//! (`src/lib.rs`) and keep its error tables equal to the code (`src/pkcs11/error_guide/`):
//!
//! - every shell block marked ```` ```sh runnable ```` runs, in order, with `bash -euo pipefail`
//!   in one scratch directory (so files one block writes are there for the next), with
//!   `lit-session` and `lit-session-server` on the `PATH`; a block that starts a server in the
//!   background has it stopped when the block ends. The ports the README uses (8470, 8471) are
//!   swapped for free ones. Blocks that make a SoftHSM2 token need `softhsm2-util`.
//! - the command synopsis ("Command line") lists every flag of each subcommand's `--help`, and
//!   no flag the program does not have.
//!
//! `lit-session` comes from the same build directory (`cargo build --release --bin lit-session`,
//! which `scripts/test-all.sh` has done by then). Skipped when it or a tool a block needs is
//! missing, unless `LIT_REQUIRE_INTEROP=1`.

mod common;

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn readme() -> String {
    std::fs::read_to_string(repo().join("README.md")).unwrap()
}

fn lit_session() -> Option<PathBuf> {
    let path = Path::new(BIN).with_file_name("lit-session");
    if path.exists() {
        return Some(path);
    }
    let why = format!("{} is missing (cargo build --release --bin lit-session)", path.display());
    assert!(std::env::var("LIT_REQUIRE_INTEROP").as_deref() != Ok("1"), "{why}");
    eprintln!("SKIPPED: {why}");
    None
}

/// The fenced blocks whose info string is `lang` followed by `tag`, with their line numbers.
fn blocks(text: &str, info: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        if line.trim_end() == format!("```{info}") {
            let body: Vec<&str> = lines.by_ref().map(|(_, l)| l).take_while(|l| !l.starts_with("```")).collect();
            out.push((n + 1, body.join("\n") + "\n"));
        }
    }
    out
}

#[test]
fn runnable_shell_blocks_run() {
    let Some(cli) = lit_session() else { return };
    let text = readme();
    let runnable = blocks(&text, "sh runnable");
    assert!(runnable.len() >= 5, "only {} runnable blocks", runnable.len());
    let softhsm = Command::new("softhsm2-util").arg("--version").output().is_ok_and(|o| o.status.success());
    let require = std::env::var("LIT_REQUIRE_HSM").as_deref() == Ok("1");

    // A scratch directory that looks like a checkout for the paths the blocks use.
    let dir = tempfile::tempdir().unwrap();
    for entry in ["softhsm-config", "server", "scripts"] {
        std::os::unix::fs::symlink(repo().join(entry), dir.path().join(entry)).unwrap();
    }
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(&cli, bin.join("lit-session")).unwrap();
    std::os::unix::fs::symlink(BIN, bin.join("lit-session-server")).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let ports = [("127.0.0.1:8470", free_port()), ("127.0.0.1:8471", free_port())];

    let mut ran = 0;
    for (line, body) in &runnable {
        if body.contains("make-token.sh") && !softhsm {
            assert!(!require, "README.md:{line} needs SoftHSM2");
            eprintln!("SKIPPED README.md:{line}: no softhsm2-util");
            continue;
        }
        let mut script = body.clone();
        for (from, port) in &ports {
            script = script.replace(from, &format!("127.0.0.1:{port}"));
        }
        eprintln!("README.md:{line}: running");
        let started = Instant::now();
        // Its own process group, so a server the block leaves in the background is stopped with it.
        let mut child = Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .current_dir(dir.path())
            .env("PATH", &path)
            .env_remove("LITSIGNER_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id();
        // Read both pipes on threads: a background server inherits them and keeps them open.
        let take = |r: Box<dyn std::io::Read + Send>| {
            std::thread::spawn(move || {
                let mut r = r;
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n) = r.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                buf
            })
        };
        let out = take(Box::new(child.stdout.take().unwrap()));
        let err = take(Box::new(child.stderr.take().unwrap()));
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if started.elapsed() > Duration::from_secs(120) {
                let _ = child.kill();
                break child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // What the block left running (a server in the background) ends with it: SIGTERM to the
        // group, SIGKILL if the pipes it holds are still open 10 s later.
        let signal = |sig: &str| {
            let group = format!("-{pgid}");
            Command::new("kill").args(["-s", sig, "--", &group]).stderr(Stdio::null()).status().unwrap();
        };
        signal("TERM");
        let stopping = Instant::now();
        while !(out.is_finished() && err.is_finished()) {
            if stopping.elapsed() > Duration::from_secs(10) {
                signal("KILL");
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let (out, err) = (out.join().unwrap(), err.join().unwrap());
        assert!(
            status.success(),
            "README.md:{line}: the block failed ({status}) after {:?}\n--- block\n{script}--- stdout\n{}\n--- stderr\n{}",
            started.elapsed(),
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&err)
        );
        eprintln!("README.md:{line}: ran in {:?}", started.elapsed());
        ran += 1;
    }
    assert!(ran >= 4, "only {ran} blocks ran");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `--flags` in a text.
fn flags(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i + 2 < bytes.len() {
        let starts = bytes[i] == b'-' && bytes[i + 1] == b'-' && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric());
        if starts && bytes[i + 2].is_ascii_lowercase() {
            let end = (i + 2..bytes.len())
                .find(|&j| !(bytes[j].is_ascii_alphanumeric() || bytes[j] == b'-'))
                .unwrap_or(bytes.len());
            out.insert(text[i..end].to_string());
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn the_command_synopsis_matches_the_program() {
    let Some(cli) = lit_session() else { return };
    let text = readme();
    let section = &text[text.find("## Command line").expect("a Command line section")..];
    let (_, synopsis) = blocks(section, "text").into_iter().next().expect("the synopsis block");
    // One entry per command: a line starting with `lit-session ` and its indented continuations.
    let mut entries: Vec<(Vec<String>, String)> = Vec::new();
    for line in synopsis.lines() {
        if let Some(rest) = line.strip_prefix("lit-session ") {
            let words: Vec<String> = rest
                .split_whitespace()
                .take_while(|w| !w.starts_with('-') && w.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
                .map(String::from)
                .collect();
            entries.push((words, rest.to_string()));
        } else if let Some(last) = entries.last_mut() {
            last.1.push(' ');
            last.1.push_str(line);
        }
    }
    assert!(entries.len() >= 14, "{entries:?}");
    let mut problems = Vec::new();
    for (words, entry) in &entries {
        let out = Command::new(&cli).args(words).arg("--help").output().unwrap();
        assert!(
            out.status.success(),
            "lit-session {} --help: {}",
            words.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        let help = String::from_utf8_lossy(&out.stdout);
        let options = &help[help.find("Options:").unwrap_or(0)..];
        // Aliases ("[alias: --network-public-key]") are the program's too, but not listed.
        let options: String = options
            .lines()
            .map(|l| l.split_once("[alias").map_or(l, |(before, _)| before))
            .collect::<Vec<_>>()
            .join("\n");
        let program: BTreeSet<String> =
            flags(&options).into_iter().filter(|f| f != "--help" && f != "--version").collect();
        let readme = flags(entry);
        for missing in program.difference(&readme) {
            problems.push(format!("lit-session {}: {missing} is not in the README's synopsis", words.join(" ")));
        }
        for unknown in readme.difference(&program) {
            problems
                .push(format!("lit-session {}: the README lists {unknown}, which it does not have", words.join(" ")));
        }
    }
    // Every subcommand has an entry.
    let top = Command::new(&cli).arg("--help").output().unwrap();
    let listed: BTreeSet<&str> = entries.iter().filter_map(|(w, _)| w.first().map(String::as_str)).collect();
    let top = String::from_utf8_lossy(&top.stdout);
    let commands = top.split_once("Commands:").map_or("", |(_, rest)| rest);
    let commands = commands.split_once("Options:").map_or(commands, |(list, _)| list);
    for line in commands.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        if line.starts_with("  ") && !name.is_empty() && name != "help" && !listed.contains(name) {
            problems.push(format!("lit-session {name} has no entry in the README's synopsis"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_readme_names_no_missing_file() {
    // Paths the README points a reader to exist (examples, scripts, the contract, the packages).
    let text = readme();
    for path in [
        "server/examples/node/session-sigs.mjs",
        "server/examples/python/session_sigs.py",
        "server/openapi.yaml",
        "scripts/client-packages.sh",
        "clients/python/tools/gen_models.py",
        "clients/js/src/generated/openapi.ts",
        "softhsm-config/make-token.sh",
    ] {
        assert!(text.contains(path), "README.md no longer mentions {path}");
        assert!(repo().join(path).exists(), "README.md mentions {path}, which does not exist");
    }
}
