//! What the REST API answers, as Context Forge shapes it: `ToolRead`,
//! `PromptRead`, `ResourceRead`, `GatewayRead`, `ServerRead`. These are
//! typed so that the OpenAPI document's schemas are derived from the very
//! types that are serialized: the document cannot drift from the answers.
//! Fields Context Forge has and mcpgw does not keep (tags, metrics) are
//! sent empty, so its clients find every key they read.

use std::collections::HashMap;

use mcpgw_proto::v1::{self as pb, owned_item::Item as O, owned_resource::Content};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::transport_name;

/// `public`: mcpgw has no per-team visibility (yet).
const PUBLIC: &str = "public";

/// A tool as Context Forge's `ToolRead` shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolRead {
    pub id: String,
    /// The name clients call it by (with its backend's prefix).
    pub name: String,
    /// The name its backend gives it.
    pub original_name: String,
    pub custom_name: String,
    pub custom_name_slug: String,
    pub display_name: String,
    /// A REST tool's endpoint; `null` for an MCP tool.
    pub url: Option<String>,
    pub description: Option<String>,
    /// A REST tool's HTTP method, else `STREAMABLEHTTP`.
    pub request_type: String,
    /// `REST` (the registry's own) or `MCP` (a backend's).
    pub integration_type: &'static str,
    pub headers: HashMap<String, String>,
    #[schema(value_type = Object)]
    pub input_schema: Value,
    #[schema(value_type = Option<Object>)]
    pub output_schema: Option<Value>,
    #[schema(value_type = Object)]
    pub annotations: Value,
    /// The JSONPath a REST tool's answer is filtered by (empty: none).
    pub jsonpath_filter: String,
    pub timeout_ms: Option<u32>,
    /// Always `null`: credentials are never shown.
    #[schema(value_type = Option<Object>)]
    pub auth: Option<Value>,
    pub reachable: bool,
    pub execution_count: Option<u64>,
    #[serde(flatten)]
    pub catalog: Catalog,
}

/// What every catalog item's shape has.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Catalog {
    pub enabled: bool,
    /// The backend that offers it; `null` for the registry's own.
    pub gateway_id: Option<String>,
    pub tags: Vec<String>,
    pub visibility: &'static str,
    #[schema(value_type = Option<Object>)]
    pub metrics: Option<Value>,
    #[serde(rename = "_meta")]
    #[schema(value_type = Option<Object>)]
    pub meta: Option<Value>,
}

impl Catalog {
    fn of(item: &pb::Item) -> Self {
        Self {
            enabled: item.enabled,
            gateway_id: item.owned.is_none().then(|| item.backend_id.clone()),
            tags: Vec::new(),
            visibility: PUBLIC,
            metrics: None,
            meta: None,
        }
    }
}

/// One argument of a prompt.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArgumentRead {
    pub name: String,
    pub description: String,
    pub required: bool,
}

/// A prompt as Context Forge's `PromptRead` shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromptRead {
    pub id: String,
    pub name: String,
    pub original_name: String,
    pub custom_name: String,
    pub description: Option<String>,
    /// The registry's own prompt's template (empty for a backend's).
    pub template: String,
    pub arguments: Vec<ArgumentRead>,
    #[serde(flatten)]
    pub catalog: Catalog,
}

/// A resource or resource template as Context Forge's `ResourceRead` shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRead {
    pub id: String,
    pub uri: String,
    /// Set for a resource template (its URI template).
    pub uri_template: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub mime_type: Option<String>,
    /// Bytes of inline content, when it has some.
    pub size: Option<u64>,
    #[serde(flatten)]
    pub catalog: Catalog,
}

/// A backend (MCP server or peer gateway) as Context Forge's `GatewayRead`
/// shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayRead {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub url: String,
    pub description: Option<String>,
    /// `SSE`, `STREAMABLEHTTP`, `WEBSOCKET`, `STDIO`, `REST` or `GRPC`.
    pub transport: &'static str,
    #[schema(value_type = Object)]
    pub capabilities: Value,
    pub enabled: bool,
    /// False while its health checks fail.
    pub reachable: bool,
    pub last_seen: Option<String>,
    /// The last failure seen, kept after it recovers.
    pub last_error: Option<String>,
    pub status: &'static str,
    /// `basic`, `bearer`, `oauth`, `authheaders`, or `null`.
    pub auth_type: Option<&'static str>,
    pub tool_count: u32,
    pub tags: Vec<String>,
    pub visibility: &'static str,
}

