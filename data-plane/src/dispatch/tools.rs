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

/// A parsed `tools/call`: the fields routing needs, everything else raw.
pub struct ToolCall<'a> {
    params: RawObject<'a>,
    pub name: CowStr<'a>,
    meta: Option<RawObject<'a>>,
    pub progress_token: Option<&'a RawValue>,
}

impl<'a> ToolCall<'a> {
    pub fn parse(params: Option<&'a RawValue>) -> Result<Self, McpError> {
        let invalid = |m: &str| McpError::new(ErrorKind::InvalidParams, m);
        let params = params.ok_or_else(|| invalid("tools/call needs params with the tool's \"name\""))?;
        let params = RawObject::parse(params.get()).map_err(|_| invalid("tools/call params must be a JSON object"))?;
        let name: CowStr<'a> = params
            .get("name")
            .and_then(|n| serde_json::from_str(n.get()).ok())
            .ok_or_else(|| invalid("tools/call needs params.name, the tool's name as listed by tools/list"))?;
        let meta = params.get("_meta").and_then(|m| RawObject::parse(m.get()).ok());
        let progress_token = meta.as_ref().and_then(|m| m.get("progressToken"));
        Ok(Self {
            params,
            name,
            meta,
            progress_token,
        })
    }

    /// The request to send upstream as id `up_id`: the tool's name on its
    /// backend (`backend_name`, a JSON string) and, if the client asked for
    /// progress, the upstream id as the progress token, unique in the pooled
    /// backend session and mapped back on the way out.
    pub fn upstream_request(&self, backend_name: &str, up_id: u64) -> Vec<u8> {
        let up_id = up_id.to_string();
        let new_meta = self
            .progress_token
            .and(self.meta.as_ref())
            .map(|m| m.to_string_with(&[("progressToken", &up_id)]));
        let mut replace: [(&str, &str); 2] = [("name", backend_name), ("", "")];
        let n = match &new_meta {
            Some(m) => {
                replace[1] = ("_meta", m);
                2
            }
            None => 1,
        };
        jsonrpc::request(&up_id, "tools/call", Some(&self.params.to_string_with(&replace[..n])))
    }
}

pub async fn call(gw: &Arc<Gateway>, id: &RawValue, params: Option<&RawValue>) -> Result<Reply, McpError> {
    let call = ToolCall::parse(params)?;
    let route = gw
        .snapshot
        .load()
        .routes
        .tool(&call.name)
        .cloned()
        .ok_or_else(|| McpError::new(ErrorKind::InvalidParams, format!("Unknown tool: {}", &*call.name)))?;
    let backend_name = json_str(&route.name);
    let sent = gw.upstream.send(&route.backend.id, &route.backend.url, |up_id| {
        call.upstream_request(&backend_name, up_id)
    });
    let (up_id, res, in_flight) = sent.await.map_err(|e| {
        tracing::warn!(tool = &*call.name, backend = &*route.backend.name, error = %e, "tools/call failed upstream");
        backend_error(&route.backend.name, &call.name, e)
    })?;
    let relay = relay::Relay::new(
        up_id,
        id,
        call.progress_token,
        route.backend.name.clone(),
        gw.limits.upstream_timeout,
    )
    .holding(in_flight);
    relay::response(relay, res).await
}

fn backend_error(backend: &str, tool: &str, e: UpstreamError) -> McpError {
    let (kind, what) = match &e {
        UpstreamError::Timeout { secs, .. } => (ErrorKind::BackendTimeout, format!("did not answer within {secs} s")),
        UpstreamError::NotMcp { .. } => (
            ErrorKind::BackendProtocol,
            "answered with something that is not MCP".into(),
        ),
        UpstreamError::Http { status, .. } => (ErrorKind::BackendUnavailable, format!("answered HTTP {status}")),
        UpstreamError::Saturated { limit, .. } => (
            ErrorKind::BackendUnavailable,
            format!("already has {limit} calls in flight from this gateway node"),
        ),
        UpstreamError::Unreachable { .. } | UpstreamError::SessionExpired { .. } | UpstreamError::Rpc { .. } => (
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
