//! MCP Streamable HTTP at `/mcp` (2025-03-26 and later; 2024-11-05 clients
//! that POST get the same handling).

use std::{convert::Infallible, sync::Arc};

use axum::{
    body::{Body, Bytes},
    extract::{State, rejection::BytesRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::{StreamExt, stream::BoxStream};
use serde_json::value::RawValue;

use super::{
    Transport,
    http::{carry_trace, check_content_type, envelope, json, not_a_message, parse_error, read_body, via_header},
    scope::Scope,
};
use crate::{
    Gateway,
    auth::Principal,
    dispatch::{self, Reply},
    error::{ErrorKind, McpError},
    fleet::Notice,
    jsonrpc::{Envelope, Message},
    protocol::ProtocolVersion,
    resume::{self, EventId, StreamId},
    session::Session,
    sse::{self, write_event},
};

const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";
const LAST_EVENT_ID: &str = "last-event-id";

pub async fn post(
    State(t): State<Transport>,
    scope: Scope,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    post_inner(&t, &scope, &headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn post_inner(
    t: &Transport,
    scope: &Scope,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, McpError> {
    let gw = &t.gw;
    let body = read_body(gw, body)?;
    check_content_type(headers)?;
    check_accept(headers)?;
    let principal = gw.auth.authenticate(headers)?;
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') if crate::stateless::is_stateless(headers, &body) => {
            super::stateless::post(
                &t.gw,
                scope,
                headers,
                principal,
                &body,
                super::stateless::Framing::Events,
            )
            .await
        }
        Some(b'{') => single(t, scope, headers, principal, &body).await,
        Some(b'[') => batch(t, scope, headers, principal, &body).await,
        _ => Err(not_a_message(
            &body,
            "The body must be a JSON-RPC message (a JSON object)",
        )),
    }
}

async fn single(
    t: &Transport,
    scope: &Scope,
    headers: &HeaderMap,
    principal: Principal,
    body: &[u8],
) -> Result<Response, McpError> {
    let gw = &t.gw;
    let env = envelope(headers, body)?;
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
    Ok(reply(t, &session, dispatch::handle(gw, &session, &env).await?))
}

/// JSON-RPC batches, which only 2025-03-26 has.
async fn batch(
    t: &Transport,
    scope: &Scope,
    headers: &HeaderMap,
    principal: Principal,
    body: &[u8],
) -> Result<Response, McpError> {
    let gw = &t.gw;
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
    let via = via_header(headers)?;
    let items: Vec<&RawValue> = serde_json::from_slice(body).map_err(parse_error)?;
    if items.is_empty() {
        return Err(McpError::new(
            ErrorKind::InvalidRequest,
            "An empty JSON-RPC batch is invalid",
        ));
    }
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(items.len());
    let mut streamed = Vec::new();
    for item in items {
        let answer = match Envelope::parse(item.get().as_bytes()) {
            Err(_) => Err(McpError::new(
                ErrorKind::InvalidRequest,
                "Every batch member must be a JSON-RPC message object",
            )),
            Ok(env) if env.method.as_deref() == Some("initialize") => {
                Err(McpError::new(ErrorKind::InvalidRequest, "initialize must not be part of a batch").with_id(env.id))
            }
            Ok(mut env) => {
                env.via = via;
                carry_trace(headers, &mut env);
                dispatch::handle(gw, &session, &env).await
            }
        };
        match answer {
            Ok(Reply::Message(m)) => out.push(m),
            Ok(Reply::Accepted) => {}
            Ok(Reply::Stream(s)) => streamed.push(s),
            Err(e) => out.push(e.body()),
        }
    }
    // A member answered as a stream (progress, a request for the client)
    // makes the whole answer an event stream: the ready answers first, then
    // the streams' messages as they come.
    if !streamed.is_empty() {
        let all = futures::stream::iter(out).chain(futures::stream::select_all(streamed));
        return Ok(reply(t, &session, Reply::Stream(all.boxed())));
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

/// `GET /mcp`: the session's standalone stream, where what belongs to no
/// request arrives (`list_changed` when a new config changes what the
/// session lists, resource updates). With `Last-Event-ID`, it resumes a
/// call's stream instead (see [`crate::resume`]).
pub async fn get(State(t): State<Transport>, scope: Scope, headers: HeaderMap) -> Response {
    get_inner(&t, &scope, &headers)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn get_inner(t: &Transport, scope: &Scope, headers: &HeaderMap) -> Result<Response, McpError> {
    if crate::stateless::says_stateless(headers) {
        return Ok(super::stateless::not_allowed());
    }
    let gw = &t.gw;
    let principal = gw.auth.authenticate(headers)?;
    let session = session(gw, scope, headers, &principal)?;
    let accepts = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|a| a.contains("text/event-stream") || a.contains("*/*"));
    if !accepts {
        return Err(McpError::new(
            ErrorKind::NotAcceptable,
            "GET /mcp opens an event stream: Accept must list text/event-stream",
        ));
    }
    let last = headers
        .get(LAST_EVENT_ID)
        .map(|v| {
            v.to_str().ok().and_then(EventId::parse).ok_or_else(|| {
                McpError::new(
                    ErrorKind::BadRequest,
                    "Last-Event-ID is not an event id this gateway sent (they look like c0123456789abcdef-4)",
                )
            })
        })
        .transpose()?;
    let events = match last {
        Some(EventId {
            stream: StreamId::Call(stream),
            seq,
        }) => match t.resumable.resume(session.key, stream, seq)? {
            Some(here) => here,
            // Another node may be relaying it.
            None if gw.fleet.is_shared() => {
                resume::remote::follow(&gw.fleet, gw.limits.resume_window, session.key, stream, seq).await?
            }
            None => return Err(resume::Streams::unknown()),
        },
        // The standalone stream is not logged: a resumed one says that
        // every list may have changed, since the client may have missed it.
        Some(EventId {
            stream: StreamId::Standalone(_),
            ..
        }) => standalone(
            gw,
            &session,
            futures::stream::iter(crate::config::changes::everything_changed())
                .chain(dispatch::session_events(gw, &session))
                .boxed(),
        ),
        None => standalone(gw, &session, dispatch::session_events(gw, &session)),
    };
    Ok(event_stream(gw, events))
}

/// A session's standalone stream, with event ids for clients that resume.
fn standalone(gw: &Gateway, session: &Session, messages: BoxStream<'static, Vec<u8>>) -> BoxStream<'static, Bytes> {
    let open = gw.metrics.stream(crate::metrics::StreamKind::Standalone);
    let messages = messages
        .map(move |m| {
            let _open = &open;
            m
        })
        .boxed();
    if session.protocol_version < ProtocolVersion::V2025_03_26 {
        return unnumbered(messages);
    }
    let stream = StreamId::Standalone(rand::random());
    let first = (session.protocol_version >= ProtocolVersion::V2025_11_25).then(|| resume::priming(stream));
    futures::stream::iter(first)
        .chain(messages.enumerate().map(move |(i, m)| {
            resume::frame(
                EventId {
                    stream,
                    seq: i as u64 + 1,
                },
                &m,
            )
        }))
        .boxed()
}

/// `DELETE /mcp` ends the session.
pub async fn delete(State(gw): State<Arc<Gateway>>, scope: Scope, headers: HeaderMap) -> Response {
    if crate::stateless::says_stateless(&headers) {
        return super::stateless::not_allowed();
    }
    let ended = gw
        .auth
        .authenticate(&headers)
        .and_then(|p| session(&gw, &scope, &headers, &p));
    match ended {
        Ok(s) => {
            // Refused here at once, and on every node once they hear it.
            let until = gw.sessions.delete(&s);
            dispatch::outside::session_ended(&gw, s.key);
            gw.fleet.tell(Notice::Revoke { session: s.key, until });
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

fn reply(t: &Transport, session: &Session, reply: Reply) -> Response {
    let gw = &t.gw;
    match reply {
        Reply::Message(m) => json(m),
        Reply::Accepted => StatusCode::ACCEPTED.into_response(),
        // Clients from 2025-03-26 on can resume a stream; older ones cannot,
        // and their closed stream ends the call at once.
        Reply::Stream(messages) if session.protocol_version >= ProtocolVersion::V2025_03_26 => event_stream(
            gw,
            t.resumable.call(
                session.key,
                session.protocol_version >= ProtocolVersion::V2025_11_25,
                messages,
            ),
        ),
        Reply::Stream(messages) => event_stream(gw, unnumbered(messages)),
    }
}

/// Messages as events without ids; those ready together go out as one write.
pub(super) fn unnumbered(messages: BoxStream<'static, Vec<u8>>) -> BoxStream<'static, Bytes> {
    messages
        .ready_chunks(64)
        .map(|batch| {
            let mut frame = Vec::with_capacity(batch.iter().map(|m| m.len() + 24).sum());
            for m in &batch {
                write_event(
                    &mut frame,
                    Some("message"),
                    None,
                    std::str::from_utf8(m).unwrap_or_default(),
                );
            }
            Bytes::from(frame)
        })
        .boxed()
}

/// An event-stream response, kept alive while quiet.
pub(super) fn event_stream(gw: &Gateway, events: BoxStream<'static, Bytes>) -> Response {
    let events = sse::keep_alive(events, gw.limits.sse_keepalive);
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            ),
        ],
        Body::from_stream(events.map(Ok::<_, Infallible>)),
    )
        .into_response()
}
