//! MCP Streamable HTTP at `/mcp` (2025-03-26 and later; 2024-11-05 clients
//! that POST get the same handling).

use std::{convert::Infallible, sync::Arc};

use axum::{
    body::{Body, Bytes},
    extract::{State, rejection::BytesRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use serde_json::value::RawValue;

use super::{
    http::{check_content_type, json, not_a_message, parse_error, read_body},
    scope::Scope,
};
use crate::{
    Gateway,
    auth::Principal,
    dispatch::{self, Reply},
    error::{ErrorKind, McpError},
    jsonrpc::{Envelope, Message},
    protocol::ProtocolVersion,
    session::Session,
    upstream::sse::write_event,
};

const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";

pub async fn post(
    State(gw): State<Arc<Gateway>>,
    scope: Scope,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    post_inner(&gw, &scope, &headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn post_inner(
    gw: &Arc<Gateway>,
    scope: &Scope,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, McpError> {
    let body = read_body(gw, body)?;
    check_content_type(headers)?;
    check_accept(headers)?;
    let principal = gw.auth.authenticate(headers)?;
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => single(gw, scope, headers, principal, &body).await,
        Some(b'[') => batch(gw, scope, headers, principal, &body).await,
        _ => Err(not_a_message(
            &body,
            "The body must be a JSON-RPC message (a JSON object)",
        )),
    }
}

async fn single(
    gw: &Arc<Gateway>,
    scope: &Scope,
    headers: &HeaderMap,
    principal: Principal,
    body: &[u8],
) -> Result<Response, McpError> {
    let env = Envelope::parse(body).map_err(|e| not_a_message(body, &format!("Invalid JSON-RPC message: {e}")))?;
    if env.method.as_deref() == Some("initialize") {
        let Ok(Message::Request { id, .. }) = env.classify() else {
            return Err(McpError::new(
                ErrorKind::InvalidRequest,
                "initialize must be a JSON-RPC request with an id",
            )
            .with_id(env.id));
        };
        let (msg, _, session_id) = dispatch::initialize(gw, principal, scope.0.clone(), id, env.params)?;
        let mut res = json(msg);
        res.headers_mut().insert(
            SESSION_HEADER,
            HeaderValue::from_str(&session_id).expect("session ids are base64url"),
        );
        return Ok(res);
    }
    let session = session(gw, scope, headers, &principal).map_err(|e| e.with_id(env.id))?;
    Ok(reply(dispatch::handle(gw, &session, &env).await?))
}

/// JSON-RPC batches, which only 2025-03-26 has.
async fn batch(
    gw: &Arc<Gateway>,
    scope: &Scope,
    headers: &HeaderMap,
    principal: Principal,
    body: &[u8],
) -> Result<Response, McpError> {
    let session = session(gw, scope, headers, &principal)?;
    if !session.protocol_version.allows_batches() {
        return Err(McpError::new(
            ErrorKind::InvalidRequest,
            format!(
                "JSON-RPC batches are not part of MCP {}; send one message per POST (only 2025-03-26 has batches)",
                session.protocol_version
            ),
        ));
    }
    let items: Vec<&RawValue> = serde_json::from_slice(body).map_err(parse_error)?;
    if items.is_empty() {
        return Err(McpError::new(
            ErrorKind::InvalidRequest,
            "An empty JSON-RPC batch is invalid",
        ));
    }
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(items.len());
    for item in items {
        let answer = match Envelope::parse(item.get().as_bytes()) {
            Err(_) => Err(McpError::new(
                ErrorKind::InvalidRequest,
                "Every batch member must be a JSON-RPC message object",
            )),
            Ok(env) if env.method.as_deref() == Some("initialize") => {
                Err(McpError::new(ErrorKind::InvalidRequest, "initialize must not be part of a batch").with_id(env.id))
            }
            Ok(env) => dispatch::handle(gw, &session, &env).await,
        };
        match answer {
            Ok(Reply::Message(m)) => out.push(m),
            Ok(Reply::Accepted) => {}
            // Within a JSON batch answer only the response itself can be sent.
            Ok(Reply::Stream(s)) => out.extend(s.collect::<Vec<_>>().await.pop()),
            Err(e) => out.push(e.body()),
        }
    }
    if out.is_empty() {
        return Ok(StatusCode::ACCEPTED.into_response());
    }
    let mut joined = Vec::with_capacity(out.iter().map(|m| m.len() + 1).sum::<usize>() + 1);
    joined.push(b'[');
    for (i, m) in out.iter().enumerate() {
        if i > 0 {
            joined.push(b',');
        }
        joined.extend_from_slice(m);
    }
    joined.push(b']');
    Ok(json(joined))
}

/// `GET /mcp`: this gateway offers no standalone stream yet, which the spec
/// allows with 405.
/// `GET /mcp`: the session's standalone stream, where what belongs to no
/// request arrives: `list_changed` when a new config changes what the
/// session lists. It lives on the node that serves it; any node can serve
/// it, since every node applies every config.
pub async fn get(State(gw): State<Arc<Gateway>>, scope: Scope, headers: HeaderMap) -> Response {
    let opened = gw
        .auth
        .authenticate(&headers)
        .and_then(|p| session(&gw, &scope, &headers, &p));
    let session = match opened {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let accepts = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|a| a.contains("text/event-stream") || a.contains("*/*"));
    if !accepts {
        return McpError::new(
            ErrorKind::NotAcceptable,
            "GET /mcp opens an event stream: Accept must list text/event-stream",
        )
        .into_response();
    }
    reply(Reply::Stream(dispatch::session_events(&gw, &session)))
}

/// `DELETE /mcp` ends the session.
pub async fn delete(State(gw): State<Arc<Gateway>>, scope: Scope, headers: HeaderMap) -> Response {
    let ended = gw
        .auth
        .authenticate(&headers)
        .and_then(|p| session(&gw, &scope, &headers, &p));
    match ended {
        Ok(s) => {
            gw.sessions.delete(&s);
            gw.subscriptions.end(s.key);
            StatusCode::OK.into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// The caller's session, checked against the caller and the version header.
fn session(gw: &Gateway, scope: &Scope, headers: &HeaderMap, principal: &Principal) -> Result<Session, McpError> {
    let id = headers.get(SESSION_HEADER).ok_or_else(|| {
        McpError::new(
            ErrorKind::BadRequest,
            "Missing Mcp-Session-Id header: send initialize first, then echo the Mcp-Session-Id it returns on every request",
        )
    })?;
    let id = id
        .to_str()
        .map_err(|_| McpError::new(ErrorKind::SessionNotFound, "Unknown session id"))?;
    let session = gw
        .sessions
        .open(id)
        .map_err(|e| McpError::new(ErrorKind::SessionNotFound, e.to_string()))?;
    if session.server != scope.0 {
        return Err(McpError::new(
            ErrorKind::SessionNotFound,
            "This session was opened on another endpoint of the gateway; initialize a new one here",
        ));
    }
    if session.principal != *principal {
        return Err(McpError::new(
            ErrorKind::Unauthorized,
            "This session was started by another user; initialize a new one",
        ));
    }
    // A supported version other than the negotiated one is accepted, as the
    // official SDKs do (their clients send the header from their own default
    // in places); the session keeps its negotiated version.
    if let Some(v) = headers.get(VERSION_HEADER) {
        let v = v.to_str().unwrap_or("<not ASCII>");
        if ProtocolVersion::parse(v).is_none() {
            return Err(McpError::new(
                ErrorKind::BadRequest,
                format!(
                    "Unsupported MCP-Protocol-Version {v:?}; this gateway speaks {}",
                    ProtocolVersion::supported_list()
                ),
            ));
        }
    }
    Ok(session)
}

fn check_accept(headers: &HeaderMap) -> Result<(), McpError> {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let has = |t: &str| {
        accept
            .split(',')
            .any(|a| a.split(';').next().is_some_and(|m| m.trim() == t || m.trim() == "*/*"))
    };
    if has("application/json") && has("text/event-stream") {
        Ok(())
    } else {
        Err(McpError::new(
            ErrorKind::NotAcceptable,
            "Accept must list both application/json and text/event-stream",
        ))
    }
}

fn reply(reply: Reply) -> Response {
    match reply {
        Reply::Message(m) => json(m),
        Reply::Accepted => StatusCode::ACCEPTED.into_response(),
        Reply::Stream(messages) => {
            // Messages that are ready together go out as one write.
            let events = messages.ready_chunks(64).map(|batch| {
                let mut frame = Vec::with_capacity(batch.iter().map(|m| m.len() + 24).sum());
                for m in &batch {
                    write_event(
                        &mut frame,
                        Some("message"),
                        None,
                        std::str::from_utf8(m).unwrap_or_default(),
                    );
                }
                Ok::<_, Infallible>(Bytes::from(frame))
            });
            (
                [
                    (header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
                    (
                        header::HeaderName::from_static("x-accel-buffering"),
                        HeaderValue::from_static("no"),
                    ),
                ],
                Body::from_stream(events),
            )
                .into_response()
        }
    }
}