/// A virtual server as Context Forge's `ServerRead` shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerRead {
    pub id: String,
    pub name: String,
    pub description: String,
    pub icon: Option<String>,
    pub enabled: bool,
    /// Its tools' names as its clients see them.
    pub associated_tools: Vec<String>,
    pub associated_tool_ids: Vec<String>,
    pub associated_resources: Vec<String>,
    pub associated_prompts: Vec<String>,
    pub tags: Vec<String>,
    pub visibility: &'static str,
    #[schema(value_type = Option<Object>)]
    pub metrics: Option<Value>,
}

/// `{"status": "success", "message": …}`: what a delete answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Done {
    pub status: &'static str,
    pub message: String,
}

impl Done {
    pub fn new(message: String) -> Self {
        Self {
            status: "success",
            message,
        }
    }
}

/// What a toggle answers: `{"status": "success", "message": "Tool … activated",
/// "tool": {…}}`, the entity under its kind's name with its keys in
/// snake_case, as Context Forge answers a change of state.
#[derive(Debug, Serialize, ToSchema)]
pub struct StateChanged {
    pub status: &'static str,
    pub message: String,
    /// The entity, under `tool`, `prompt`, `resource`, `server` or `gateway`.
    #[serde(flatten)]
    #[schema(value_type = HashMap<String, Object>)]
    pub entity: Map<String, Value>,
}

impl StateChanged {
    pub fn new(kind: &str, id: &str, enabled: bool, read: impl Serialize) -> Self {
        let verb = if enabled { "activated" } else { "deactivated" };
        let mut title = kind.to_owned();
        title[..1].make_ascii_uppercase();
        let read = serde_json::to_value(read).expect("a read shape serializes");
        let mut entity = Map::new();
        entity.insert(kind.to_owned(), snake_keys(read));
        Self {
            status: "success",
            message: format!("{title} {id} {verb}"),
            entity,
        }
    }
}

/// An object's top-level keys in snake_case (`createdAt` → `created_at`).
fn snake_keys(v: Value) -> Value {
    let Value::Object(o) = v else { return v };
    Value::Object(
        o.into_iter()
            .map(|(k, v)| {
                let mut snake = String::with_capacity(k.len() + 4);
                for c in k.chars() {
                    if c.is_ascii_uppercase() {
                        snake.push('_');
                        snake.push(c.to_ascii_lowercase());
                    } else {
                        snake.push(c);
                    }
                }
                (snake, v)
            })
            .collect(),
    )
}

/// A catalog item's definition (always an object).
fn definition(item: &pb::Item) -> Map<String, Value> {
    match serde_json::from_str(&item.definition_json) {
        Ok(Value::Object(o)) => o,
        _ => Map::new(),
    }
}

fn text(def: &Map<String, Value>, key: &str) -> Option<String> {
    def.get(key).and_then(Value::as_str).map(String::from)
}

/// `key` of the definition if it is an object (a quirky backend's other
/// values are not passed on as a schema).
fn object(def: &Map<String, Value>, key: &str) -> Option<Value> {
    def.get(key).filter(|v| v.is_object()).cloned()
}

fn owned(item: &pb::Item) -> Option<&O> {
    item.owned.as_ref().and_then(|o| o.item.as_ref())
}

impl ToolRead {
    pub fn of(item: &pb::Item) -> Self {
        let def = definition(item);
        let rest = match owned(item) {
            Some(O::Tool(t)) => Some(t),
            _ => None,
        };
        Self {
            id: item.id.clone(),
            name: item.exposed_name.clone(),
            original_name: item.name.clone(),
            custom_name: item.name.clone(),
            custom_name_slug: item.name.clone(),
            display_name: text(&def, "title").unwrap_or_else(|| item.name.clone()),
            url: rest.map(|t| t.url.clone()),
            description: text(&def, "description"),
            request_type: rest.map_or_else(|| "STREAMABLEHTTP".into(), |t| t.method.clone()),
            integration_type: if rest.is_some() { "REST" } else { "MCP" },
            headers: rest.map(|t| t.headers.clone()).unwrap_or_default(),
            input_schema: object(&def, "inputSchema").unwrap_or_else(|| serde_json::json!({"type": "object"})),
            output_schema: object(&def, "outputSchema"),
            annotations: object(&def, "annotations").unwrap_or_else(|| Value::Object(Map::new())),
            jsonpath_filter: rest.map(|t| t.response_select.clone()).unwrap_or_default(),
            timeout_ms: rest.map(|t| t.timeout_ms).filter(|ms| *ms > 0),
            auth: None,
            reachable: true,
            execution_count: None,
            catalog: Catalog::of(item),
        }
    }
}

