//! Cache keys: the backend, the config versions an entry was made under,
//! and a digest of what was asked, so a key is bounded in size whatever was
//! asked.
//!
//! Two requests share a key only if they ask the same thing. Tool arguments
//! are canonicalized (object keys sorted, no insignificant whitespace) when
//! that cannot merge two different values; arguments holding a number that
//! is not an exact 64-bit integer (a decimal, or an integer too large for
//! one, which would go through `f64` and lose digits), or that cannot be
//! parsed here (nested past the parser's depth limit), are keyed by their
//! exact text instead: at worst a miss, never another call's answer.

use serde_json::{Value, value::RawValue};
use sha2::{Digest, Sha256};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct CacheKey(pub(super) String);

impl CacheKey {
    pub(super) fn resource(backend_id: &str, version: u64, uri: &str) -> Self {
        Self(format!("{backend_id}:{version}:r:{}", digest(&[uri.as_bytes()])))
    }

    pub(super) fn tool(
        backend_id: &str,
        version: u64,
        tool_version: u64,
        name: &str,
        arguments: Option<&RawValue>,
    ) -> Self {
        let hashed = match arguments {
            None => digest(&[name.as_bytes(), b"-"]),
            Some(raw) => match canonical_form(raw.get()) {
                Some(canon) => digest(&[name.as_bytes(), b"c", canon.as_bytes()]),
                None => digest(&[name.as_bytes(), b"r", raw.get().as_bytes()]),
            },
        };
        Self(format!("{backend_id}:{version}:{tool_version}:t:{hashed}"))
    }
}

/// The first 128 bits of the SHA-256 of `parts` (each length-prefixed, so
/// no two different lists of parts hash alike), in hex.
fn digest(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// `json` with every object's keys sorted, or `None` where that could merge
/// two different values (see the module doc).
fn canonical_form(json: &str) -> Option<String> {
    let v: Value = serde_json::from_str(json).ok()?;
    let mut out = String::with_capacity(json.len());
    canonical(&v, &mut out).then_some(out)
}

/// Writes `v` canonically; false on a number that is not an exact integer.
fn canonical(v: &Value, out: &mut String) -> bool {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if !canonical(&m[k], out) {
                    return false;
                }
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if !canonical(x, out) {
                    return false;
                }
            }
            out.push(']');
        }
        Value::Number(n) if n.is_f64() => return false,
        other => out.push_str(&other.to_string()),
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.into()).unwrap()
    }

    fn key(args: &str) -> CacheKey {
        CacheKey::tool("b", 1, 2, "t", Some(&raw(args)))
    }

    #[test]
    fn tool_keys_ignore_key_order_and_spacing_but_not_values_or_versions() {
        let args = r#"{"x":1,"y":{"p":[1,2],"q":"s"}}"#;
        assert_eq!(key(args), key(r#"{ "y": {"q":"s", "p":[1, 2]}, "x": 1 }"#));
        assert_ne!(key(args), key(r#"{"x":2,"y":{"p":[1,2],"q":"s"}}"#));
        assert_ne!(key(args), CacheKey::tool("b", 1, 3, "t", Some(&raw(args))));
        assert_ne!(key(args), CacheKey::tool("b", 2, 2, "t", Some(&raw(args))));
        assert_ne!(key(args), CacheKey::tool("b", 1, 2, "u", Some(&raw(args))));
        assert_ne!(key("{}"), CacheKey::tool("b", 1, 2, "t", None));
        // A key stays short whatever was asked.
        let long = CacheKey::resource("b", 1, &"x".repeat(100_000));
        assert!(long.0.len() < 80, "{}", long.0);
    }

    #[test]
    fn numbers_that_one_f64_holds_are_still_two_keys() {
        // Both parse to the same f64; as text they differ.
        assert_ne!(
            key(r#"{"n":0.1}"#),
            key(r#"{"n":0.1000000000000000055511151231257827}"#)
        );
        assert_ne!(
            key(r#"{"id":123456789012345678901234}"#),
            key(r#"{"id":123456789012345678901235}"#)
        );
        // Exact integers still canonicalize.
        assert_eq!(
            key(r#"{"a":-5,"b":18446744073709551615}"#),
            key(r#"{"b":18446744073709551615, "a":-5}"#)
        );
    }

    #[test]
    fn arguments_too_deep_to_parse_are_keyed_by_their_text() {
        let deep = |leaf: &str| format!("{}{leaf}{}", "[".repeat(200), "]".repeat(200));
        assert_ne!(key(&deep("1")), key(&deep("2")));
        assert_ne!(key(&deep("1")), key("{}"));
        assert_eq!(key(&deep("1")), key(&deep("1")));
    }
}
