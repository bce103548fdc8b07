//! `/servers`: virtual servers in Context Forge's shapes. Members are given
//! as item ids by kind (`associated_tools`, `associated_resources`,
//! `associated_prompts`), as a list or a comma-separated string.

use std::collections::HashMap;

use axum::{
    Json,
    body::Bytes,
    extract::{Path, Query, State},
    http::StatusCode,
};
use mcpgw_proto::v1::{self as pb, ItemKind, registry_service_server::RegistryService};
use serde::Deserialize;
use serde_json::{Value, json};
use tonic::Request;

use super::{ApiError, ApiResult, Rest, body};
use crate::{
    admin::{grpc::every_item, servers::exposed_name},
    registry::catalog::kind_from_db,
};

/// A list of ids, or one string of them separated by commas.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Ids {
    List(Vec<String>),
    Joined(String),
}

impl Ids {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::List(v) => v,
            Self::Joined(s) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
        }
    }
}

/// `ServerCreate` and `ServerUpdate`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ServerIn {
    name: Option<String>,
    description: Option<String>,
    #[serde(alias = "associatedTools")]
    associated_tools: Option<Ids>,
    #[serde(alias = "associatedResources")]
    associated_resources: Option<Ids>,
    #[serde(alias = "associatedPrompts")]
    associated_prompts: Option<Ids>,
}

impl ServerIn {
    /// The members this asks for, over `current` (kinds not given stay).
    fn members(self, current: &[(ItemKind, String)]) -> Vec<pb::ServerMember> {
        let keep = |kinds: &[ItemKind]| -> Vec<String> {
            current
                .iter()
                .filter(|(k, _)| kinds.contains(k))
                .map(|(_, id)| id.clone())
                .collect()
        };
        let tools = self
            .associated_tools
            .map_or_else(|| keep(&[ItemKind::Tool]), Ids::into_vec);
        let resources = self.associated_resources.map_or_else(
            || keep(&[ItemKind::Resource, ItemKind::ResourceTemplate]),
            Ids::into_vec,
        );
        let prompts = self
            .associated_prompts
            .map_or_else(|| keep(&[ItemKind::Prompt]), Ids::into_vec);
        tools
            .into_iter()
            .chain(resources)
            .chain(prompts)
            .map(|item_id| pb::ServerMember { item_id, naming: None })
            .collect()
    }
}

/// Every item's kind and exposed name, by id.
async fn catalog(rest: &Rest) -> Result<HashMap<String, (ItemKind, String)>, ApiError> {
    let sep = rest.api.registry.separator().await.map_err(tonic::Status::from)?;
    let mut all = HashMap::new();
    for row in every_item(&rest.api.registry).await? {
        let exposed = exposed_name(&row, &sep);
        all.insert(row.id, (kind_from_db(&row.kind), exposed));
    }
    Ok(all)
}

/// A virtual server as Context Forge's `ServerRead` shows it.
fn server_read(s: &pb::Server, catalog: &HashMap<String, (ItemKind, String)>) -> Value {
    let of = |kinds: &[ItemKind]| -> Vec<&pb::ServerMember> {
        s.members
            .iter()
            .filter(|m| catalog.get(&m.item_id).is_some_and(|(k, _)| kinds.contains(k)))
            .collect()
    };
    let tools = of(&[ItemKind::Tool]);
    let ids = |ms: &[&pb::ServerMember]| ms.iter().map(|m| m.item_id.clone()).collect::<Vec<_>>();
    json!({
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "icon": null,
        "enabled": s.enabled,
        "associatedTools": tools.iter().map(|m| catalog[&m.item_id].1.clone()).collect::<Vec<_>>(),
        "associatedToolIds": ids(&tools),
        "associatedResources": ids(&of(&[ItemKind::Resource, ItemKind::ResourceTemplate])),
        "associatedPrompts": ids(&of(&[ItemKind::Prompt])),
        "tags": [],
        "visibility": "public",
        "metrics": null,
    })
}

