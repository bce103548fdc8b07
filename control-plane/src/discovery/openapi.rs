//! OpenAPI 3.0 / 3.1 import: a REST backend's tools made of a document, one
//! per operation (GET, POST, PUT, PATCH, DELETE). A tool's input schema
//! holds the operation's path and query parameters and the properties of
//! its JSON request body; local `$ref`s (`#/components/...`) are resolved.
//! Documents are JSON or YAML (read with `serde-saphyr`, whose budgets stop
//! alias bombs). Errors say where in the document the problem is.

use mcpgw_proto::v1::{RestArgs, RestTool};
use serde_json::{Map, Value, json};

/// A document as JSON values: JSON if it looks like JSON (an object), else
/// YAML, each with its parser's account of where it went wrong.
fn parse(document: &str) -> Result<Value, String> {
    if document.trim_start().starts_with('{') {
        return serde_json::from_str(document).map_err(|e| format!("the OpenAPI document is not valid JSON: {e}"));
    }
    let doc: Value =
        serde_saphyr::from_str(document).map_err(|e| format!("the OpenAPI document is not valid YAML: {e}"))?;
    if doc.is_object() {
        Ok(doc)
    } else {
        Err("the OpenAPI document is neither a JSON object nor a YAML mapping".into())
    }
}

/// How deep `$ref`s are followed; past it a schema is left open (`{}`),
/// which is what a recursive schema needs.
const MAX_REF_DEPTH: usize = 16;
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// What an import asks for besides the document.
#[derive(Debug, Default)]
pub struct Filter<'a> {
    /// The API's base URL instead of the document's first server.
    pub server_url: &'a str,
    pub tags: &'a [String],
    pub operation_ids: &'a [String],
}

/// The API's base URL and its tools.
#[derive(Debug)]
pub struct Imported {
    pub server_url: String,
    pub tools: Vec<RestTool>,
}

/// The tools of `document` (JSON or YAML text), fetched from `source` if
/// given (relative server URLs resolve against it).
pub fn import(document: &str, source: Option<&str>, filter: &Filter<'_>) -> Result<Imported, String> {
    let doc = parse(document)?;
    let version = doc.get("openapi").and_then(Value::as_str).unwrap_or_default();
    if !(version.starts_with("3.0") || version.starts_with("3.1")) {
        return Err(format!(
            "the document's \"openapi\" is {version:?}: only OpenAPI 3.0 and 3.1 are imported"
        ));
    }
    let server_url = server(&doc, source, filter.server_url)?;
    let paths = doc
        .get("paths")
        .and_then(Value::as_object)
        .ok_or("the document has no \"paths\" object")?;
    let mut tools = Vec::new();
    for (path, item) in paths {
        let shared = item.get("parameters").cloned().unwrap_or(json!([]));
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let at = format!("paths.{path}.{method}");
            let id = op.get("operationId").and_then(Value::as_str);
            let tags: Vec<&str> = op
                .get("tags")
                .and_then(Value::as_array)
                .map(|t| t.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if !filter.tags.is_empty() && !tags.iter().any(|t| filter.tags.iter().any(|f| f == t)) {
                continue;
            }
            if !filter.operation_ids.is_empty() && !id.is_some_and(|id| filter.operation_ids.iter().any(|f| f == id)) {
                continue;
            }
            tools.push(tool(&doc, &server_url, path, method, op, &shared, &at)?);
        }
    }
    if tools.is_empty() {
        return Err("no operation of the document matched (check the tags and operationIds asked for)".into());
    }
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("two operations would both be the tool {:?}", w[0]));
    }
    Ok(Imported { server_url, tools })
}

