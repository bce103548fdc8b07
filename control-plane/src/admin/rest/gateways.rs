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
use serde_json::{Value, json};
use tonic::Request;

use super::{ApiError, ApiResult, Rest, body, items::Activate};
use crate::admin::cf::{GatewayIn, shapes, transport_name};

/// Context Forge's `{"message": …}` for what the backend API refused.
fn gateway_error(s: tonic::Status) -> ApiError {
    let e = ApiError::from(s);
    let msg = e.1["detail"].as_str().unwrap_or_default().to_owned();
    ApiError::message(e.0, msg)
}

/// A backend as Context Forge's `GatewayRead` shows it.
fn gateway_read(b: &pb::Backend) -> Value {
    let health = b.health.clone().unwrap_or_default();
    let auth_type = match b.credentials.as_ref().map(|c| c.auth_scheme.as_str()) {
        Some("bearer") => json!("bearer"),
        Some("basic") => json!("basic"),
        Some("oauth2_client_credentials") => json!("oauth"),
        _ if b.credentials.as_ref().is_some_and(|c| !c.header_names.is_empty()) => json!("authheaders"),
        _ => Value::Null,
    };
    json!({
        "id": b.id,
        "name": b.name,
        "slug": b.slug,
        "url": b.url,
        "description": null,
        "transport": transport_name(b.transport()),
        "capabilities": {},
        "enabled": b.enabled,
        "reachable": health.status() != pb::HealthStatus::Unhealthy,
        "lastSeen": null,
        "lastError": (!health.last_error.is_empty()).then_some(health.last_error.as_str()),
        "status": "active",
        "authType": auth_type,
        "toolCount": b.tool_count,
        "tags": [],
        "visibility": "public",
    })
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

pub async fn list(State(rest): State<Rest>, Query(q): Query<super::items::ListQuery>) -> ApiResult {
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
    let shown: Vec<Value> = all
        .iter()
        .filter(|b| q.include_inactive || b.enabled)
        .map(gateway_read)
        .collect();
    Ok(Json(Value::Array(shown)))
}

pub async fn create(State(rest): State<Rest>, bytes: Bytes) -> ApiResult {
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
    Ok(Json(gateway_read(&b)))
}

pub async fn get(State(rest): State<Rest>, Path(id): Path<String>) -> ApiResult {
    Ok(Json(gateway_read(&find(&rest, &id).await?)))
}

pub async fn update(State(rest): State<Rest>, Path(id): Path<String>, bytes: Bytes) -> ApiResult {
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
    Ok(Json(gateway_read(&changed(&rest, req).await.map_err(gateway_error)?)))
}

pub async fn delete(State(rest): State<Rest>, Path(id): Path<String>) -> ApiResult {
    let current = find(&rest, &id).await?;
    rest.api
        .delete_backend(Request::new(pb::DeleteBackendRequest {
            backend: current.id.clone(),
        }))
        .await?;
    Ok(Json(
        json!({"status": "success", "message": format!("Gateway {} deleted", current.id)}),
    ))
}

pub async fn toggle(State(rest): State<Rest>, Path(id): Path<String>, Query(a): Query<Activate>) -> ApiResult {
    let current = find(&rest, &id).await?;
    let req = pb::UpdateBackendRequest {
        backend: current.id.clone(),
        enabled: Some(a.activate),
        ..Default::default()
    };
    let b = changed(&rest, req).await?;
    Ok(Json(shapes::state_changed(
        "gateway",
        &b.id,
        b.enabled,
        gateway_read(&b),
    )))
}
