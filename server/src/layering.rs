//! The service's import rules, checked on its sources with the scanner the library's layering
//! test uses too (`lit_testkit::layering`).
//!
//! The core (the door into the library, problems, audit records, the policy, the store) sits
//! below the edge that wires it to HTTP, configuration and processes. A core module imports
//! only the modules it is listed with here; everything else is above it. Only `signing` names
//! the library. No two modules import each other, directly or through others.

#![cfg(test)]

use std::path::Path;

use lit_testkit::layering::Sources;

/// Each core module and the only modules it may import.
const CORE: &[(&str, &[&str], &str)] = &[
    ("signing", &[], "the door into the library sits below everything else"),
    ("duration", &[], "durations are a format of their own"),
    ("problem", &[], "problem bodies know nothing of the service"),
    ("endpoint", &[], "the endpoint table is the API's vocabulary, below everything that names an endpoint"),
    ("audit", &["signing", "endpoint", "auth"], "audit records and their chain know nothing above them"),
    ("ratelimit", &["audit", "signing"], "rate limits are counted below the store that keeps them"),
    ("policy", &["signing", "duration", "ratelimit", "endpoint", "auth"], "the policy decides from parsed values only"),
    (
        "store",
        &["audit", "signing", "duration", "ratelimit", "endpoint", "auth"],
        "the store imports nothing above it, never the configuration",
    ),
    (
        "keys",
        &["audit", "signing", "store", "metrics", "problem", "endpoint", "auth"],
        "key rotation sits below the HTTP edge and never reads the configuration",
    ),
];

/// Every breach of the rules in the sources under `src`.
fn breaches(src: &Path) -> Vec<String> {
    let sources = Sources::new(src);
    let mut broken = Vec::new();
    for (module, may, why) in CORE {
        let mut own = may.to_vec();
        own.push(module);
        let above = sources.modules_except(&own);
        let above: Vec<&str> = above.iter().map(String::as_str).collect();
        broken.extend(sources.check(&[module], &above, why));
    }
    let mut rest = sources.modules_except(&["signing"]);
    if src.join("main.rs").is_file() {
        rest.push("main".into());
    }
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    broken.extend(sources.check_crate(&rest, "lit_session_signer", "only signing names the library"));
    broken
}

#[test]
fn the_service_keeps_to_its_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let broken = breaches(&src);
    assert!(broken.is_empty(), "layering broken:\n{}", broken.join("\n"));
    // Nor may the edge modules import each other in a circle.
    assert_eq!(Sources::new(&src).cycle(), None, "an import cycle");
}

/// A control: a tree that breaks each kind of rule is caught, breach by breach.
#[test]
fn a_tree_that_breaks_the_rules_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir(src.join("store")).unwrap();
    for (file, text) in [
        ("signing.rs", "use lit_session_signer::x;\n"),
        ("problem.rs", ""),
        ("duration.rs", ""),
        ("ratelimit.rs", ""),
        ("keys.rs", ""),
        ("endpoint.rs", ""),
        ("audit.rs", "use crate::api::Ctx;\n"),
        ("policy.rs", "use crate::signing::Price;\nuse crate::{api::Ctx, store};\n"),
        ("store/mod.rs", "use crate::audit::AuditEntry;\nuse crate::config::DEFAULT;\n"),
        ("config.rs", "use crate::store::sqlite::Durability;\n"),
        ("api.rs", "fn f() { lit_session_signer::error_chain(e); }\n"),
        ("main.rs", "use lit_session_signer::y;\n"),
    ] {
        std::fs::write(src.join(file), text).unwrap();
    }
    let broken = breaches(src);
    let has = |needle: &str| broken.iter().any(|b| b.contains(needle));
    assert!(has("audit.rs:1 uses crate::api"), "{broken:#?}");
    assert!(has("policy.rs:2 uses crate::api"), "{broken:#?}");
    assert!(has("policy.rs:2 uses crate::store"), "{broken:#?}");
    assert!(has("mod.rs:2 uses crate::config: the store imports nothing above it, never the configuration"));
    assert!(has("api.rs:1 uses lit_session_signer::error_chain"), "{broken:#?}");
    assert!(has("main.rs:1 uses lit_session_signer::y"), "{broken:#?}");
    assert_eq!(broken.len(), 6, "{broken:#?}");
    let cycle = Sources::new(src).cycle().map(|c| c.join(" -> "));
    assert_eq!(cycle.as_deref(), Some("config -> store -> config"));
}
