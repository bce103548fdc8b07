//! REST APIs as MCP tools: each tool an HTTP endpoint (method, URL with
//! `{arg}` path templates, where the other arguments go, an optional
//! JSONPath picking what of the answer is returned). The gateway makes the
//! call itself with the backend's pooled client and credentials. An HTTP
//! error is the tool's error (`isError: true`, the status and a short
//! excerpt of the body), not a protocol error: the model can read it.

use std::{collections::HashMap, time::Duration};

use http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use mcpgw_proto::v1::{RestArgs, RestTool as RestToolConfig};
use serde_json::{Map, Value, json, value::RawValue};
use serde_json_path::JsonPath;

use super::{LinkError, McpHttpClient, UpstreamError, error_chain, read_capped};

/// Largest response body read; past it the call is the tool's error.
const MAX_RESPONSE: usize = 8 << 20;
/// How much of an error body the tool's error shows.
const EXCERPT: usize = 500;

/// One endpoint, checked and compiled.
#[derive(Debug)]
struct Endpoint {
    method: Method,
    /// The URL with `{arg}` placeholders; absolute.
    url: String,
    /// The placeholders' names, in order.
    path_args: Vec<String>,
    headers: HeaderMap,
    in_query: bool,
    /// Arguments always in the query string.
    query_args: Vec<String>,
    select: Option<JsonPath>,
    timeout: Option<Duration>,
}

/// A REST backend's tools, by name.
#[derive(Debug, Default)]
pub struct RestBackend {
    tools: HashMap<String, Endpoint>,
}

