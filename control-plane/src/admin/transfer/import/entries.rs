//! One entry of an export document read as what the admin API registers:
//! a gateway as a `CreateBackendRequest`, a tool, prompt or resource as an
//! `OwnedItem`, a server as references to its members. From the entry's
//! `mcpgw` object when it has one, else from Context Forge's fields.

use mcpgw_data_plane::upstream::secrets::{Auth, Secrets};
use mcpgw_proto::v1::{self as pb, ItemKind, backend_credentials::Auth as PbAuth, owned_item::Item as O};
use serde::Deserialize;
use serde_json::Value;

use super::super::{Keys, cf_auth, pbjson::from_json};
use crate::admin::cf::{
    GatewayIn,
    shapes::{PromptIn, ResourceIn, ToolIn},
};

/// Whether the entry is to be enabled (Context Forge's `is_active`, or
/// `enabled`; enabled when neither is given).
pub fn active(entry: &Value) -> bool {
    entry
        .get("is_active")
        .or_else(|| entry.get("enabled"))
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

/// The entry's name as the document gives it (a resource's URI).
pub fn name_of(kind: &str, entry: &Value) -> String {
    let key = if kind == "resources" { "uri" } else { "name" };
    entry.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn mcpgw<'a>(entry: &'a Value, key: &str) -> Option<&'a Value> {
    entry.get("mcpgw").and_then(|m| m.get(key))
}

/// `field` of the entry's own shape.
fn shape<T: for<'de> Deserialize<'de>>(entry: &Value) -> Result<T, String> {
    serde_json::from_value(entry.clone()).map_err(|e| e.to_string())
}

/// Credentials back in the API's shape (a stdio backend's environment goes
/// to its command).
fn credentials_pb(s: Secrets) -> (pb::BackendCredentials, Vec<(String, String)>) {
    let auth = s.auth.map(|a| match a {
        Auth::Bearer { token } => PbAuth::Bearer(pb::BearerAuth { token }),
        Auth::Basic { username, password } => PbAuth::Basic(pb::BasicAuth { username, password }),
        Auth::OauthClientCredentials {
            token_url,
            client_id,
            client_secret,
            scope,
        } => PbAuth::OauthClientCredentials(pb::OAuthClientCredentials {
            token_url,
            client_id,
            client_secret,
            scope,
        }),
    });
    let creds = pb::BackendCredentials {
        headers: s.headers.into_iter().collect(),
        auth,
        client_key_pem: s.client_key_pem,
    };
    (creds, s.env)
}

/// The items of a gateway entry to import disabled: (kind, name as the
/// backend lists it).
pub fn disabled(entry: &Value) -> Result<Vec<(ItemKind, String)>, String> {
    #[derive(Deserialize)]
    struct Off {
        kind: String,
        name: String,
    }
    let Some(list) = mcpgw(entry, "disabled") else {
        return Ok(Vec::new());
    };
    let off: Vec<Off> = serde_json::from_value(list.clone()).map_err(|e| format!("mcpgw.disabled: {e}"))?;
    Ok(off
        .into_iter()
        .map(|o| (crate::registry::catalog::kind_from_db(&o.kind), o.name))
        .collect())
}

/// A gateway entry as the request that registers it.
pub fn gateway(entry: &Value, keys: &Keys) -> Result<pb::CreateBackendRequest, String> {
    if let Some(backend) = mcpgw(entry, "backend") {
        let mut req: pb::CreateBackendRequest =
            from_json(backend.clone(), "mcpgw.v1.CreateBackendRequest").map_err(|e| format!("mcpgw.backend: {e}"))?;
        if let Some(sealed) = entry.get("mcpgw_secrets").and_then(Value::as_str) {
            let secrets = keys.open(&req.name, sealed).ok_or(
                "its mcpgw_secrets do not open with this AUTH_ENCRYPTION_SECRET; give the secret of the gateway that wrote the file as source_secret",
            )?;
            let (creds, env) = credentials_pb(secrets);
            if let Some(stdio) = req.stdio.as_mut() {
                stdio.env = env.into_iter().collect();
            }
            req.credentials = Some(creds);
        }
        return Ok(req);
    }
    let g: GatewayIn = shape(entry)?;
    let name = g.name.clone().ok_or("name: field required")?;
    let url = g.url.clone().ok_or("url: field required")?;
    let auth_type = g.auth_type.as_deref().unwrap_or_default().to_ascii_lowercase();
    let auth_value = entry
        .get("auth_value")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty());
    let credentials = match (auth_type.as_str(), auth_value) {
        ("" | "none", _) => None,
        ("oauth", _) => {
            return Err(
                "its OAuth credentials are not in the file; register it with mcpgw backend add --oauth-token-url … (or CreateBackend), or remove auth_type"
                    .into(),
            );
        }
        ("query_param", _) => {
            return Err("query_param auth is not supported: put the key in a header (auth_type authheaders)".into());
        }
        (kind, Some(sealed)) => {
            let headers = cf_auth::open(sealed, &keys.secret).map_err(|e| e.to_string())?;
            Some(cf_auth::credentials(kind, headers))
        }
        // GatewayCreate's own fields (auth_token, auth_username, …).
        _ => g.credentials().map_err(|e| e.to_string())?,
    };
    Ok(pb::CreateBackendRequest {
        name,
        url,
        transport: g.transport().map_err(|e| e.to_string())?.into(),
        credentials,
        ..Default::default()
    })
}

