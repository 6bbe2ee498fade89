//! The import rules of the module map (README, "Architecture"), checked on the sources: the
//! compiler allows any `use crate::…`, so a test keeps the layers apart.

use std::path::Path;

use lit_testkit::layering::{names, Sources};

fn check(layer: &[&str], forbidden: &[&str], why: &str) -> Vec<String> {
    Sources::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("src")).check(layer, forbidden, why)
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
    std::fs::write(
        &file,
        "//! see [`crate::verify`]\nuse crate::pkcs11::Pin;\nfn f() { crate::eth::keccak256(b\"\"); }\n\
         use crate::{recap::Recap, siwe,\n    session_sigs::{a, b}};\nuse my_crate::z;\n#[cfg(test)]\nuse crate::wallet;\n",
    )
    .unwrap();
    let expect = [(2, "pkcs11"), (3, "eth"), (4, "recap"), (4, "siwe"), (4, "session_sigs")];
    assert_eq!(names(&file, "crate"), expect.map(|(l, n)| (l, n.to_string())));
    // A whole file of tests is skipped.
    std::fs::write(&file, "#![cfg(test)]\nuse crate::wallet;\n").unwrap();
    assert!(names(&file, "crate").is_empty());
    // A control: a forbidden import in a tree is reported with its file and line.
    std::fs::create_dir(dir.path().join("pkcs11")).unwrap();
    std::fs::write(dir.path().join("pkcs11/mod.rs"), "use crate::verify::Verifier;\n").unwrap();
    let broken = Sources::new(dir.path()).check(&["pkcs11"], &["verify"], "why");
    assert_eq!(broken.len(), 1);
    assert!(broken[0].ends_with("pkcs11/mod.rs:1 uses crate::verify: why"), "{broken:?}");
}
