//! Context Forge's request shapes, and how they map onto the registry's:
//! what a `ToolCreate` becomes (an owned REST tool), a `PromptCreate`, a
//! `ResourceCreate` (what the answers look like is in `reads`).
//! Requests take snake_case (and the camelCase aliases Context Forge takes),
//! ignore fields that have no meaning here, and refuse those that would be
//! silently wrong.

use std::collections::HashMap;

use mcpgw_proto::v1::{self as pb, owned_item::Item as O, owned_resource::Content};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::ShapeError;

/// Methods a REST tool may use.
const REST_METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// `ToolCreate` and `ToolUpdate` (every field optional; create checks the
/// required ones).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct ToolIn {
    pub name: Option<String>,
    pub url: Option<String>,
    pub description: Option<String>,
    pub integration_type: Option<String>,
    pub request_type: Option<String>,
    pub headers: Option<HashMap<String, String>>,
    #[serde(alias = "inputSchema")]
    #[schema(value_type = Option<Object>)]
    pub input_schema: Option<Value>,
    pub jsonpath_filter: Option<String>,
    pub timeout_ms: Option<u32>,
    /// Refused unless empty or `none`: register the API as a REST backend.
    pub auth_type: Option<String>,
    /// Refused unless `null` (see `auth_type`).
    #[schema(value_type = Option<Object>)]
    pub auth: Option<Value>,
}

impl ToolIn {
    /// The REST tool this describes, over `base` (the tool it updates).
    pub fn rest_tool(self, base: Option<pb::RestTool>) -> Result<pb::RestTool, ShapeError> {
        if let Some(kind) = self.integration_type.as_deref()
            && !kind.eq_ignore_ascii_case("REST")
        {
            return Err(ShapeError::bad_request(format!(
                "integration_type {kind:?} cannot be created here: only REST tools are; add MCP servers and peers through /gateways"
            )));
        }
        let has_auth = self
            .auth_type
            .as_deref()
            .is_some_and(|a| !a.is_empty() && !a.eq_ignore_ascii_case("none"))
            || self.auth.as_ref().is_some_and(|a| !a.is_null());
        if has_auth {
            return Err(ShapeError::bad_request(
                "credentials on a single tool are not kept; register the API as a REST backend with credentials \
                 (mcpgw backend add --transport rest, or CreateBackend), whose credentials are sealed",
            ));
        }
        let creating = base.is_none();
        let mut t = base.unwrap_or_default();
        required(&mut t.name, self.name, creating, "name")?;
        required(&mut t.url, self.url, creating, "url")?;
        if let Some(d) = self.description {
            t.description = d;
        }
        match self.request_type.map(|m| m.to_ascii_uppercase()) {
            Some(m) if REST_METHODS.contains(&m.as_str()) => t.method = m,
            Some(m) => {
                return Err(ShapeError::invalid_body(
                    Some("request_type"),
                    format!("request_type {m:?} must be one of GET, POST, PUT, PATCH, DELETE for a REST tool"),
                ));
            }
            // Context Forge's default ("SSE") is no HTTP method; a REST
            // call with arguments is a POST of them.
            None if creating => t.method = "POST".into(),
            None => {}
        }
        if let Some(h) = self.headers {
            t.headers = h;
        }
        if let Some(schema) = self.input_schema {
            if !schema.is_object() {
                return Err(ShapeError::invalid_body(Some("input_schema"), "must be a JSON object"));
            }
            t.input_schema_json = schema.to_string();
        }
        if let Some(filter) = self.jsonpath_filter {
            if !filter.is_empty() && !filter.starts_with('$') {
                return Err(ShapeError::invalid_body(
                    Some("jsonpath_filter"),
                    "must be a JSONPath (RFC 9535) starting with $; jq programs are not run",
                ));
            }
            t.response_select = filter;
        }
        if let Some(ms) = self.timeout_ms {
            t.timeout_ms = ms;
        }
        Ok(t)
    }
}

/// `PromptArgument`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct ArgumentIn {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub required: bool,
}

