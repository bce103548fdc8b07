//! `tools/call`: route by exposed name, rewrite the name and progress token,
//! forward to the owning backend, relay what comes back.

use std::sync::Arc;

use serde_json::value::RawValue;

use super::{Reply, relay};
use crate::{
    Gateway,
    error::{ErrorKind, McpError},
    jsonrpc::{self, CowStr, RawObject, json_str},
    upstream::UpstreamError,
};

pub async fn call(
    gw: &Arc<Gateway>,
    id: &RawValue,
    params: Option<&RawValue>,
) -> Result<Reply, McpError> {
    let invalid = |m: &str| McpError::new(ErrorKind::InvalidParams, m);
    let params =
        params.ok_or_else(|| invalid("tools/call needs params with the tool's \"name\""))?;
    let obj = RawObject::parse(params.get())
        .map_err(|_| invalid("tools/call params must be a JSON object"))?;
    let name: CowStr<'_> = obj
        .get("name")
        .and_then(|n| serde_json::from_str(n.get()).ok())
        .ok_or_else(|| {
            invalid("tools/call needs params.name, the tool's name as listed by tools/list")
        })?;
    let route = gw
        .snapshot
        .load()
        .routes
        .tool(&name)
        .cloned()
        .ok_or_else(|| {
            McpError::new(
                ErrorKind::InvalidParams,
                format!("Unknown tool: {}", &*name),
            )
        })?;

    // The client's progress token is replaced by the upstream request id,
    // unique in the pooled backend session, and mapped back on the way out.
    let meta = obj
        .get("_meta")
        .and_then(|m| RawObject::parse(m.get()).ok());
    let client_token = meta.as_ref().and_then(|m| m.get("progressToken"));
    let backend_name = json_str(&route.name);
    let build = |up_id: u64| {
        let up_id = up_id.to_string();
        let new_meta = client_token
            .and(meta.as_ref())
            .map(|m| m.to_string_with(&[("progressToken", &up_id)]));
        let mut replace: Vec<(&str, &str)> = vec![("name", &backend_name)];
        if let Some(m) = &new_meta {
            replace.push(("_meta", m));
        }
        jsonrpc::request(&up_id, "tools/call", Some(&obj.to_string_with(&replace)))
    };
    let (up_id, res) = gw.upstream.send(&route.backend.id, &route.backend.url, build).await.map_err(|e| {
        tracing::warn!(tool = &*name, backend = &*route.backend.name, error = %e, "tools/call failed upstream");
        backend_error(&route.backend.name, &name, e)
    })?;
    let ctx = relay::Relay {
        upstream_id: up_id.to_string(),
        client_id: id.to_owned(),
        client_token: client_token.map(ToOwned::to_owned),
        backend: route.backend.name.clone(),
    };
    relay::response(ctx, res).await
}

fn backend_error(backend: &str, tool: &str, e: UpstreamError) -> McpError {
    let (kind, what) = match &e {
        UpstreamError::Timeout { secs, .. } => (
            ErrorKind::BackendTimeout,
            format!("did not answer within {secs} s"),
        ),
        UpstreamError::NotMcp { .. } => (
            ErrorKind::BackendProtocol,
            "answered with something that is not MCP".into(),
        ),
        UpstreamError::Http { status, .. } => (
            ErrorKind::BackendUnavailable,
            format!("answered HTTP {status}"),
        ),
        UpstreamError::Unreachable { .. }
        | UpstreamError::SessionExpired { .. }
        | UpstreamError::Rpc { .. } => (
            ErrorKind::BackendUnavailable,
            "is unavailable (the gateway could not reach it)".into(),
        ),
    };
    McpError::new(
        kind,
        format!(
            "Backend '{backend}' of tool '{tool}' {what}; try again later, or ask the gateway operator to check the backend"
        ),
    )
}
