//! Tool arguments mirrored in HTTP headers (MCP 2026-07-28, SEP-2243): a
//! property of a tool's input schema annotated `"x-mcp-header": "Name"`
//! travels in the body and, beside it, as `Mcp-Param-Name`, so proxies
//! can route on it without reading bodies. Read once per config from the
//! tool's definition, and only from a definition that has the annotation.
//!
//! The spec's rules for an annotation: its name is an HTTP token, unique
//! (ignoring case) within the tool; it sits on a property reachable from
//! the schema's root through `properties` alone (not under `items`,
//! `anyOf`, `$ref`…); and that property is a primitive. A client MUST drop
//! a tool that breaks them, and so does the gateway, at discovery
//! ([`of_definition`] tells why). `number` is allowed beside the spec's
//! `string`, `integer` and `boolean`, as the official TypeScript SDK does.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::STANDARD};
use http::{HeaderName, HeaderValue};
use serde_json::{Value, value::RawValue};

use crate::jsonrpc::RawObject;

/// The annotation's key in a property's schema.
const ANNOTATION: &str = "x-mcp-header";

/// The types a mirrored property may have.
const PRIMITIVES: [&str; 4] = ["string", "integer", "boolean", "number"];

/// One mirrored argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamHeader {
    /// The argument: its property's path from `arguments` (one member for
    /// a top-level property).
    pub path: Box<[Box<str>]>,
    /// `mcp-param-<name>`.
    pub header: HeaderName,
}

impl ParamHeader {
    /// The argument's raw JSON in `arguments`, if given.
    pub fn value_in<'a>(&self, arguments: &RawObject<'a>) -> Option<&'a RawValue> {
        let (first, rest) = self.path.split_first()?;
        let mut raw = arguments.get(first)?;
        for key in rest {
            raw = RawObject::parse(raw.get()).ok()?.get(key)?;
        }
        Some(raw)
    }

    /// What the argument's header carries for its raw JSON `raw`: a string
    /// as it is, a number or boolean as its JSON; `None` for `null` (no
    /// header is sent for it).
    pub fn header_value(raw: &RawValue) -> Option<HeaderValue> {
        match serde_json::from_str::<std::borrow::Cow<'_, str>>(raw.get()) {
            Ok(s) => Some(encode(&s)),
            Err(_) if raw.get() == "null" => None,
            Err(_) => HeaderValue::from_str(raw.get()).ok(),
        }
    }

    /// The argument as text, to compare with what a header carries.
    pub fn body_text(raw: &RawValue) -> String {
        serde_json::from_str::<String>(raw.get()).unwrap_or_else(|_| raw.get().to_owned())
    }
}

/// A header value for `text` (a name, a URI, an argument): as it is when
/// it is plain visible ASCII (spaces and tabs inside only) and does not
/// look like the encoded form, else `=?base64?…?=`.
pub fn encode(text: &str) -> HeaderValue {
    let plain = !text.starts_with("=?base64?")
        && !text.starts_with([' ', '\t'])
        && !text.ends_with([' ', '\t'])
        && text
            .bytes()
            .all(|b| b == b' ' || b == b'\t' || (0x21..=0x7e).contains(&b));
    let value = match plain {
        true => HeaderValue::from_str(text),
        false => HeaderValue::try_from(format!("=?base64?{}?=", STANDARD.encode(text))),
    };
    value.expect("visible ASCII is a header value")
}

/// The mirrored arguments of a tool definition (`None` for none), or why
/// its annotations are invalid.
pub fn of_definition(definition_json: &str) -> Result<Option<Arc<[ParamHeader]>>, String> {
    if !definition_json.contains(ANNOTATION) {
        return Ok(None);
    }
    let def: Value = serde_json::from_str(definition_json).map_err(|e| format!("the definition is not JSON: {e}"))?;
    let Some(schema) = def.get("inputSchema") else {
        return Ok(None);
    };
    let mut found = Vec::new();
    let mut path = Vec::new();
    reachable(schema, &mut path, &mut found)?;
    let everywhere = count_annotations(schema);
    if everywhere > found.len() {
        return Err(format!(
            "an {ANNOTATION} annotation is not reachable from the input schema's root through \"properties\" alone (it is under items, a composition, a condition or a $ref)"
        ));
    }
    let mut seen: Vec<String> = Vec::with_capacity(found.len());
    for p in &found {
        let lower = p.header.as_str().to_owned();
        if seen.contains(&lower) {
            return Err(format!("two properties are mirrored in the same header {lower}"));
        }
        seen.push(lower);
    }
    Ok((!found.is_empty()).then(|| found.into()))
}

