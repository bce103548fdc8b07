//! Every error a client can see, with its JSON-RPC code and HTTP status, in
//! one place.
//!
//! | kind | HTTP | JSON-RPC |
//! |---|---|---|
//! | malformed JSON | 400 | -32700 |
//! | not a JSON-RPC message, batch where not allowed | 400 | -32600 |
//! | unknown method | 200 | -32601 |
//! | bad params, unknown tool or prompt, bad cursor | 200 | -32602 |
//! | unknown resource URI | 200 | -32002 |
//! | the client cancelled before the backend answered | 200 | -32800 |
//! | missing session id, bad protocol-version header | 400 | -32000 |
//! | unknown, expired or deleted session; a session of another endpoint | 404 | -32001 |
//! | unknown virtual server | 404 | -32000 |
//! | missing, invalid or expired token; session of another user | 401 | -32003 |
//! | foreign `Origin` | 403 | -32004 |
//! | wrong `Accept` | 406 | -32000 |
//! | wrong `Content-Type` | 415 | -32000 |
//! | body too large | 413 | -32000 |
//! | backend unreachable or failing | 200 | -32010 |
//! | backend timed out | 200 | -32011 |
//! | backend answered something that is not MCP | 200 | -32012 |
//! | a request that already passed this gateway (a federation loop) | 200 | -32013 |
//!
//! A 2026-07-28 (stateless) request has the spec's own statuses for what is
//! wrong with its framing:
//!
//! | kind | HTTP | JSON-RPC |
//! |---|---|---|
//! | `_meta` or one of its required fields missing | 400 | -32602 |
//! | a header missing or not matching the body | 400 | -32020 |
//! | a capability the request needs that the client did not declare | 400 | -32021 (`data.requiredCapabilities`) |
//! | a protocol version not served | 400 | -32022 (`data.supported`, `data.requested`) |
//! | a method that revision does not have | 404 | -32601 |
//!
//! -32000 and -32001 follow the official TypeScript SDK so clients written
//! against it recognise them; -32003, -32004 and -32010..-32013 are mcpgw's own, inside
//! the implementation-defined range -32000..-32019 that MCP leaves free.

use axum::{
    body::Body,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::value::RawValue;

use crate::jsonrpc::json_str;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Parse,
    InvalidRequest,
    MethodNotFound,
    InvalidParams,
    ResourceNotFound,
    Cancelled,
    Internal,
    BadRequest,
    NotFound,
    SessionNotFound,
    Unauthorized,
    Forbidden,
    NotAcceptable,
    UnsupportedMediaType,
    PayloadTooLarge,
    BackendUnavailable,
    BackendTimeout,
    BackendProtocol,
    FederationLoop,
    /// 2026-07-28: `_meta` or a field it requires is missing.
    MissingMeta,
    /// 2026-07-28: a header missing or disagreeing with the body.
    HeaderMismatch,
    /// 2026-07-28: the request needs a capability the client did not declare.
    MissingCapability,
    /// 2026-07-28: a protocol version this gateway does not serve.
    UnsupportedVersion,
    /// 2026-07-28: a method that revision does not have.
    UnknownMethod,
}

