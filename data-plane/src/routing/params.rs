//! Tool arguments mirrored in HTTP headers (MCP 2026-07-28, SEP-2243): a
//! property of a tool's input schema annotated `"x-mcp-header": "Name"`
//! travels in the body and, beside it, as `Mcp-Param-Name`, so proxies
//! can route on it without reading bodies. Read once per config from the
//! tool's definition, and only from a definition that has the annotation.

use std::sync::Arc;

use http::HeaderName;
use serde::Deserialize;

/// One mirrored argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamHeader {
    /// The argument (the input schema's property).
    pub arg: Box<str>,
    /// `mcp-param-<name>`.
    pub header: HeaderName,
}

#[derive(Deserialize)]
struct Definition {
    #[serde(rename = "inputSchema", default)]
    input_schema: Option<Schema>,
}

#[derive(Deserialize)]
struct Schema {
    #[serde(default)]
    properties: std::collections::BTreeMap<String, serde_json::Value>,
}

/// The mirrored arguments of a tool definition, if it has any (a name that
/// cannot be a header is not mirrored).
pub fn of_definition(definition_json: &str) -> Option<Arc<[ParamHeader]>> {
    if !definition_json.contains("x-mcp-header") {
        return None;
    }
    let def: Definition = serde_json::from_str(definition_json).ok()?;
    let all: Vec<ParamHeader> = def
        .input_schema?
        .properties
        .into_iter()
        .filter_map(|(arg, p)| {
            let name = p.get("x-mcp-header")?.as_str()?;
            let header = HeaderName::try_from(format!("mcp-param-{name}")).ok()?;
            Some(ParamHeader {
                arg: arg.into_boxed_str(),
                header,
            })
        })
        .collect();
    (!all.is_empty()).then(|| all.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_annotated_properties_are_mirrored() {
        let def = r#"{"name":"t","inputSchema":{"type":"object","properties":{
            "region":{"type":"string","x-mcp-header":"Region"},"q":{"type":"string"}}}}"#;
        let got = of_definition(def).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(&*got[0].arg, "region");
        assert_eq!(got[0].header.as_str(), "mcp-param-region");
        assert!(of_definition(r#"{"name":"t","inputSchema":{"type":"object"}}"#).is_none());
    }
}
