//! The test environment, for the library's integration tests and the service's: whether a tool
//! an interop test drives is there (a loud skip, or a failure under `LIT_REQUIRE_INTEROP=1`),
//! and files only their owner may read, as secret files must be.

use std::path::Path;
use std::process::Command;

/// Whether `program --version` runs.
fn runs(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok_and(|o| o.status.success())
}

/// `false` with a loud skip line naming `what`, or a panic when `LIT_REQUIRE_INTEROP=1` (CI).
fn skip(what: &str, why: &str) -> bool {
    if std::env::var("LIT_REQUIRE_INTEROP").as_deref() == Ok("1") {
        panic!("interop tests required but {why}");
    }
    eprintln!("SKIPPED: {what}: {why}");
    false
}

/// Whether node runs and `dir/node_modules/package` is installed (`folder` names `dir` in
/// the message, e.g. `interop/`).
pub fn js_ready(dir: &Path, package: &str, folder: &str, what: &str) -> bool {
    let has_modules = dir.join("node_modules").join(package).is_dir();
    let has_node = runs("node");
    if has_modules && has_node {
        return true;
    }
    let why = if has_node {
        format!("{folder}node_modules is missing (run npm ci in {folder})")
    } else {
        "node is not installed".to_string()
    };
    skip(what, &why)
}

/// Whether `program` (e.g. `python3`) runs.
pub fn program_ready(program: &str, what: &str) -> bool {
    runs(program) || skip(what, &format!("{program} is not installed"))
}

/// Writes `contents` to `path` readable by its owner only (mode 0600).
pub fn write_private(path: &Path, contents: impl AsRef<[u8]>) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path).unwrap();
    file.write_all(contents.as_ref()).unwrap();
}
