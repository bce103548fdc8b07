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
use serde::{Deserialize, Serialize};
use tonic::Request;
use utoipa::ToSchema;

use super::{ApiError, ApiResult, Refused, Rest, body};
use crate::{
    admin::{
        cf::reads::{Done, ServerRead, StateChanged},
        grpc::every_item,
        servers::exposed_name,
    },
    registry::catalog::kind_from_db,
};

/// A list of ids, or one string of them separated by commas.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
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
#[derive(Debug, Default, Deserialize, ToSchema)]
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

/// Every item's kind, names and backend, by id.
async fn catalog(rest: &Rest) -> Result<Catalog, ApiError> {
    let sep = rest.api.registry.separator().await.map_err(tonic::Status::from)?;
    let mut all = HashMap::new();
    for row in every_item(&rest.api.registry).await? {
        let entry = Entry {
            kind: kind_from_db(&row.kind),
            exposed: exposed_name(&row, &sep),
            name: row.name,
            backend_id: row.backend_id,
        };
        all.insert(row.id, entry);
    }
    Ok(all)
}

struct Entry {
    kind: ItemKind,
    /// The name the whole gateway serves it under.
    exposed: String,
    /// The backend's own name for it.
    name: String,
    backend_id: String,
}

type Catalog = HashMap<String, Entry>;

/// `s` in Context Forge's shape. Its whole backends read as their items
/// (the shape has no whole backends), under the names the server serves
/// them by, in name order after the members named one by one.
fn server_read(s: &pb::Server, catalog: &Catalog) -> ServerRead {
    let named = s.members.iter().filter_map(|m| {
        let e = catalog.get(&m.item_id)?;
        Some((m.item_id.clone(), e.kind, e.exposed.clone()))
    });
    let mut whole: Vec<_> = catalog
        .iter()
        .filter_map(|(id, e)| {
            let b = s.backends.iter().find(|b| b.backend_id == e.backend_id)?;
            let name = if b.keep_original_names { &e.name } else { &e.exposed };
            Some((id.clone(), e.kind, name.clone()))
        })
        .collect();
    // By name: `ServerRead::of` puts each kind in a list of its own.
    whole.sort_by(|a, b| a.2.cmp(&b.2));
    ServerRead::of(s, named.chain(whole))
}

async fn find(rest: &Rest, key: &str) -> Result<pb::Server, ApiError> {
    let res = rest
        .api
        .get_server(Request::new(pb::GetServerRequest { server: key.into() }))
        .await
        .map_err(|_| ApiError::not_found(format!("Server not found: {key}")))?;
    Ok(res.into_inner().server.expect("a server"))
}

/// List every virtual server.
#[utoipa::path(get, path = "/servers", tag = "servers",
    responses((status = 200, description = "The list", body = Vec<ServerRead>), Refused))]
pub async fn list(State(rest): State<Rest>) -> ApiResult<Json<Vec<ServerRead>>> {
    let servers = rest
        .api
        .list_servers(Request::new(pb::ListServersRequest {}))
        .await?
        .into_inner()
        .servers;
    let catalog = catalog(&rest).await?;
    Ok(Json(servers.iter().map(|s| server_read(s, &catalog)).collect()))
}

/// Create a virtual server from items' ids (the body may be wrapped as
/// `{"server": …}`).
#[utoipa::path(post, path = "/servers", tag = "servers", request_body = ServerIn,
    responses((status = 201, description = "The virtual server", body = ServerRead), Refused))]
pub async fn create(State(rest): State<Rest>, bytes: Bytes) -> ApiResult<(StatusCode, Json<ServerRead>)> {
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
            backends: Vec::new(),
        }))
        .await?
        .into_inner()
        .server
        .expect("a server");
    let catalog = catalog(&rest).await?;
    Ok((StatusCode::CREATED, Json(server_read(&created, &catalog))))
}

/// One virtual server.
#[utoipa::path(get, path = "/servers/{server}", tag = "servers", params(("server" = String, Path, description = "The server's id or name")),
    responses((status = 200, description = "The virtual server", body = ServerRead), Refused))]
pub async fn get(State(rest): State<Rest>, Path(key): Path<String>) -> ApiResult<Json<ServerRead>> {
    let s = find(&rest, &key).await?;
    Ok(Json(server_read(&s, &catalog(&rest).await?)))
}

/// Change a virtual server's description or members (kinds not given
/// keep their members).
#[utoipa::path(put, path = "/servers/{server}", tag = "servers", params(("server" = String, Path, description = "The server's id or name")),
    request_body = ServerIn,
    responses((status = 200, description = "The virtual server", body = ServerRead), Refused))]
pub async fn update(State(rest): State<Rest>, Path(key): Path<String>, bytes: Bytes) -> ApiResult<Json<ServerRead>> {
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
        .filter_map(|m| catalog.get(&m.item_id).map(|e| (e.kind, m.item_id.clone())))
        .collect();
    let description = s.description.clone().unwrap_or(current.description.clone());
    let members = s.members(&held);
    let updated = rest
        .api
        .update_server(Request::new(pb::UpdateServerRequest {
            server: current.id.clone(),
            description,
            members,
            // Context Forge's shapes have no whole backends: they stay.
            backends: current.backends.clone(),
        }))
        .await?
        .into_inner()
        .server
        .expect("a server");
    Ok(Json(server_read(&updated, &catalog)))
}

/// Delete a virtual server (its items stay).
#[utoipa::path(delete, path = "/servers/{server}", tag = "servers", params(("server" = String, Path, description = "The server's id or name")),
    responses((status = 200, description = "Deleted", body = Done), Refused))]
pub async fn delete(State(rest): State<Rest>, Path(key): Path<String>) -> ApiResult<Json<Done>> {
    let current = find(&rest, &key).await?;
    rest.api
        .delete_server(Request::new(pb::DeleteServerRequest {
            server: current.id.clone(),
        }))
        .await?;
    Ok(Json(Done::new(format!("Server {} deleted successfully", current.id))))
}

/// Enable or disable a virtual server (a disabled one answers 404).
#[utoipa::path(post, path = "/servers/{server}/toggle", tag = "servers",
    params(("server" = String, Path, description = "The server's id or name"), super::items::Activate),
    responses((status = 200, description = "Enabled or disabled", body = StateChanged), Refused))]
pub async fn toggle(
    State(rest): State<Rest>,
    Path(key): Path<String>,
    Query(a): Query<super::items::Activate>,
) -> ApiResult<Json<StateChanged>> {
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
    Ok(Json(StateChanged::new("server", &changed.id, changed.enabled, read)))
}