impl RestBackend {
    /// Checks and compiles `tools` of the API at `base` (which relative
    /// tool URLs resolve against); an error names the tool and what is wrong.
    pub fn compile(base: &str, tools: &[RestToolConfig]) -> Result<Self, LinkError> {
        let base = reqwest::Url::parse(base)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| LinkError(format!("the REST base URL {base:?} is not an http(s) URL")))?;
        let mut compiled = HashMap::new();
        for t in tools {
            let bad = |why: String| LinkError(format!("REST tool {:?}: {why}", t.name));
            if t.name.is_empty() {
                return Err(LinkError("a REST tool needs a name".into()));
            }
            let method = match t.method.to_ascii_uppercase().as_str() {
                "GET" => Method::GET,
                "POST" => Method::POST,
                "PUT" => Method::PUT,
                "PATCH" => Method::PATCH,
                "DELETE" => Method::DELETE,
                other => return Err(bad(format!("method {other:?} is not GET, POST, PUT, PATCH or DELETE"))),
            };
            let (url, path_args) = template(&base, &t.url).map_err(bad)?;
            let mut headers = HeaderMap::new();
            for (name, value) in &t.headers {
                let name =
                    HeaderName::try_from(name.as_str()).map_err(|_| bad(format!("{name:?} is not a header name")))?;
                let value = HeaderValue::try_from(value.as_str())
                    .map_err(|_| bad(format!("the value of header {name} is not a header value")))?;
                headers.insert(name, value);
            }
            let select = (!t.response_select.is_empty())
                .then(|| JsonPath::parse(&t.response_select))
                .transpose()
                .map_err(|e| {
                    bad(format!(
                        "response selection {:?} does not compile: {e}",
                        t.response_select
                    ))
                })?;
            if !t.input_schema_json.is_empty()
                && !serde_json::from_str::<Value>(&t.input_schema_json).is_ok_and(|v| v.is_object())
            {
                return Err(bad("its input schema is not a JSON object".into()));
            }
            let in_query = match t.args_in() {
                RestArgs::Query => true,
                RestArgs::JsonBody => false,
                RestArgs::Unspecified => matches!(method, Method::GET | Method::DELETE),
            };
            let endpoint = Endpoint {
                method,
                url,
                path_args,
                headers,
                in_query,
                query_args: t.query_args.clone(),
                select,
                timeout: (t.timeout_ms > 0).then(|| Duration::from_millis(t.timeout_ms.into())),
            };
            if compiled.insert(t.name.clone(), endpoint).is_some() {
                return Err(bad("the name is used twice".into()));
            }
        }
        Ok(Self { tools: compiled })
    }

    /// Calls tool `name` with `arguments` (a JSON object, raw); the
    /// `CallToolResult` as JSON text. Only a call that could not be made
    /// is an `Err`.
    pub async fn call(
        &self,
        client: &McpHttpClient,
        name: &str,
        arguments: Option<&RawValue>,
    ) -> Result<String, UpstreamError> {
        let Some(e) = self.tools.get(name) else {
            return Ok(tool_error(&format!("no REST endpoint is registered for tool {name:?}")));
        };
        let mut args: Map<String, Value> = match arguments.map(|a| serde_json::from_str(a.get())) {
            None => Map::new(),
            Some(Ok(Value::Object(m))) => m,
            Some(_) => return Ok(tool_error("the tool's arguments must be a JSON object")),
        };
        let mut url = e.url.clone();
        for arg in &e.path_args {
            let Some(v) = args.remove(arg) else {
                return Ok(tool_error(&format!("missing argument {arg:?}, which the URL needs")));
            };
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            if text.is_empty() || text == "." || text == ".." {
                return Ok(tool_error(&format!(
                    "argument {arg:?} must be a path segment, not {text:?}"
                )));
            }
            let encoded = percent_encode_segment(&text);
            url = url.replace(&format!("{{{arg}}}"), &encoded);
        }
        let mut url = reqwest::Url::parse(&url).map_err(|err| UpstreamError::NotMcp {
            url: url.clone(),
            reason: format!("the templated URL is not a URL: {err}"),
        })?;
        let query: Vec<(String, Value)> = if e.in_query {
            std::mem::take(&mut args).into_iter().collect()
        } else {
            e.query_args.iter().filter_map(|k| args.remove_entry(k)).collect()
        };
        if !query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in &query {
                match v {
                    Value::String(s) => q.append_pair(k, s),
                    Value::Null => q.append_pair(k, ""),
                    other => q.append_pair(k, &other.to_string()),
                };
            }
        }
        // Errors name the endpoint as registered (its template): the call's
        // own URL is not copied for a failure that rarely comes.
        let shown = e.url.as_str();
        let mut req = client.http.request(e.method.clone(), url);
        if !e.in_query {
            req = req
                .header(header::CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(&args).expect("a map serializes"));
        }
        if !e.headers.is_empty() {
            req = req.headers(e.headers.clone());
        }
        if let Some(trace) = crate::telemetry::context::outgoing() {
            req = crate::telemetry::context::headers(req, trace);
        }
        let req = client
            .authorize(req, shown)
            .await?
            .header(header::ACCEPT, "application/json, */*;q=0.5");
        let timeout = e.timeout.unwrap_or(client.timeout);
        let mut res = within(timeout, shown, req.send()).await?;
        let status = res.status();
        if status == http::StatusCode::UNAUTHORIZED {
            client.rejected();
        }
        let Some(body) = within(timeout, shown, read_capped(&mut res, MAX_RESPONSE)).await? else {
            return Ok(tool_error(&format!("the API's answer is over {MAX_RESPONSE} bytes")));
        };
        if !status.is_success() {
            let excerpt: String = String::from_utf8_lossy(&body).chars().take(EXCERPT).collect();
            return Ok(tool_error(&format!("HTTP {status}: {excerpt}")));
        }
        Ok(success(e, &body))
    }
}

/// `fut` (sending, or reading the answer) within `timeout`, its failure
/// worded for `url`.
async fn within<T>(
    timeout: Duration,
    url: &str,
    fut: impl Future<Output = Result<T, reqwest::Error>>,
) -> Result<T, UpstreamError> {
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| UpstreamError::Timeout {
            url: url.into(),
            secs: timeout.as_secs(),
        })?
        .map_err(|err| UpstreamError::Unreachable {
            url: url.into(),
            reason: error_chain(&err),
        })
}

