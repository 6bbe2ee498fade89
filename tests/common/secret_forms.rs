//! Every form a leaked secret could take in printed text: hex (lower and upper case) of every
//! 8-byte window, decimal byte lists (`Debug` of a slice) of every 4-byte window, base64 and
//! base64url at every alignment, and, for text secrets such as PINs, the text itself.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

/// The strings that must not appear anywhere `secret` could have been printed.
pub fn forms(secret: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for w in secret.windows(secret.len().clamp(1, 8)) {
        out.push(hex::encode(w));
        out.push(hex::encode_upper(w));
    }
    for w in secret.windows(secret.len().clamp(1, 4)) {
        let decimal: Vec<String> = w.iter().map(u8::to_string).collect();
        out.push(decimal.join(", "));
        out.push(decimal.join(","));
    }
    for skip in 0..3.min(secret.len()) {
        for encoded in [STANDARD.encode(&secret[skip..]), URL_SAFE_NO_PAD.encode(&secret[skip..])] {
            // 12 characters (9 bytes) from every 4-character group boundary: unmistakable, and
            // found wherever the secret starts inside a larger encoded blob.
            let chars: Vec<char> = encoded.chars().collect();
            for start in (0..chars.len().saturating_sub(11)).step_by(4) {
                out.push(chars[start..start + 12].iter().collect());
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(secret) {
        out.push(text.to_string());
    }
    out.retain(|f| f.len() >= 6);
    out
}

/// The first form of `secret` found in `text`, if any. Also looks in `text` with all
/// whitespace removed, so pretty-printed (`{:#?}`) byte lists are caught too.
pub fn leaked_form(text: &str, secret: &[u8]) -> Option<String> {
    let compact: String = text.split_whitespace().collect();
    forms(secret).into_iter().find(|form| {
        let form_compact: String = form.split_whitespace().collect();
        text.contains(form.as_str()) || compact.contains(&form_compact)
    })
}

/// Fails if `text` (what `what` printed) contains any form of `secret`.
#[track_caller]
pub fn assert_no_secret(what: &str, text: &str, secret: &[u8]) {
    if let Some(form) = leaked_form(text, secret) {
        panic!("{what} shows the secret (as {form:?}):\n{text}");
    }
}
