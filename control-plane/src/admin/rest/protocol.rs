//! `/protocol/initialize`, `/protocol/ping` and `/version`, in Context
//! Forge's shapes. `initialize` here is the REST form (the body is the
//! params object): it says what the gateway speaks; sessions are opened on
//! the MCP endpoints.

use axum::{Json, body::Bytes, extract::State, http::StatusCode};
use mcpgw_data_plane::protocol::ProtocolVersion;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, Refused, Rest};

/// What the gateway speaks: MCP's initialize result for the protocol
/// version asked (`protocol_version` or `protocolVersion`).
#[utoipa::path(post, path = "/protocol/initialize", tag = "protocol", request_body(content = Object, description = "MCP's initialize params"),
    responses((status = 200, description = "MCP's InitializeResult", body = Object), Refused))]
pub async fn initialize(bytes: Bytes) -> ApiResult {
    let params: Value =
        serde_json::from_slice(&bytes).map_err(|_| ApiError::bad_request("Invalid JSON in request body"))?;
    let asked = params
        .get("protocol_version")
        .or_else(|| params.get("protocolVersion"))
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("Missing protocol version"))?;
    let version = ProtocolVersion::negotiate(asked);
    Ok(Json(json!({
        "protocolVersion": version.as_str(),
        "capabilities": {
            "tools": {"listChanged": true},
            "prompts": {"listChanged": true},
            "resources": {"subscribe": true, "listChanged": true},
            "logging": {},
            "completions": {},
        },
        "serverInfo": {"name": "mcpgw", "version": env!("CARGO_PKG_VERSION")},
        "instructions": "mcpgw: the tools, prompts and resources of every registered backend; MCP at /mcp, /sse, /ws and /rpc.",
    })))
}

/// A JSON-RPC `ping`, answered with an empty result.
#[utoipa::path(post, path = "/protocol/ping", tag = "protocol", request_body(content = Object, description = "A JSON-RPC ping request"),
    responses((status = 200, description = "The JSON-RPC result", body = Object),
        (status = 400, description = "The JSON-RPC error: not a ping", body = Object),
        Refused))]
pub async fn ping(bytes: Bytes) -> (StatusCode, Json<Value>) {
    let msg: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let id = msg.get("id").cloned().unwrap_or(Value::Null);
    if msg.get("method").and_then(Value::as_str) == Some("ping") {
        (StatusCode::OK, Json(json!({"jsonrpc": "2.0", "id": id, "result": {}})))
    } else {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": id})),
        )
    }
}

/// The gateway's version, the MCP revision it prefers, and its database.
#[utoipa::path(get, path = "/version", tag = "protocol",
    responses((status = 200, description = "The answer", body = Object), Refused))]
pub async fn version(State(rest): State<Rest>) -> ApiResult {
    let dialect = match rest.api.registry.db() {
        crate::registry::Db::Sqlite(_) => "sqlite",
        crate::registry::Db::Postgres(_) => "postgresql",
    };
    let reachable = rest.api.registry.version().await.is_ok();
    Ok(Json(json!({
        "app": {
            "name": "mcpgw",
            "version": env!("CARGO_PKG_VERSION"),
            "mcp_protocol_version": ProtocolVersion::LATEST.as_str(),
        },
        "database": {"dialect": dialect, "reachable": reachable},
    })))
}
