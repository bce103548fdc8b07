//! Forwarding one client request to the backend that owns what it names:
//! rewrite the few routed fields (a tool's name, a resource's URI, the
//! progress token), send it in the backend's pooled session, relay what comes
//! back. Every other byte of the params passes through untouched.

use std::sync::Arc;

use serde_json::value::RawValue;

use super::{Reply, relay};
use crate::{
    Gateway,
    error::{ErrorKind, McpError},
    jsonrpc::{self, CowStr, RawObject},
    routing::BackendRoute,
    upstream::UpstreamError,
};

/// A parsed request to forward: the fields routing needs, everything else raw.
pub struct Forward<'a> {
    method: &'a str,
    params: RawObject<'a>,
    meta: Option<RawObject<'a>>,
    pub progress_token: Option<&'a RawValue>,
}

impl<'a> Forward<'a> {
    pub fn parse(method: &'a str, params: Option<&'a RawValue>) -> Result<Self, McpError> {
        let invalid = |m: String| McpError::new(ErrorKind::InvalidParams, m);
        let params = params.ok_or_else(|| invalid(format!("{method} needs params")))?;
        let params =
            RawObject::parse(params.get()).map_err(|_| invalid(format!("{method} params must be a JSON object")))?;
        let meta = params.get("_meta").and_then(|m| RawObject::parse(m.get()).ok());
        let progress_token = meta.as_ref().and_then(|m| m.get("progressToken"));
        Ok(Self {
            method,
            params,
            meta,
            progress_token,
        })
    }

    /// A string member of the params; `what` says in the error what it is.
    pub fn str_param(&self, key: &str, what: &str) -> Result<CowStr<'a>, McpError> {
        self.params
            .get(key)
            .and_then(|n| serde_json::from_str(n.get()).ok())
            .ok_or_else(|| {
                McpError::new(
                    ErrorKind::InvalidParams,
                    format!("{} needs params.{key}, {what}", self.method),
                )
            })
    }

    /// A raw member of the params.
    pub fn param(&self, key: &str) -> Option<&'a RawValue> {
        self.params.get(key)
    }

    /// The request to send upstream as id `up_id`, with `replace` (member,
    /// raw JSON) applied to the params and, if the client asked for progress,
    /// the upstream id as the progress token: unique in the pooled backend
    /// session and mapped back on the way out.
    pub fn upstream_request(&self, replace: &[(&str, &str)], up_id: u64) -> Vec<u8> {
        let up_id = up_id.to_string();
        let new_meta = self
            .progress_token
            .and(self.meta.as_ref())
            .map(|m| m.to_string_with(&[("progressToken", &up_id)]));
        let params = match &new_meta {
            Some(m) => {
                let mut all = Vec::with_capacity(replace.len() + 1);
                all.extend_from_slice(replace);
                all.push(("_meta", m.as_str()));
                self.params.to_string_with(&all)
            }
            None => self.params.to_string_with(replace),
        };
        jsonrpc::request(&up_id, self.method, Some(&params))
    }

    /// Sends the request to `backend` with `replace` applied and relays the
    /// answer; `what` names the target in errors ("tool 'x'").
    pub async fn send(
        &self,
        gw: &Arc<Gateway>,
        client_id: &RawValue,
        backend: &BackendRoute,
        replace: &[(&str, &str)],
        what: &str,
    ) -> Result<Reply, McpError> {
        let sent = gw
            .upstream
            .send(&backend.id, &backend.url, |up_id| self.upstream_request(replace, up_id));
        let (up_id, res, in_flight) = sent.await.map_err(|e| {
            tracing::warn!(method = self.method, backend = &*backend.name, error = %e, "forwarding failed upstream");
            backend_error(&backend.name, what, e)
        })?;
        let relay = relay::Relay::new(
            up_id,
            client_id,
            self.progress_token,
            backend.name.clone(),
            gw.limits.upstream_timeout,
        )
        .holding(in_flight);
        relay::response(relay, res).await
    }
}

pub fn backend_error(backend: &str, what: &str, e: UpstreamError) -> McpError {
    let (kind, why) = match &e {
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
            "Backend '{backend}' of {what} {why}; try again later, or ask the gateway operator to check the backend"
        ),
    )
}
