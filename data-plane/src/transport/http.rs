//! What every HTTP transport shares: reading the body, checking its type,
//! telling malformed JSON from a non-message, answering JSON.

use axum::{
    body::Bytes,
    extract::rejection::BytesRejection,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::de::IgnoredAny;

use crate::{
    Gateway,
    error::{ErrorKind, McpError},
};

/// The request body, or 413 past the limit.
pub fn read_body(gw: &Gateway, body: Result<Bytes, BytesRejection>) -> Result<Bytes, McpError> {
    body.map_err(|r| match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => McpError::new(
            ErrorKind::PayloadTooLarge,
            format!(
                "Request body is larger than this gateway's limit of {} bytes",
                gw.limits.max_body_bytes
            ),
        ),
        _ => McpError::new(
            ErrorKind::BadRequest,
            format!("Could not read the request body: {}", r.body_text()),
        ),
    })
}

pub fn check_content_type(headers: &HeaderMap) -> Result<(), McpError> {
    let ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    if ok {
        Ok(())
    } else {
        Err(McpError::new(
            ErrorKind::UnsupportedMediaType,
            "Content-Type must be application/json",
        ))
    }
}

/// The chain of gateways the request names in its
/// [`crate::protocol::VIA_HEADER`], for [`crate::jsonrpc::Envelope::via`].
pub fn via_header(headers: &HeaderMap) -> Result<Option<&str>, McpError> {
    headers
        .get(crate::protocol::VIA_HEADER)
        .map(|v| {
            v.to_str().map_err(|_| {
                McpError::new(
                    ErrorKind::BadRequest,
                    "The Mcpgw-Via header must be a comma-separated list of gateway ids (visible ASCII)",
                )
            })
        })
        .transpose()
}

/// The message of a POST body, with the chain of gateways its request
/// names ([`via_header`]) and its trace context ([`carry_trace`]).
pub fn envelope<'a>(headers: &'a HeaderMap, body: &'a [u8]) -> Result<crate::jsonrpc::Envelope<'a>, McpError> {
    let mut env = crate::jsonrpc::Envelope::parse(body)
        .map_err(|e| not_a_message(body, &format!("Invalid JSON-RPC message: {e}")))?;
    env.via = via_header(headers).map_err(|e| e.with_id(env.id))?;
    carry_trace(headers, &mut env);
    Ok(env)
}

/// Gives `env` the request's `traceparent` and `tracestate` headers, while
/// tracing is on (a header that is not text is no context).
pub fn carry_trace<'a>(headers: &'a HeaderMap, env: &mut crate::jsonrpc::Envelope<'a>) {
    if crate::telemetry::on() {
        let text = |name| headers.get(name).and_then(|v: &http::HeaderValue| v.to_str().ok());
        env.traceparent = text("traceparent");
        env.tracestate = text("tracestate");
    }
}

/// The last message of a streamed answer, for a transport that answers
/// with one JSON message (earlier ones, progress and logs, are dropped
/// as they come); an error naming request `id` if the stream ended
/// without one.
pub async fn last_message<T>(
    messages: impl futures::Stream<Item = T>,
    id: Option<&serde_json::value::RawValue>,
) -> Result<T, McpError> {
    use futures::StreamExt;
    messages
        .fold(None, |_, m| std::future::ready(Some(m)))
        .await
        .ok_or_else(|| {
            McpError::new(
                ErrorKind::BackendUnavailable,
                "The backend ended its answer without a response",
            )
            .with_id(id)
        })
}

/// -32600 for valid JSON that is not a JSON-RPC message, -32700 for
/// anything that is not JSON at all.
pub fn not_a_message(body: &[u8], why: &str) -> McpError {
    match serde_json::from_slice::<IgnoredAny>(body) {
        Ok(_) => McpError::new(ErrorKind::InvalidRequest, why),
        Err(e) => parse_error(e),
    }
}

pub fn parse_error(e: serde_json::Error) -> McpError {
    McpError::new(
        ErrorKind::Parse,
        format!("Parse error: the body is not valid JSON ({e})"),
    )
}

pub fn json(body: Vec<u8>) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response()
}