/// The base URL: the override, or the first server with its variables at
/// their defaults, resolved against where the document came from.
fn server(doc: &Value, source: Option<&str>, given: &str) -> Result<String, String> {
    let raw = if given.is_empty() {
        let first = doc
            .pointer("/servers/0")
            .ok_or("the document names no server: give the API's base URL (--openapi-server)")?;
        let mut url = first.get("url").and_then(Value::as_str).unwrap_or_default().to_owned();
        if let Some(vars) = first.get("variables").and_then(Value::as_object) {
            for (name, v) in vars {
                let default = v.get("default").and_then(Value::as_str).unwrap_or_default();
                url = url.replace(&format!("{{{name}}}"), default);
            }
        }
        url
    } else {
        given.to_owned()
    };
    let resolved = match source.and_then(|s| reqwest::Url::parse(s).ok()) {
        Some(base) => base.join(&raw),
        None => reqwest::Url::parse(&raw),
    }
    .map_err(|e| format!("the server URL {raw:?} is not a URL: {e}"))?;
    if !matches!(resolved.scheme(), "http" | "https") {
        return Err(format!("the server URL {resolved} is not http(s)"));
    }
    Ok(resolved.to_string())
}

fn tool(
    doc: &Value,
    server: &str,
    path: &str,
    method: &str,
    op: &Value,
    shared: &Value,
    at: &str,
) -> Result<RestTool, String> {
    let mut properties = Map::new();
    let mut required: Vec<Value> = Vec::new();
    let mut query_args = Vec::new();
    let params = shared
        .as_array()
        .into_iter()
        .flatten()
        .chain(op.get("parameters").and_then(Value::as_array).into_iter().flatten());
    for (i, p) in params.enumerate() {
        let p = resolve(doc, p, 0, &format!("{at}.parameters[{i}]"))?;
        let name = p
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{at}.parameters[{i}] has no name"))?;
        match p.get("in").and_then(Value::as_str) {
            Some("path") => required.push(json!(name)),
            Some("query") => {
                query_args.push(name.to_owned());
                if p.get("required").and_then(Value::as_bool) == Some(true) {
                    required.push(json!(name));
                }
            }
            // Headers and cookies are the backend's own business.
            _ => continue,
        }
        let mut schema = p.get("schema").cloned().unwrap_or(json!({}));
        if let (Some(d), Some(s)) = (p.get("description"), schema.as_object_mut()) {
            s.entry("description").or_insert(d.clone());
        }
        properties.insert(name.to_owned(), schema);
    }
    let mut has_body = false;
    if let Some(body) = op.get("requestBody") {
        let body = resolve(doc, body, 0, &format!("{at}.requestBody"))?;
        if let Some(schema) = body.pointer("/content/application~1json/schema") {
            let schema = resolve(doc, schema, 0, &format!("{at}.requestBody"))?;
            let props = schema
                .get("properties")
                .and_then(Value::as_object)
                .ok_or_else(|| format!("{at}.requestBody: only JSON object bodies become tool arguments"))?;
            has_body = true;
            properties.extend(props.clone());
            if let Some(r) = schema.get("required").and_then(Value::as_array) {
                required.extend(r.iter().cloned());
            }
        }
    }
    let name = op
        .get("operationId")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| tool_name(method, path));
    let description = [op.get("summary"), op.get("description")]
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join("\n\n");
    let mut schema = json!({"type": "object", "properties": properties});
    if !required.is_empty() {
        schema["required"] = Value::Array(required);
    }
    Ok(RestTool {
        name,
        description,
        input_schema_json: schema.to_string(),
        method: method.to_ascii_uppercase(),
        url: format!("{}{}", server.trim_end_matches('/'), path),
        args_in: if has_body { RestArgs::JsonBody } else { RestArgs::Query }.into(),
        query_args,
        ..RestTool::default()
    })
}

/// A tool name for an operation without an operationId: `get_pets_id`.
fn tool_name(method: &str, path: &str) -> String {
    let mut name = method.to_owned();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        name.push('_');
        name.extend(part.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_'));
    }
    name
}

