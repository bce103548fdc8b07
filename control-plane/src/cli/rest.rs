//! `mcpgw backend add --transport rest --rest-tools FILE`: a JSON array of
//! endpoints, each `{"name", "description", "method", "url", "input_schema",
//! "headers", "args_in": "query"|"body", "response_select", "timeout_ms"}`
//! (only `name` and `url` are required; `method` defaults to GET); and
//! `--openapi FILE|URL`, a REST backend made of an OpenAPI document.

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
    #[serde(default)]
    query_args: Vec<String>,
}

/// What `--openapi` and its filters ask for: a URL is fetched by the
/// control plane, a file is read here and sent.
pub fn openapi(
    source: &str,
    server: Option<String>,
    tags: Vec<String>,
    operations: Vec<String>,
) -> anyhow::Result<pb::OpenApiImport> {
    let (url, document) = if source.starts_with("http://") || source.starts_with("https://") {
        (source.to_owned(), String::new())
    } else {
        let text =
            std::fs::read_to_string(source).with_context(|| format!("cannot read the OpenAPI document {source}"))?;
        (String::new(), text)
    };
    Ok(pb::OpenApiImport {
        url,
        document,
        server_url: server.unwrap_or_default(),
        tags,
        operation_ids: operations,
    })
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
                query_args: e.query_args,
            })
        })
        .collect()
}