async fn find(rest: &Rest, key: &str) -> Result<pb::Server, ApiError> {
    let res = rest
        .api
        .get_server(Request::new(pb::GetServerRequest { server: key.into() }))
        .await
        .map_err(|_| ApiError::not_found(format!("Server not found: {key}")))?;
    Ok(res.into_inner().server.expect("a server"))
}

pub async fn list(State(rest): State<Rest>) -> ApiResult {
    let servers = rest
        .api
        .list_servers(Request::new(pb::ListServersRequest {}))
        .await?
        .into_inner()
        .servers;
    let catalog = catalog(&rest).await?;
    Ok(Json(Value::Array(
        servers.iter().map(|s| server_read(s, &catalog)).collect(),
    )))
}

pub async fn create(State(rest): State<Rest>, bytes: Bytes) -> Result<(StatusCode, Json<Value>), ApiError> {
    let s: ServerIn = body(&bytes, Some("server"))?;
    let name = s
        .name
        .clone()
        .ok_or_else(|| ApiError::invalid_body(Some("name"), "field required"))?;
    let description = s.description.clone().unwrap_or_default();
    let members = s.members(&[]);
    let created = rest
        .api
        .create_server(Request::new(pb::CreateServerRequest {
            name,
            description,
            members,
        }))
        .await?
        .into_inner()
        .server
        .expect("a server");
    let catalog = catalog(&rest).await?;
    Ok((StatusCode::CREATED, Json(server_read(&created, &catalog))))
}

pub async fn get(State(rest): State<Rest>, Path(key): Path<String>) -> ApiResult {
    let s = find(&rest, &key).await?;
    Ok(Json(server_read(&s, &catalog(&rest).await?)))
}

pub async fn update(State(rest): State<Rest>, Path(key): Path<String>, bytes: Bytes) -> ApiResult {
    let current = find(&rest, &key).await?;
    let s: ServerIn = body(&bytes, None)?;
    if s.name.as_ref().is_some_and(|n| *n != current.name) {
        return Err(ApiError::bad_request(
            "a virtual server keeps its name (clients use it in their URLs); create one under the new name",
        ));
    }
    let catalog = catalog(&rest).await?;
    let held: Vec<(ItemKind, String)> = current
        .members
        .iter()
        .filter_map(|m| catalog.get(&m.item_id).map(|(k, _)| (*k, m.item_id.clone())))
        .collect();
    let description = s.description.clone().unwrap_or(current.description.clone());
    let members = s.members(&held);
    let updated = rest
        .api
        .update_server(Request::new(pb::UpdateServerRequest {
            server: current.id.clone(),
            description,
            members,
        }))
        .await?
        .into_inner()
        .server
        .expect("a server");
    Ok(Json(server_read(&updated, &catalog)))
}

pub async fn delete(State(rest): State<Rest>, Path(key): Path<String>) -> ApiResult {
    let current = find(&rest, &key).await?;
    rest.api
        .delete_server(Request::new(pb::DeleteServerRequest {
            server: current.id.clone(),
        }))
        .await?;
    Ok(Json(
        json!({"status": "success", "message": format!("Server {} deleted successfully", current.id)}),
    ))
}

pub async fn toggle(
    State(rest): State<Rest>,
    Path(key): Path<String>,
    Query(a): Query<super::items::Activate>,
) -> ApiResult {
    let current = find(&rest, &key).await?;
    let changed = rest
        .api
        .set_server_enabled(Request::new(pb::SetServerEnabledRequest {
            server: current.id.clone(),
            enabled: a.activate,
        }))
        .await?
        .into_inner()
        .server
        .expect("a server");
    let read = server_read(&changed, &catalog(&rest).await?);
    Ok(Json(crate::admin::cf::shapes::state_changed(
        "server",
        &changed.id,
        changed.enabled,
        read,
    )))
}
