//! JSON text exactly as JavaScript writes it: `JSON.stringify` for ordered output, and the JCS
//! (RFC 8785) canonical form with keys sorted at every level, as `canonicalize` does for ReCaps.

use serde_json::Value;

/// `JSON.stringify(value)` with the object key order kept (as the Lit SDK does for signed
/// messages).
pub fn to_js_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, false);
    out
}

/// JCS-canonical text: keys sorted by UTF-16 code units at every level, no whitespace.
pub fn to_canonical_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, true);
    out
}

fn write_value(out: &mut String, value: &Value, sorted: bool) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item, sorted);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            if sorted {
                // JCS orders by UTF-16 code units, which differs from UTF-8 byte order above the BMP.
                entries.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            }
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, v, sorted);
            }
            out.push('}');
        }
    }
}

fn write_number(out: &mut String, n: &serde_json::Number) {
    if let Some(i) = n.as_i64() {
        out.push_str(&i.to_string());
    } else if let Some(u) = n.as_u64() {
        out.push_str(&u.to_string());
    } else if let Some(f) = n.as_f64() {
        // ECMAScript Number::toString, which both JSON.stringify and JCS use.
        if f.is_finite() {
            out.push_str(ryu_js::Buffer::new().format_finite(f));
        } else {
            out.push_str("null");
        }
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_or_sorts_order() {
        let v: Value = serde_json::from_str(r#"{"b":1,"a":{"d":[1,2.5,"x"],"c":null}}"#).unwrap();
        assert_eq!(to_js_string(&v), r#"{"b":1,"a":{"d":[1,2.5,"x"],"c":null}}"#);
        assert_eq!(to_canonical_string(&v), r#"{"a":{"c":null,"d":[1,2.5,"x"]},"b":1}"#);
    }

    #[test]
    fn escapes_like_javascript() {
        let v = json!("q\"b\\n\n\u{1}é\u{2028}");
        assert_eq!(to_js_string(&v), "\"q\\\"b\\\\n\\n\\u0001é\u{2028}\"");
    }

    #[test]
    fn numbers_like_javascript() {
        let v: Value = serde_json::from_str("[1e21, 0.1, 100, -0.0, 1.5e-7]").unwrap();
        assert_eq!(to_js_string(&v), "[1e+21,0.1,100,0,1.5e-7]");
    }

    #[test]
    fn numbers_parse_exactly_as_javascript_does() {
        // Found by fuzzing (cli_input, JCS idempotence): without serde_json's float_roundtrip
        // the 90-digit integer parsed one ulp off, so we wrote ...222e+89 where Node's
        // JSON.stringify(JSON.parse(...)) writes ...2227e+89, and re-parsing our output moved again.
        let text = "[424422464242422246422464242422424424226422464242422246422464242422424424224242424424224242,4.244224642424222e+89]";
        let v: Value = serde_json::from_str(text).unwrap();
        assert_eq!(to_js_string(&v), "[4.2442246424242227e+89,4.244224642424222e+89]");
        let again: Value = serde_json::from_str(&to_canonical_string(&v)).unwrap();
        assert_eq!(to_canonical_string(&again), to_canonical_string(&v));
    }

    #[test]
    fn utf16_key_order() {
        let v = json!({"\u{e9}": 1, "\u{1f600}": 2, "z": 3});
        // U+FF61 sorts after U+1F600 in UTF-16 (0xD83D first), before it in UTF-8.
        let v2 = json!({"\u{ff61}": 1, "\u{1f600}": 2});
        assert_eq!(to_canonical_string(&v2), "{\"\u{1f600}\":2,\"\u{ff61}\":1}");
        assert_eq!(to_canonical_string(&v), "{\"z\":3,\"\u{e9}\":1,\"\u{1f600}\":2}");
    }
}
