//! One line for an error and its causes, for logs and the command line.

use std::error::Error;

/// `error: cause: cause's cause…`. A cause whose text the line already holds is left out, for
/// errors that print their cause themselves (e.g. reqwest's, or a backend error shown
/// verbatim).
///
/// ```
/// use lit_session_signer::keystore::KeyStoreError;
///
/// let e = KeyStoreError::Backend { source: std::io::Error::other("token removed").into(), transient: true };
/// assert_eq!(lit_session_signer::error_chain(&e).matches("token removed").count(), 1);
/// ```
pub fn error_chain(error: &(dyn Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("session key")]
    struct Headline(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("outer: {0}")]
    struct Shown(#[source] std::io::Error);

    #[test]
    fn causes_are_appended_once() {
        let io = || std::io::Error::other("disk full");
        assert_eq!(error_chain(&Headline(io())), "session key: disk full");
        assert_eq!(error_chain(&Shown(io())), "outer: disk full");
    }
}
