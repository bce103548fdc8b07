//! `mcpgw backend add --transport rest --rest-tools FILE`: a JSON array of
//! endpoints, each `{"name", "description", "method", "url", "input_schema",
//! "headers", "args_in": "query"|"body", "response_select", "timeout_ms"}`
//! (only `name` and `url` are required; `method` defaults to GET).

use std::{collections::HashMap, path::Path};

use anyhow::Context;
use mcpgw_proto::v1::{self as pb, RestArgs};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Endpoint {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    method: Option<String>,
    url: String,
    #[serde(default)]
    input_schema: Option<serde_json::Value>,
    #[serde(default)]
    headers: HashMap<String, String>,
    #[serde(default)]
    args_in: Option<String>,
    #[serde(default)]
    response_select: String,
    #[serde(default)]
    timeout_ms: u32,
}

pub fn read_rest_tools(path: &Path) -> anyhow::Result<Vec<pb::RestTool>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let endpoints: Vec<Endpoint> = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a JSON array of REST endpoints", path.display()))?;
    endpoints
        .into_iter()
        .map(|e| {
            let args_in = match e.args_in.as_deref() {
                None => RestArgs::Unspecified,
                Some("query") => RestArgs::Query,
                Some("body") => RestArgs::JsonBody,
                Some(other) => anyhow::bail!("tool {:?}: args_in {other:?} is not \"query\" or \"body\"", e.name),
            };
            Ok(pb::RestTool {
                input_schema_json: e.input_schema.map(|s| s.to_string()).unwrap_or_default(),
                method: e.method.unwrap_or_else(|| "GET".into()),
                args_in: args_in.into(),
                name: e.name,
                description: e.description,
                url: e.url,
                headers: e.headers,
                response_select: e.response_select,
                timeout_ms: e.timeout_ms,
            })
        })
        .collect()
}
