//! `/gateways`: MCP servers (and peers) as Context Forge registers them,
//! which are backends here. Context Forge words these errors as
//! `{"message": …}`, and so does this.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, Query, State},
    http::StatusCode,
};
use mcpgw_proto::v1::{self as pb, registry_service_server::RegistryService};
use serde::{Deserialize, Serialize};
use tonic::Request;
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, ApiResult, ErrorBody, Refused, Rest, body, items::Activate};
use crate::admin::cf::{
    GatewayIn,
    reads::{Done, GatewayRead, StateChanged},
};

/// Context Forge's `{"message": …}` for what the backend API refused.
fn gateway_error(s: tonic::Status) -> ApiError {
    ApiError::from(s).as_message()
}

/// `?include_inactive=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct Inactive {
    /// List disabled gateways too.
    include_inactive: bool,
}

async fn find(rest: &Rest, id: &str) -> Result<pb::Backend, ApiError> {
    let res = rest
        .api
        .get_backend(Request::new(pb::GetBackendRequest { backend: id.into() }))
        .await
        .map_err(|_| ApiError::not_found(format!("Gateway not found: {id}")))?;
    Ok(res.into_inner().backend.expect("a backend"))
}

/// The backend after `req`.
async fn changed(rest: &Rest, req: pb::UpdateBackendRequest) -> Result<pb::Backend, tonic::Status> {
    let res = rest.api.update_backend(Request::new(req)).await?;
    Ok(res.into_inner().backend.expect("a backend"))
}

/// List every backend: MCP servers, REST and gRPC APIs, peer gateways.
#[utoipa::path(get, path = "/gateways", tag = "gateways", params(Inactive),
    responses((status = 200, description = "The list", body = Vec<GatewayRead>), Refused))]
pub async fn list(State(rest): State<Rest>, Query(q): Query<Inactive>) -> ApiResult<Json<Vec<GatewayRead>>> {
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let page = rest
            .api
            .list_backends(Request::new(pb::ListBackendsRequest {
                page_size: 1000,
                page_token: token,
            }))
            .await?
            .into_inner();
        all.extend(page.backends);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    Ok(Json(
        all.iter()
            .filter(|b| q.include_inactive || b.enabled)
            .map(GatewayRead::of)
            .collect(),
    ))
}

/// Register an MCP server or a peer gateway: it is reached and its tools,
/// prompts and resources are listed before anything is stored.
#[utoipa::path(post, path = "/gateways", tag = "gateways", request_body = GatewayIn,
    responses((status = 200, description = "The gateway", body = GatewayRead), Refused,
        (status = 502, description = "The URL could not be reached or did not speak MCP; nothing was stored", body = ErrorBody)))]
pub async fn create(State(rest): State<Rest>, bytes: Bytes) -> ApiResult<Json<GatewayRead>> {
    let g: GatewayIn = body(&bytes, None)?;
    let name = g
        .name
        .clone()
        .ok_or_else(|| ApiError::invalid_body(Some("name"), "field required"))?;
    let url = g
        .url
        .clone()
        .ok_or_else(|| ApiError::invalid_body(Some("url"), "field required"))?;
    let req = pb::CreateBackendRequest {
        name,
        url,
        transport: g.transport()?.into(),
        credentials: g.credentials()?,
        ..Default::default()
    };
    let b = rest
        .api
        .create_backend(Request::new(req))
        .await
        .map_err(gateway_error)?
        .into_inner()
        .backend
        .expect("a backend");
    Ok(Json(GatewayRead::of(&b)))
}

/// One backend.
#[utoipa::path(get, path = "/gateways/{id}", tag = "gateways", params(("id" = String, Path, description = "The backend's id or name")),
    responses((status = 200, description = "The gateway", body = GatewayRead), Refused))]
pub async fn get(State(rest): State<Rest>, Path(id): Path<String>) -> ApiResult<Json<GatewayRead>> {
    Ok(Json(GatewayRead::of(&find(&rest, &id).await?)))
}