impl PromptRead {
    pub fn of(item: &pb::Item) -> Self {
        let def = definition(item);
        let template = match owned(item) {
            Some(O::Prompt(p)) => p.template.clone(),
            _ => String::new(),
        };
        let arguments = def
            .get("arguments")
            .and_then(Value::as_array)
            .map(|args| {
                args.iter()
                    .filter_map(Value::as_object)
                    .map(|a| ArgumentRead {
                        name: text(a, "name").unwrap_or_default(),
                        description: text(a, "description").unwrap_or_default(),
                        required: a.get("required").and_then(Value::as_bool).unwrap_or(false),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            id: item.id.clone(),
            name: item.exposed_name.clone(),
            original_name: item.name.clone(),
            custom_name: item.name.clone(),
            description: text(&def, "description"),
            template,
            arguments,
            catalog: Catalog::of(item),
        }
    }
}

impl ResourceRead {
    pub fn of(item: &pb::Item) -> Self {
        let def = definition(item);
        let template = (item.kind() == pb::ItemKind::ResourceTemplate).then(|| item.name.clone());
        let size = match owned(item) {
            Some(O::Resource(pb::OwnedResource {
                content: Some(Content::Text(t)),
                ..
            })) => Some(t.len()),
            Some(O::Resource(pb::OwnedResource {
                content: Some(Content::Blob(b)),
                ..
            })) => Some(b.len()),
            _ => None,
        };
        Self {
            id: item.id.clone(),
            uri: item.name.clone(),
            uri_template: template,
            name: text(&def, "name").unwrap_or_else(|| item.name.clone()),
            description: text(&def, "description"),
            mime_type: text(&def, "mimeType"),
            size: size.map(|s| s as u64),
            catalog: Catalog::of(item),
        }
    }
}

impl GatewayRead {
    pub fn of(b: &pb::Backend) -> Self {
        let health = b.health.clone().unwrap_or_default();
        let auth_type = match b.credentials.as_ref().map(|c| c.auth_scheme.as_str()) {
            Some("bearer") => Some("bearer"),
            Some("basic") => Some("basic"),
            Some("oauth2_client_credentials") => Some("oauth"),
            _ if b.credentials.as_ref().is_some_and(|c| !c.header_names.is_empty()) => Some("authheaders"),
            _ => None,
        };
        Self {
            id: b.id.clone(),
            name: b.name.clone(),
            slug: b.slug.clone(),
            url: b.url.clone(),
            description: None,
            transport: transport_name(b.transport()),
            capabilities: Value::Object(Map::new()),
            enabled: b.enabled,
            reachable: health.status() != pb::HealthStatus::Unhealthy,
            last_seen: None,
            last_error: (!health.last_error.is_empty()).then(|| health.last_error.clone()),
            status: "active",
            auth_type,
            tool_count: b.tool_count,
            tags: Vec::new(),
            visibility: PUBLIC,
        }
    }
}

impl ServerRead {
    /// `s` with `members` (id, kind, the name it is served under) sorted
    /// by kind.
    pub fn of(s: &pb::Server, members: impl IntoIterator<Item = (String, pb::ItemKind, String)>) -> Self {
        use pb::ItemKind as K;
        let mut read = Self {
            id: s.id.clone(),
            name: s.name.clone(),
            description: s.description.clone(),
            icon: None,
            enabled: s.enabled,
            associated_tools: Vec::new(),
            associated_tool_ids: Vec::new(),
            associated_resources: Vec::new(),
            associated_prompts: Vec::new(),
            tags: Vec::new(),
            visibility: PUBLIC,
            metrics: None,
        };
        for (id, kind, name) in members {
            match kind {
                K::Tool => {
                    read.associated_tools.push(name);
                    read.associated_tool_ids.push(id);
                }
                K::Resource | K::ResourceTemplate => read.associated_resources.push(id),
                K::Prompt => read.associated_prompts.push(id),
                _ => {}
            }
        }
        read
    }
}