/// `PromptCreate` and `PromptUpdate`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct PromptIn {
    pub name: Option<String>,
    pub description: Option<String>,
    pub template: Option<String>,
    pub arguments: Option<Vec<ArgumentIn>>,
    /// A JSON Schema of the arguments (`properties`, `required`), as older
    /// Context Forge scripts send it.
    #[serde(alias = "argumentSchema", alias = "input_schema")]
    #[schema(value_type = Option<Object>)]
    pub argument_schema: Option<Value>,
}

impl PromptIn {
    pub fn prompt(self, base: Option<pb::OwnedPrompt>) -> Result<pb::OwnedPrompt, ShapeError> {
        let creating = base.is_none();
        let mut p = base.unwrap_or_default();
        required(&mut p.name, self.name, creating, "name")?;
        required(&mut p.template, self.template, creating, "template")?;
        if let Some(d) = self.description {
            p.description = d;
        }
        if let Some(args) = self.arguments {
            p.arguments = args
                .into_iter()
                .map(|a| pb::PromptArgument {
                    name: a.name,
                    description: a.description,
                    required: a.required,
                })
                .collect();
        } else if let Some(schema) = self.argument_schema {
            p.arguments = arguments_of_schema(&schema)?;
        }
        Ok(p)
    }
}

fn arguments_of_schema(schema: &Value) -> Result<Vec<pb::PromptArgument>, ShapeError> {
    let bad = || ShapeError::invalid_body(Some("argument_schema"), "must be a JSON Schema object with properties");
    let props = schema.get("properties").and_then(Value::as_object).ok_or_else(bad)?;
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    Ok(props
        .iter()
        .map(|(name, p)| pb::PromptArgument {
            name: name.clone(),
            description: p.get("description").and_then(Value::as_str).unwrap_or_default().into(),
            required: required.contains(&name.as_str()),
        })
        .collect())
}

/// `ResourceCreate` and `ResourceUpdate`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct ResourceIn {
    pub uri: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(alias = "mimeType")]
    pub mime_type: Option<String>,
    pub content: Option<String>,
    pub uri_template: Option<String>,
}

impl ResourceIn {
    /// A resource, or a resource template when `uri_template` is given (or
    /// `base` is one).
    pub fn item(self, base: Option<O>) -> Result<O, ShapeError> {
        if base.is_none() {
            let missing = [
                ("uri", self.uri.is_none()),
                ("name", self.name.is_none()),
                ("content", self.content.is_none()),
            ];
            if let Some((field, _)) = missing.iter().find(|(_, m)| *m) {
                return Err(ShapeError::invalid_body(Some(field), "field required"));
            }
        }
        let as_template = match &base {
            Some(O::ResourceTemplate(_)) => true,
            Some(_) => false,
            None => self.uri_template.as_deref().is_some_and(|t| !t.is_empty()),
        };
        if as_template {
            let mut t = match base {
                Some(O::ResourceTemplate(t)) => t,
                _ => pb::OwnedResourceTemplate::default(),
            };
            if let Some(u) = self.uri_template.filter(|u| !u.is_empty()).or(self.uri) {
                t.uri_template = u;
            }
            set(&mut t.name, self.name);
            set(&mut t.description, self.description);
            set(&mut t.mime_type, self.mime_type);
            set(&mut t.text, self.content);
            return Ok(O::ResourceTemplate(t));
        }
        let mut r = match base {
            Some(O::Resource(r)) => r,
            _ => pb::OwnedResource::default(),
        };
        set(&mut r.uri, self.uri);
        set(&mut r.name, self.name);
        set(&mut r.description, self.description);
        set(&mut r.mime_type, self.mime_type);
        if let Some(c) = self.content {
            r.content = Some(Content::Text(c));
        }
        Ok(O::Resource(r))
    }
}

/// Sets `field` to `value` if given; a create must give it.
fn required(field: &mut String, value: Option<String>, creating: bool, name: &str) -> Result<(), ShapeError> {
    match value {
        Some(v) => *field = v,
        None if creating => return Err(ShapeError::invalid_body(Some(name), "field required")),
        None => {}
    }
    Ok(())
}

fn set(field: &mut String, value: Option<String>) {
    if let Some(v) = value {
        *field = v;
    }
}
