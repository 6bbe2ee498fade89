//! The import rules of the module map (README, "Architecture"), checked on the sources: the
//! compiler allows any `use crate::…`, so a test keeps the layers apart.

use std::path::{Path, PathBuf};

/// Every `crate::<module>` a non-comment line of `file` names, up to its unit tests (tests may
/// use anything).
fn imports(file: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code == "#[cfg(test)]" {
            break;
        }
        if code.starts_with("//") {
            continue;
        }
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            out.push((n + 1, name));
        }
    }
    out
}

/// The `.rs` files of module `name` (a file, or a folder and its file).
fn files_of(name: &str) -> Vec<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let single = src.join(format!("{name}.rs"));
    if single.is_file() {
        files.push(single);
    }
    let mut dirs = vec![src.join(name)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    assert!(!files.is_empty(), "no sources for module {name}");
    files
}

fn check(layer: &[&str], forbidden: &[&str], why: &str) -> Vec<String> {
    let mut broken = Vec::new();
    for module in layer {
        for file in files_of(module) {
            for (line, name) in imports(&file) {
                if forbidden.contains(&name.as_str()) {
                    broken.push(format!("{}:{line} uses crate::{name}: {why}", file.display()));
                }
            }
        }
    }
    broken
}

const LIT: &[&str] = &[
    "resources",
    "recap",
    "siwe",
    "auth_sig",
    "capacity_delegation",
    "payment_delegation",
    "pricing",
    "session_sigs",
    "protocol",
    "verify",
    "bls",
    "pkp",
    "manager",
];

#[test]
fn the_layers_keep_to_their_imports() {
    let mut broken = Vec::new();
    broken.extend(check(
        &["pkcs11"],
        &[LIT, &["keystore", "wallet", "eth"]].concat(),
        "the PKCS#11 layer knows nothing about key kinds or Lit",
    ));
    broken.extend(check(&["keystore", "wallet"], LIT, "key backends know nothing about Lit formats"));
    broken.extend(check(LIT, &["pkcs11"], "Lit code reaches keys only through the key-store traits"));
    broken.extend(check(
        &["protocol"],
        &["session_sigs", "verify", "pkp", "manager", "keystore", "wallet"],
        "the wire formats sit below the code that mints and checks them",
    ));
    broken.extend(check(
        &["resources", "recap", "siwe"],
        &["auth_sig", "session_sigs", "protocol", "verify", "pkp", "manager", "keystore", "wallet"],
        "data flows one way: resources, recap, siwe, then auth_sig and session_sigs",
    ));
    assert!(broken.is_empty(), "layering broken:\n{}", broken.join("\n"));
}

#[test]
fn the_scan_finds_imports_and_skips_comments() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.rs");
    std::fs::write(&file, "//! see [`crate::verify`]\nuse crate::pkcs11::Pin;\nfn f() { crate::eth::keccak256(b\"\"); }\n#[cfg(test)]\nuse crate::wallet;\n")
        .unwrap();
    assert_eq!(imports(&file), vec![(2, "pkcs11".to_string()), (3, "eth".to_string())]);
}