/// `v` with every local `$ref` in it replaced by what it points to.
fn resolve(doc: &Value, v: &Value, depth: usize, at: &str) -> Result<Value, String> {
    match v {
        Value::Object(o) => {
            if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                if depth >= MAX_REF_DEPTH {
                    return Ok(json!({}));
                }
                let pointer = r
                    .strip_prefix('#')
                    .ok_or_else(|| format!("{at}: $ref {r:?} points outside the document"))?;
                let target = doc
                    .pointer(pointer)
                    .ok_or_else(|| format!("{at}: $ref {r:?} points at nothing"))?;
                return resolve(doc, target, depth + 1, at);
            }
            let mut out = Map::new();
            for (k, v) in o {
                out.insert(k.clone(), resolve(doc, v, depth, at)?);
            }
            Ok(Value::Object(out))
        }
        Value::Array(a) => a
            .iter()
            .map(|v| resolve(doc, v, depth, at))
            .collect::<Result<_, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_become_tools_with_refs_resolved_and_errors_name_where() {
        let doc = json!({
            "openapi": "3.0.3",
            "servers": [{"url": "https://{host}/v1", "variables": {"host": {"default": "api.test"}}}],
            "paths": {"/pets/{id}": {
                "parameters": [{"$ref": "#/components/parameters/Id"}],
                "get": {"operationId": "getPet", "tags": ["pets"], "summary": "A pet",
                        "parameters": [{"name": "fields", "in": "query", "schema": {"type": "string"}}]},
                "put": {"tags": ["admin"], "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}}}
            }},
            "components": {
                "parameters": {"Id": {"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}},
                "schemas": {"Pet": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "friend": {"$ref": "#/components/schemas/Pet"}}}}
            }
        })
        .to_string();
        let all = import(&doc, None, &Filter::default()).unwrap();
        assert_eq!(all.server_url, "https://api.test/v1");
        let get = all.tools.iter().find(|t| t.name == "getPet").unwrap();
        assert_eq!(get.url, "https://api.test/v1/pets/{id}");
        assert_eq!(get.query_args, ["fields"]);
        let schema: Value = serde_json::from_str(&get.input_schema_json).unwrap();
        assert_eq!(schema["properties"]["id"]["type"], "integer");
        assert_eq!(schema["required"], json!(["id"]));
        let put = all.tools.iter().find(|t| t.name == "put_pets_id").unwrap();
        let schema: Value = serde_json::from_str(&put.input_schema_json).unwrap();
        assert_eq!(schema["required"], json!(["id", "name"]));
        assert_eq!(put.args_in(), RestArgs::JsonBody);
        let tags = ["admin".to_owned()];
        let some = import(
            &doc,
            None,
            &Filter {
                tags: &tags,
                ..Filter::default()
            },
        )
        .unwrap();
        assert_eq!(some.tools.len(), 1);

        let broken = doc.replace("#/components/schemas/Pet\"}}}}", "#/components/schemas/Cat\"}}}}");
        let e = import(&broken, None, &Filter::default()).unwrap_err();
        assert!(
            e.contains("paths./pets/{id}.put.requestBody") && e.contains("points at nothing"),
            "{e}"
        );
        let e = import("{\"openapi\": ", None, &Filter::default()).unwrap_err();
        assert!(e.contains("line 1"), "{e}");
        // YAML reads the same, and its errors say where too.
        let yaml = "openapi: 3.0.3\nservers: [{url: 'https://api.test/v1'}]\npaths:\n  /pets:\n    get:\n      operationId: listPets\n";
        let pets = import(yaml, None, &Filter::default()).unwrap();
        assert_eq!(pets.tools[0].name, "listPets");
        assert_eq!(pets.server_url, "https://api.test/v1");
        let e = import("openapi: 3.0.3\npaths:\n  /x: [unclosed\n", None, &Filter::default()).unwrap_err();
        assert!(e.contains("not valid YAML") && e.contains("line"), "{e}");
        let e = import("- just\n- a list\n", None, &Filter::default()).unwrap_err();
        assert!(e.contains("neither a JSON object nor a YAML mapping"), "{e}");
        let e = import(r#"{"swagger": "2.0"}"#, None, &Filter::default()).unwrap_err();
        assert!(e.contains("only OpenAPI 3.0 and 3.1"), "{e}");
    }
}
