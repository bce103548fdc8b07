//! A 2026-07-28 request on a Streamable HTTP endpoint (`/mcp`,
//! `/servers/{id}/mcp`) or on `/rpc` (which answers JSON only): checked
//! ([`crate::stateless::meta`]), served by the dispatch core in a session
//! of its own that ends with it, and answered
//! as the era wants ([`crate::stateless::results`]): one JSON response, or
//! an event stream of its progress (and, if asked for, its logs) ending
//! with the result, with no event ids (the era does not resume). Closing
//! that stream cancels the call.

use std::sync::Arc;

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::StreamExt;

use super::{
    http::{envelope, json, last_message},
    scope::Scope,
    streamable::{event_stream, unnumbered},
};
use crate::{
    Gateway,
    auth::Principal,
    dispatch::{self, Reply},
    error::{ErrorKind, McpError},
    jsonrpc::Message,
    session::Session,
    stateless::{RequestMeta, discover, results},
};

/// How an answer may travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// An event stream when the call streams (`/mcp`).
    Events,
    /// One JSON message, the result (`/rpc`).
    Json,
}

pub async fn post(
    gw: &Arc<Gateway>,
    scope: &Scope,
    headers: &HeaderMap,
    principal: Principal,
    body: &[u8],
    framing: Framing,
) -> Result<Response, McpError> {
    let env = envelope(headers, body)?;
    let (id, method) = match env.classify() {
        Ok(Message::Request { id, method }) => (id, method),
        // `notifications/cancelled` is for stdio; over HTTP a closed
        // stream cancels. Notifications are taken and dropped.
        Ok(Message::Notification { .. }) => return Ok(StatusCode::ACCEPTED.into_response()),
        Ok(Message::Response { .. }) => {
            return Err(McpError::new(
                ErrorKind::InvalidRequest,
                "A 2026-07-28 client sends no responses: the server asks nothing mid-request",
            )
            .with_id(env.id));
        }
        Err(e) => {
            return Err(
                McpError::new(ErrorKind::InvalidRequest, format!("Invalid JSON-RPC message: {e}")).with_id(env.id),
            );
        }
    };
    let meta = RequestMeta::check(headers, &env, method).map_err(|e| e.with_id(Some(id)))?;
    if method == "tools/call" {
        check_mirrored(gw, scope, headers, &env, meta.name.as_deref()).map_err(|e| e.with_id(Some(id)))?;
    }
    if method == "subscriptions/listen" && framing == Framing::Json {
        return Err(McpError::new(
            ErrorKind::InvalidRequest,
            "subscriptions/listen answers with an event stream, which /rpc does not serve: listen on the MCP endpoint (/mcp or /servers/{id}/mcp)",
        )
        .with_id(Some(id)));
    }
    if method == "server/discover" {
        let result = results::complete(&discover::result(gw), method);
        return Ok(json(crate::jsonrpc::result_response(id, &result)));
    }
    let mut session = Session::stateless(principal, scope.0.clone());
    session.protocol_version = meta.version;
    session.caps = meta.caps;
    let logs = meta.log_level.is_some();
    let reply = dispatch::handle(gw, &session, &env)
        .await
        .map_err(|e| e.with_id(Some(id)))?;
    Ok(match reply {
        Reply::Message(m) => match results::rewrite(m, method, logs) {
            Some(r) => answer(r),
            None => StatusCode::ACCEPTED.into_response(),
        },
        Reply::Accepted => StatusCode::ACCEPTED.into_response(),
        Reply::Stream(messages) => {
            let method = method.to_owned();
            let mut messages = messages
                .filter_map(move |m| std::future::ready(results::rewrite(m, &method, logs)))
                .boxed();
            if framing == Framing::Json {
                return Ok(match last_message(messages, Some(id)).await {
                    Ok(last) => answer(last),
                    Err(e) => e.into_response(),
                });
            }
            // Headers wait for the first message: a call that fails before
            // anything else (a capability the request did not declare) is
            // answered with its own status, as the era wants.
            let mut first = messages.next().await;
            if let Some(r) = first.take_if(|r| r.framing) {
                return Ok(answer(r));
            }
            let messages = futures::stream::iter(first).chain(messages).map(|r| r.msg).boxed();
            let mut res = event_stream(gw, unnumbered(messages));
            res.headers_mut()
                .insert("x-accel-buffering", HeaderValue::from_static("no"));
            res
        }
    })
}

/// The `Mcp-Param-*` headers of a call of tool `name` if it mirrors
/// arguments in them (an unknown tool is left to dispatch to refuse); the
/// arguments are read only for such a tool.
fn check_mirrored(
    gw: &Gateway,
    scope: &Scope,
    headers: &HeaderMap,
    env: &crate::jsonrpc::Envelope<'_>,
    name: Option<&str>,
) -> Result<(), McpError> {
    #[derive(serde::Deserialize)]
    struct Call<'a> {
        #[serde(borrow)]
        arguments: Option<&'a serde_json::value::RawValue>,
    }
    let snapshot = gw.snapshot.load();
    let mirrored = name
        .and_then(|n| snapshot.routes_for(scope.0.as_deref())?.tools.get(n))
        .and_then(|r| r.param_headers.clone());
    let Some(mirrored) = mirrored else { return Ok(()) };
    let arguments = env
        .params
        .and_then(|p| serde_json::from_str::<Call<'_>>(p.get()).ok())
        .and_then(|c| c.arguments);
    crate::stateless::meta::check_params(headers, &mirrored, arguments)
}

/// One message as the whole answer: 400 for one of the era's framing
/// errors, else 200 (errors about the request itself travel in a 200).
fn answer(r: results::Rewritten) -> Response {
    let mut res = json(r.msg);
    if r.framing {
        *res.status_mut() = StatusCode::BAD_REQUEST;
    }
    res
}

/// GET and DELETE have no meaning in the stateless era.
pub fn not_allowed() -> Response {
    let mut res = McpError::new(
        ErrorKind::BadRequest,
        "Method Not Allowed: a 2026-07-28 client only POSTs (there is no session stream to GET or DELETE)",
    )
    .into_response();
    *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    res
}
