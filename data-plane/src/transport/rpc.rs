//! JSON-RPC over plain HTTP at `POST /rpc`, the shape Context Forge serves
//! for scripts: one message per POST and one JSON answer, no MCP session (the
//! bearer token is the caller). A backend's streamed answer is collapsed to
//! its final response.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};

use super::{
    connection,
    http::{check_content_type, envelope, json, last_message, not_a_message, read_body},
    scope::Scope,
};
use crate::{Gateway, dispatch::Reply, error::McpError};

pub async fn post(
    State(gw): State<Arc<Gateway>>,
    scope: Scope,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    handle(&gw, scope, &headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn handle(
    gw: &Arc<Gateway>,
    scope: Scope,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, McpError> {
    let body = read_body(gw, body)?;
    check_content_type(headers)?;
    let principal = gw.auth.authenticate(headers)?;
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(not_a_message(
            &body,
            "/rpc takes one JSON-RPC message (a JSON object) per request",
        ));
    }
    if crate::stateless::is_stateless(headers, &body) {
        return super::stateless::post(gw, &scope, headers, principal, &body, super::stateless::Framing::Json).await;
    }
    let env = envelope(headers, &body)?;
    // The handshake's result, for clients that send one; /rpc keeps no session.
    Ok(match connection::Conn::new(principal, scope).answer(gw, &env).await? {
        Reply::Message(m) => json(m),
        Reply::Accepted => StatusCode::ACCEPTED.into_response(),
        Reply::Stream(messages) => match last_message(messages, env.id).await {
            Ok(last) => json(last),
            Err(e) => e.into_response(),
        },
    })
}