/// The tool's result for a 2xx answer: JSON (selected) as text and, when
/// it is an object, as structured content; anything else as text.
fn success(e: &Endpoint, body: &[u8]) -> String {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        let text = String::from_utf8_lossy(body);
        return json!({"content": [{"type": "text", "text": text}], "isError": false}).to_string();
    };
    let value = match &e.select {
        None => value,
        Some(path) => {
            let mut found: Vec<Value> = path.query(&value).all().into_iter().cloned().collect();
            if found.len() == 1 {
                found.remove(0)
            } else {
                Value::Array(found)
            }
        }
    };
    // Written out directly: the value is serialized once, and its text is
    // that serialization as a JSON string.
    let (text, structured) = match &value {
        Value::String(s) => (Value::String(s.clone()).to_string(), None),
        other => {
            let json = other.to_string();
            let text = Value::String(json.clone()).to_string();
            (text, other.is_object().then_some(json))
        }
    };
    match structured {
        Some(s) => {
            format!(r#"{{"content":[{{"type":"text","text":{text}}}],"isError":false,"structuredContent":{s}}}"#)
        }
        None => format!(r#"{{"content":[{{"type":"text","text":{text}}}],"isError":false}}"#),
    }
}

fn tool_error(why: &str) -> String {
    json!({"content": [{"type": "text", "text": why}], "isError": true}).to_string()
}

/// The absolute URL template of `url` against `base`, and its `{arg}`
/// placeholders.
fn template(base: &reqwest::Url, url: &str) -> Result<(String, Vec<String>), String> {
    let mut names = Vec::new();
    let mut rest = url;
    while let Some(open) = rest.find('{') {
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| format!("URL {url:?} has an unclosed '{{'"))?
            + open;
        let name = &rest[open + 1..close];
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-') {
            return Err(format!(
                "URL {url:?} has a placeholder {{{name}}} that is not an argument name"
            ));
        }
        names.push(name.to_owned());
        rest = &rest[close + 1..];
    }
    // Placeholders stand in for path segments while the URL is resolved.
    let mut probe = url.to_owned();
    for (i, n) in names.iter().enumerate() {
        probe = probe.replace(&format!("{{{n}}}"), &format!("mcpgw-arg-{i}"));
    }
    let resolved = base
        .join(&probe)
        .map_err(|e| format!("URL {url:?} does not resolve against the backend's URL: {e}"))?;
    if !matches!(resolved.scheme(), "http" | "https") {
        return Err(format!("URL {url:?} is not http(s)"));
    }
    // Arguments fill path segments only: a client never picks the host,
    // port or scheme the gateway calls.
    if (0..names.len()).any(|i| !resolved.path().contains(&format!("mcpgw-arg-{i}"))) {
        return Err(format!("URL {url:?} has a placeholder outside its path"));
    }
    let mut out = resolved.to_string();
    for (i, n) in names.iter().enumerate() {
        out = out.replace(&format!("mcpgw-arg-{i}"), &format!("{{{n}}}"));
    }
    Ok((out, names))
}

/// Percent-encodes one path segment (RFC 3986 unreserved characters kept).
fn percent_encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A tool definition as `tools/list` shows it.
///
/// Its annotations say what HTTP says of the method (RFC 9110 §9.2): GET
/// and HEAD change nothing, PUT and DELETE may be repeated. The response
/// cache relies on them to cache only tools that change nothing.
pub fn definition(t: &RestToolConfig) -> String {
    let schema: Value = serde_json::from_str(&t.input_schema_json).unwrap_or_else(|_| json!({"type": "object"}));
    let annotations = match t.method.to_ascii_uppercase().as_str() {
        "" | "GET" | "HEAD" | "OPTIONS" => json!({"readOnlyHint": true}),
        "PUT" => json!({"readOnlyHint": false, "idempotentHint": true, "destructiveHint": false}),
        "DELETE" => json!({"readOnlyHint": false, "idempotentHint": true}),
        _ => json!({"readOnlyHint": false}),
    };
    json!({"name": t.name, "description": t.description, "inputSchema": schema, "annotations": annotations}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(url: &str, select: &str) -> RestToolConfig {
        RestToolConfig {
            name: "t".into(),
            method: "GET".into(),
            url: url.into(),
            response_select: select.into(),
            ..Default::default()
        }
    }

    #[test]
    fn templates_resolve_against_the_base_and_bad_input_is_named() {
        let base = "http://api.test/v1/";
        let ok = RestBackend::compile(base, &[tool("items/{id}/parts", "$.data")]).unwrap();
        let e = &ok.tools["t"];
        assert_eq!(e.url, "http://api.test/v1/items/{id}/parts");
        assert_eq!(e.path_args, ["id"]);
        let err = |t: RestToolConfig| RestBackend::compile(base, &[t]).unwrap_err().0;
        assert!(err(tool("x", "$[")).contains("does not compile"));
        assert!(err(tool("items/{id", "")).contains("unclosed"));
        assert!(err(tool("http://{host}/x", "")).contains("outside its path"));
        assert!(err(tool("x?q={q}", "")).contains("outside its path"));
        let mut t = tool("x", "");
        t.method = "BREW".into();
        assert!(err(t).contains("BREW"));
        assert!(RestBackend::compile("ftp://x", &[]).is_err());
        assert_eq!(percent_encode_segment("a b/c"), "a%20b%2Fc");
    }
}