/// Collects the annotated properties under `schema`'s `properties`,
/// descending into object-typed properties.
fn reachable(schema: &Value, path: &mut Vec<Box<str>>, found: &mut Vec<ParamHeader>) -> Result<(), String> {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return Ok(());
    };
    for (key, prop) in props {
        path.push(key.as_str().into());
        let at = || path.join(".");
        if let Some(name) = prop.get(ANNOTATION) {
            let name = name
                .as_str()
                .filter(|n| !n.is_empty() && n.bytes().all(is_tchar))
                .ok_or_else(|| format!("property {:?} has an {ANNOTATION} that is not an HTTP token", at()))?;
            let kind = prop.get("type").and_then(Value::as_str).unwrap_or_default();
            if !PRIMITIVES.contains(&kind) {
                return Err(format!(
                    "property {:?} is mirrored in a header but its type is {kind:?}, not one of {PRIMITIVES:?}",
                    at()
                ));
            }
            let header = HeaderName::try_from(format!("mcp-param-{name}"))
                .map_err(|_| format!("property {:?} has an {ANNOTATION} that is not an HTTP token", at()))?;
            found.push(ParamHeader {
                path: path.clone().into(),
                header,
            });
        }
        reachable(prop, path, found)?;
        path.pop();
    }
    Ok(())
}

/// How many annotations `v` holds anywhere (keys of a `properties` map
/// are property names, never annotations).
fn count_annotations(v: &Value) -> usize {
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| match k.as_str() {
                ANNOTATION => 1,
                "properties" => v
                    .as_object()
                    .map_or(0, |props| props.values().map(count_annotations).sum()),
                _ => count_annotations(v),
            })
            .sum(),
        Value::Array(a) => a.iter().map(count_annotations).sum(),
        _ => 0,
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(props: &str) -> String {
        format!(r#"{{"name":"t","inputSchema":{{"type":"object","properties":{props}}}}}"#)
    }

    #[test]
    fn annotated_properties_are_mirrored_nested_ones_too() {
        let def = tool(
            r#"{"region":{"type":"string","x-mcp-header":"Region"},"q":{"type":"string"},
                "opts":{"type":"object","properties":{"limit":{"type":"integer","x-mcp-header":"Limit"}}}}"#,
        );
        let got = of_definition(&def).unwrap().unwrap();
        let paths: Vec<(String, &str)> = got.iter().map(|p| (p.path.join("."), p.header.as_str())).collect();
        assert_eq!(
            paths,
            [
                ("opts.limit".to_string(), "mcp-param-limit"),
                ("region".to_string(), "mcp-param-region")
            ]
        );
        let args = RawObject::parse(r#"{"region":"eu","opts":{"limit":5}}"#).unwrap();
        assert_eq!(got[0].value_in(&args).unwrap().get(), "5");
        assert_eq!(got[1].value_in(&args).unwrap().get(), r#""eu""#);
        assert_eq!(
            of_definition(r#"{"name":"t","inputSchema":{"type":"object"}}"#),
            Ok(None)
        );
    }

    #[test]
    fn invalid_annotations_make_the_tool_invalid() {
        for (props, why) in [
            (r#"{"a":{"type":"string","x-mcp-header":"Bad Name"}}"#, "HTTP token"),
            (r#"{"a":{"type":"string","x-mcp-header":""}}"#, "HTTP token"),
            (r#"{"a":{"type":"object","x-mcp-header":"A"}}"#, "its type"),
            (
                r#"{"a":{"type":"array","items":{"type":"string","x-mcp-header":"A"}}}"#,
                "reachable",
            ),
            (r#"{"a":{"anyOf":[{"type":"string","x-mcp-header":"A"}]}}"#, "reachable"),
            (
                r#"{"a":{"type":"string","x-mcp-header":"Same"},"b":{"type":"string","x-mcp-header":"same"}}"#,
                "same header",
            ),
        ] {
            let err = of_definition(&tool(props)).unwrap_err();
            assert!(err.contains(why), "{props}: {err}");
        }
        // A property merely named like the annotation is a property.
        let named = tool(r#"{"x-mcp-header":{"type":"string"}}"#);
        assert_eq!(of_definition(&named), Ok(None));
    }

    #[test]
    fn values_travel_plain_when_they_can_else_base64() {
        let raw = |s: &str| RawValue::from_string(s.into()).unwrap();
        assert_eq!(ParamHeader::header_value(&raw(r#""eu-west 1""#)).unwrap(), "eu-west 1");
        assert_eq!(ParamHeader::header_value(&raw("42")).unwrap(), "42");
        assert_eq!(ParamHeader::header_value(&raw("true")).unwrap(), "true");
        assert_eq!(ParamHeader::header_value(&raw("null")), None);
        assert_eq!(encode("héllo"), format!("=?base64?{}?=", STANDARD.encode("héllo")));
        assert_eq!(encode(" x"), format!("=?base64?{}?=", STANDARD.encode(" x")));
        assert_eq!(
            encode("=?base64?abc?="),
            format!("=?base64?{}?=", STANDARD.encode("=?base64?abc?="))
        );
    }
}
