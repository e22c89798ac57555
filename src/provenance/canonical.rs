//! RFC 8785 JSON Canonicalization Scheme: object members sorted by their names'
//! UTF-16 code units, no insignificant white space, strings with the minimal
//! escapes, numbers in ECMAScript's shortest round-trip form (the `ryu-js` crate).

use serde_json::{Map, Value};

/// The canonical serialisation of a JSON value.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                // Integers beyond 2^53 are not exactly representable in I-JSON;
                // they are written as ECMAScript would print the nearest double.
                if i.unsigned_abs() <= (1u64 << 53) {
                    out.push_str(&i.to_string());
                } else {
                    push_f64(i as f64, out);
                }
            } else if let Some(u) = n.as_u64() {
                if u <= (1u64 << 53) {
                    out.push_str(&u.to_string());
                } else {
                    push_f64(u as f64, out);
                }
            } else {
                push_f64(n.as_f64().unwrap_or(0.0), out);
            }
        }
        Value::String(s) => push_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_string(key, out);
                out.push(':');
                write(&map[*key], out);
            }
            out.push('}');
        }
    }
}

fn push_f64(x: f64, out: &mut String) {
    if x == 0.0 {
        out.push('0');
        return;
    }
    let mut buf = ryu_js::Buffer::new();
    out.push_str(buf.format(x));
}

fn push_string(s: &str, out: &mut String) {
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

/// A copy of the value with every object's keys in canonical order, for writing
/// human-readable files whose key order is still stable.
pub fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), sorted(&map[k]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The examples of RFC 8785 §3.2.2 and appendix B.
    #[test]
    fn rfc8785_examples() {
        let value: Value = serde_json::from_str(
            r#"{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
               "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
               "literals": [null, true, false]}"#,
        )
        .unwrap();
        assert_eq!(
            canonical_json(&value),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }

    #[test]
    fn keys_sort_by_utf16_code_units() {
        // U+E000 sorts after U+1F600 in UTF-16 (the latter is a surrogate pair D83D…).
        let value = json!({"\u{e000}": 1, "\u{1f600}": 2, "a": 3});
        assert_eq!(
            canonical_json(&value),
            "{\"a\":3,\"\u{1f600}\":2,\"\u{e000}\":1}"
        );
    }
}