/// What an item entry holds: an item to import, or nothing (with why).
pub enum Read {
    Item(pb::OwnedItem),
    Skip(String),
}

/// A tool, prompt or resource entry as the item it makes.
pub fn item(kind: &str, entry: &Value) -> Result<Read, String> {
    if let Some(item) = mcpgw(entry, "item") {
        let item: pb::OwnedItem =
            from_json(item.clone(), "mcpgw.v1.OwnedItem").map_err(|e| format!("mcpgw.item: {e}"))?;
        return Ok(Read::Item(item));
    }
    let made = match kind {
        "tools" => {
            let mcp = entry
                .get("integration_type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case("MCP"));
            if mcp {
                return Ok(Read::Skip(
                    "an MCP server's tool comes with its gateway, not on its own".into(),
                ));
            }
            O::Tool(shape::<ToolIn>(entry)?.rest_tool(None).map_err(|e| e.to_string())?)
        }
        "prompts" => O::Prompt(shape::<PromptIn>(entry)?.prompt(None).map_err(|e| e.to_string())?),
        _ => {
            let mut r: ResourceIn = shape(entry)?;
            // Context Forge's export leaves a resource's content out.
            r.content.get_or_insert_default();
            r.item(None).map_err(|e| e.to_string())?
        }
    };
    Ok(Read::Item(pb::OwnedItem { item: Some(made) }))
}

/// A member a server entry names: by the name clients see it under (an id
/// of this registry works too).
#[derive(Debug, Clone, Deserialize)]
pub struct MemberRef {
    /// tool, prompt, resource or resource_template.
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub keep_original_name: bool,
    #[serde(default)]
    pub rename: Option<String>,
}

/// A backend a server entry names as a member, every item of it (by its
/// name in the file, or in this registry).
#[derive(Debug, Clone, Deserialize)]
pub struct BackendRef {
    pub name: String,
    #[serde(default)]
    pub keep_original_names: bool,
}

impl MemberRef {
    /// The kinds the reference may be of.
    pub fn kinds(&self) -> &'static [ItemKind] {
        match self.kind.as_str() {
            "prompt" => &[ItemKind::Prompt],
            "resource" | "resource_template" => &[ItemKind::Resource, ItemKind::ResourceTemplate],
            _ => &[ItemKind::Tool],
        }
    }
}

/// A list of names, or one string of them separated by commas.
#[derive(Deserialize)]
#[serde(untagged)]
enum Names {
    List(Vec<String>),
    Joined(String),
}

/// A server entry: its description, members and member backends.
pub fn server(entry: &Value) -> Result<(String, Vec<MemberRef>, Vec<BackendRef>), String> {
    let description = entry
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let backends: Vec<BackendRef> = match mcpgw(entry, "backends") {
        Some(b) => serde_json::from_value(b.clone()).map_err(|e| format!("mcpgw.backends: {e}"))?,
        None => Vec::new(),
    };
    if let Some(members) = mcpgw(entry, "members") {
        let members: Vec<MemberRef> =
            serde_json::from_value(members.clone()).map_err(|e| format!("mcpgw.members: {e}"))?;
        return Ok((description, members, backends));
    }
    let mut members = Vec::new();
    for (field, kind) in [
        ("tool_ids", "tool"),
        ("associated_tools", "tool"),
        ("associated_resources", "resource"),
        ("associated_prompts", "prompt"),
    ] {
        let Some(v) = entry.get(field).filter(|v| !v.is_null()) else {
            continue;
        };
        let names = match serde_json::from_value::<Names>(v.clone())
            .map_err(|_| format!("{field}: must be a list of names"))?
        {
            Names::List(l) => l,
            Names::Joined(s) => s
                .split(',')
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty())
                .collect(),
        };
        for name in names {
            if !members.iter().any(|m: &MemberRef| m.name == name && m.kind == kind) {
                members.push(MemberRef {
                    kind: kind.into(),
                    name,
                    keep_original_name: false,
                    rename: None,
                });
            }
        }
    }
    Ok((description, members, backends))
}