/// Change a backend's URL or credentials (it is discovered again).
#[utoipa::path(put, path = "/gateways/{id}", tag = "gateways", params(("id" = String, Path, description = "The backend's id or name")),
    request_body = GatewayIn,
    responses((status = 200, description = "The gateway", body = GatewayRead), Refused,
        (status = 502, description = "The new URL could not be reached; nothing was changed", body = ErrorBody)))]
pub async fn update(State(rest): State<Rest>, Path(id): Path<String>, bytes: Bytes) -> ApiResult<Json<GatewayRead>> {
    let current = find(&rest, &id)
        .await
        .map_err(|_| ApiError::message(StatusCode::NOT_FOUND, "Gateway not found"))?;
    let g: GatewayIn = body(&bytes, None)?;
    if g.name.as_ref().is_some_and(|n| *n != current.name) {
        return Err(ApiError::message(
            StatusCode::BAD_REQUEST,
            "a gateway keeps its name (it prefixes its tools' names); register it again under the new one",
        ));
    }
    let req = pb::UpdateBackendRequest {
        backend: current.id.clone(),
        url: g.url.clone().filter(|u| *u != current.url),
        credentials: g.credentials()?,
        ..Default::default()
    };
    Ok(Json(GatewayRead::of(
        &changed(&rest, req).await.map_err(gateway_error)?,
    )))
}

/// Remove a backend and its items.
#[utoipa::path(delete, path = "/gateways/{id}", tag = "gateways", params(("id" = String, Path, description = "The backend's id or name")),
    responses((status = 200, description = "Deleted", body = Done), Refused))]
pub async fn delete(State(rest): State<Rest>, Path(id): Path<String>) -> ApiResult<Json<Done>> {
    let current = find(&rest, &id).await?;
    rest.api
        .delete_backend(Request::new(pb::DeleteBackendRequest {
            backend: current.id.clone(),
        }))
        .await?;
    Ok(Json(Done::new(format!("Gateway {} deleted", current.id))))
}

/// Enable or disable a backend (its items leave the lists while disabled).
#[utoipa::path(post, path = "/gateways/{id}/toggle", tag = "gateways",
    params(("id" = String, Path, description = "The backend's id or name"), Activate),
    responses((status = 200, description = "Enabled or disabled", body = StateChanged), Refused))]
pub async fn toggle(
    State(rest): State<Rest>,
    Path(id): Path<String>,
    Query(a): Query<Activate>,
) -> ApiResult<Json<StateChanged>> {
    let current = find(&rest, &id).await?;
    let req = pb::UpdateBackendRequest {
        backend: current.id.clone(),
        enabled: Some(a.activate),
        ..Default::default()
    };
    let b = changed(&rest, req).await?;
    Ok(Json(StateChanged::new(
        "gateway",
        &b.id,
        b.enabled,
        GatewayRead::of(&b),
    )))
}

/// A gateway a registered peer federates with, not registered here.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PeerOffer {
    name: String,
    /// Its MCP endpoint, to register at `POST /gateways`.
    url: String,
    gateway_id: String,
    /// The registered peers that offer it.
    offered_by: Vec<String>,
}

/// The gateways registered peers federate with that are not registered
/// here (FEDERATION_DISCOVERY=true on this gateway and on the peers):
/// offers to register, never registered without being asked.
#[utoipa::path(get, path = "/federation/peers", tag = "gateways",
    responses((status = 200, description = "The offers", body = Vec<PeerOffer>),
        (status = "4XX", description = "Refused: 400 when FEDERATION_DISCOVERY is off, 401 no or wrong credentials", body = ErrorBody)))]
pub async fn offers(State(rest): State<Rest>) -> ApiResult<Json<Vec<PeerOffer>>> {
    let offers = crate::admin::peers::offers(&rest.api).await?;
    Ok(Json(
        offers
            .into_iter()
            .map(|o| PeerOffer {
                name: o.name,
                url: o.url,
                gateway_id: o.gateway_id,
                offered_by: o.offered_by,
            })
            .collect(),
    ))
}