impl ErrorKind {
    /// The kind's name in metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::Parse => "parse_error",
            Self::InvalidRequest => "invalid_request",
            Self::MethodNotFound => "method_not_found",
            Self::InvalidParams => "invalid_params",
            Self::ResourceNotFound => "resource_not_found",
            Self::Cancelled => "cancelled",
            Self::Internal => "internal",
            Self::BadRequest => "bad_request",
            Self::NotFound => "not_found",
            Self::SessionNotFound => "session_not_found",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotAcceptable => "not_acceptable",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge => "payload_too_large",
            Self::BackendUnavailable => "backend_unavailable",
            Self::BackendTimeout => "backend_timeout",
            Self::BackendProtocol => "backend_protocol",
            Self::FederationLoop => "federation_loop",
            Self::MissingMeta => "missing_meta",
            Self::HeaderMismatch => "header_mismatch",
            Self::MissingCapability => "missing_capability",
            Self::UnsupportedVersion => "unsupported_version",
            Self::UnknownMethod => "unknown_method",
        }
    }

    pub fn code(self) -> i32 {
        match self {
            Self::Parse => -32700,
            Self::InvalidRequest => -32600,
            Self::MethodNotFound | Self::UnknownMethod => -32601,
            Self::InvalidParams | Self::MissingMeta => -32602,
            Self::HeaderMismatch => -32020,
            Self::MissingCapability => -32021,
            Self::UnsupportedVersion => -32022,
            Self::ResourceNotFound => -32002,
            Self::Cancelled => -32800,
            Self::Internal => -32603,
            Self::BadRequest
            | Self::NotFound
            | Self::NotAcceptable
            | Self::UnsupportedMediaType
            | Self::PayloadTooLarge => -32000,
            Self::SessionNotFound => -32001,
            Self::Unauthorized => -32003,
            Self::Forbidden => -32004,
            Self::BackendUnavailable => -32010,
            Self::BackendTimeout => -32011,
            Self::BackendProtocol => -32012,
            Self::FederationLoop => -32013,
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::Parse
            | Self::InvalidRequest
            | Self::BadRequest
            | Self::MissingMeta
            | Self::HeaderMismatch
            | Self::MissingCapability
            | Self::UnsupportedVersion => StatusCode::BAD_REQUEST,
            Self::SessionNotFound | Self::NotFound | Self::UnknownMethod => StatusCode::NOT_FOUND,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            // Errors about one request travel in the JSON-RPC body of a 200.
            Self::MethodNotFound
            | Self::InvalidParams
            | Self::ResourceNotFound
            | Self::Cancelled
            | Self::Internal
            | Self::BackendUnavailable
            | Self::BackendTimeout
            | Self::BackendProtocol
            | Self::FederationLoop => StatusCode::OK,
        }
    }
}

/// An error answered to a client: kind, a message a person can act on, and the
/// id of the request it answers (null when unknown).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct McpError {
    pub kind: ErrorKind,
    pub message: String,
    pub id: Option<Box<RawValue>>,
    /// The error's `data` (raw JSON), where the spec gives one.
    pub data: Option<Box<RawValue>>,
}

impl McpError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            id: None,
            data: None,
        }
    }

    /// With `data` (JSON) as the error's data.
    pub fn with_data(mut self, data: &impl serde::Serialize) -> Self {
        self.data = serde_json::value::to_raw_value(data).ok();
        self
    }

    pub fn with_id(mut self, id: Option<&RawValue>) -> Self {
        if self.id.is_none() {
            self.id = id.map(ToOwned::to_owned);
        }
        self
    }

    /// The JSON-RPC error response body.
    pub fn body(&self) -> Vec<u8> {
        let id = self.id.as_deref().map_or("null", RawValue::get);
        format!(r#"{{"jsonrpc":"2.0","id":{id},"error":{}}}"#, self.object()).into_bytes()
    }

    /// The error object (`{"code":…,"message":…}`), raw.
    pub fn error_object(&self) -> Box<RawValue> {
        RawValue::from_string(self.object()).expect("the error object is JSON")
    }

    fn object(&self) -> String {
        let data = match &self.data {
            Some(d) => format!(r#","data":{}"#, d.get()),
            None => String::new(),
        };
        format!(
            r#"{{"code":{},"message":{}{data}}}"#,
            self.kind.code(),
            json_str(&self.message)
        )
    }
}

impl IntoResponse for McpError {
    fn into_response(self) -> Response {
        let mut res = Response::new(Body::from(self.body()));
        *res.status_mut() = self.kind.status();
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if self.kind == ErrorKind::Unauthorized {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer error="invalid_token""#),
            );
        }
        res
    }
}
