use cryptoki::context::Function;
use cryptoki::error::RvError;

use super::ckr::*;
use super::kinds::*;
use super::*;
use crate::pkcs11::ckr::ckr_name;

#[test]
fn every_code_and_kind_is_listed_once() {
    for (i, g) in CKR_GUIDE.iter().enumerate() {
        assert!(CKR_GUIDE[..i].iter().all(|o| o.rv != g.rv), "{} is listed twice", ckr_name(g.rv));
    }
    // ALL follows the declaration order, so a kind added to the enum but not to ALL shows
    // up as a gap or at the end.
    for (i, k) in Pkcs11ErrorKind::ALL.iter().enumerate() {
        assert_eq!(*k as usize, i, "{k:?} is out of place in Pkcs11ErrorKind::ALL");
    }
}

#[test]
fn retry_classes() {
    assert_eq!(ckr_retry(RvError::DeviceRemoved), Retry::Transient);
    assert_eq!(ckr_retry(RvError::SessionHandleInvalid), Retry::Transient);
    assert_eq!(ckr_retry(RvError::PinIncorrect), Retry::Permanent);
    assert_eq!(ckr_retry(RvError::MechanismInvalid), Retry::Permanent);
    assert_eq!(ckr_retry(RvError::TemplateIncomplete), Retry::Permanent);
    assert_eq!(ckr_retry(RvError::NewPinMode), Retry::Permanent, "unlisted codes are permanent");
}

fn c_names(functions: &[Function]) -> String {
    functions.iter().map(|f| format!("C_{f:?}")).collect::<Vec<_>>().join(", ")
}

/// The two tables as Markdown: the README's section.
fn markdown() -> String {
    let mut out = String::from(
        "## PKCS#11 errors: what they mean and what to do\n\n\
         Generated from `src/pkcs11/error_guide/` (a test keeps the two equal). Every \
         PKCS#11 error message names the operation, the `C_*` function, the `CKR_*` code, the \
         token (label and serial), the slot, the key, and whether retrying can help.\n\n\
         | code | meaning for this tool | retry | the store itself | what the operator should do |\n\
         |---|---|---|---|---|\n",
    );
    for g in CKR_GUIDE {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            ckr_name(g.rv),
            g.meaning,
            g.retry.as_str(),
            g.auto.describe(),
            g.action
        ));
    }
    out.push_str(
        "\nAny other code is permanent and returned at once.\n\n\
         | error kind | PKCS#11 function | outcome | retry | what the operator should do |\n\
         |---|---|---|---|---|\n",
    );
    for kind in Pkcs11ErrorKind::ALL {
        let g = kind.guide();
        let calls = match g.calls {
            Calls::Named(text) => text.to_string(),
            Calls::Functions(functions) => c_names(functions),
            Calls::Load => format!("dlopen, {}", c_names(&[Function::GetFunctionList])),
            Calls::NoCall => "(none)".to_string(),
        };
        let outcome = match g.outcome {
            Outcome::Code(rv) => ckr_name(rv),
            Outcome::Named(text) | Outcome::Answered(text) | Outcome::NoCode(text) => text,
        };
        out.push_str(&format!("| `{kind:?}` | {calls} | {outcome} | {} | {} |\n", g.retry.as_str(), g.action));
    }
    out
}

/// The README's error section is generated from these tables; regenerate it with
/// `LIT_WRITE_ERROR_TABLE=1 cargo test --lib error_guide`.
#[test]
fn readme_table_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let want = markdown();
    let readme = std::fs::read_to_string(&path).unwrap_or_default();
    if std::env::var("LIT_WRITE_ERROR_TABLE").is_ok_and(|v| v == "1") {
        // Replace the section from its heading to the next `## ` heading.
        let heading = want.lines().next().unwrap_or_default();
        if let Some(start) = readme.find(heading) {
            let end =
                readme[start + heading.len()..].find("\n## ").map_or(readme.len(), |i| start + heading.len() + i + 1);
            let updated = format!("{}{}\n\n{}", &readme[..start], want.trim_end(), &readme[end..]);
            std::fs::write(&path, updated).unwrap();
            return;
        }
    }
    assert!(
        readme.contains(&want),
        "README.md does not hold the error tables of src/pkcs11/error_guide/; \
         run LIT_WRITE_ERROR_TABLE=1 cargo test --lib error_guide"
    );
}
