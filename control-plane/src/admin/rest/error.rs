//! Errors as Context Forge answers them: a status and a JSON body,
//! `{"detail": …}`, FastAPI's 422 list naming the field, or
//! `{"message": …}`. Every error the REST API answers is one of these,
//! axum's own rejections (a query that does not parse, a body over the
//! limit, a method a path does not have) included: `json_errors` rewrites
//! those, so a client parses one shape and the OpenAPI document is true.

use axum::{
    Json,
    body::Body,
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::{IntoResponses, ToSchema};

use crate::admin::cf::ShapeError;

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ErrorBody {
    /// `{"detail": "…"}`.
    Detail { detail: String },
    /// A body that does not fit: what is wrong, and where.
    Invalid { detail: Vec<FieldError> },
    /// `{"message": "…"}`, Context Forge's shape for gateway and prompt
    /// errors.
    Message { message: String },
}

/// What every operation answers when it refuses, described once for the
/// OpenAPI document (`responses(..., Refused)`).
#[derive(Debug, IntoResponses)]
#[response(
    status = "4XX",
    description = "Refused, and nothing changed: 400 a request this gateway does not do, 401 no or wrong credentials, 404 not found, 409 a name taken, 422 a field that does not fit"
)]
pub struct Refused(pub ErrorBody);

/// One problem with a request body, as FastAPI reports it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldError {
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `["body"]`, or `["body", "<field>"]`.
    pub loc: Vec<String>,
    pub msg: String,
}

/// An error answer: a status and its body.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub ErrorBody);

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self(status, ErrorBody::Detail { detail: detail.into() })
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, what)
    }

    pub fn bad_request(what: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, what)
    }

    /// A body that does not fit: FastAPI's 422 shape, naming the field.
    pub fn invalid_body(field: Option<&str>, msg: impl Into<String>) -> Self {
        let mut loc = vec!["body".to_owned()];
        loc.extend(field.map(str::to_owned));
        Self(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorBody::Invalid {
                detail: vec![FieldError {
                    kind: "value_error",
                    loc,
                    msg: msg.into(),
                }],
            },
        )
    }

    /// Context Forge's own body for some errors (`{"message": …}`).
    pub fn message(status: StatusCode, msg: impl Into<String>) -> Self {
        Self(status, ErrorBody::Message { message: msg.into() })
    }

    /// The same error worded as `{"message": …}`.
    pub fn as_message(self) -> Self {
        let text = match self.1 {
            ErrorBody::Detail { detail } => detail,
            ErrorBody::Message { message } => message,
            ErrorBody::Invalid { detail } => return Self(self.0, ErrorBody::Invalid { detail }),
        };
        Self::message(self.0, text)
    }
}

impl From<tonic::Status> for ApiError {
    fn from(s: tonic::Status) -> Self {
        use tonic::Code;
        let status = match s.code() {
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::AlreadyExists => StatusCode::CONFLICT,
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => StatusCode::BAD_REQUEST,
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::PermissionDenied => StatusCode::FORBIDDEN,
            Code::Unavailable | Code::DeadlineExceeded => StatusCode::BAD_GATEWAY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, s.message())
    }
}

impl From<ShapeError> for ApiError {
    fn from(e: ShapeError) -> Self {
        match e {
            ShapeError::BadRequest(m) => Self::bad_request(m),
            ShapeError::Invalid { field, msg } => Self::invalid_body(field.as_deref(), msg),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

/// The longest error text of axum's kept when it is rewritten as JSON.
const MAX_REWRITTEN: usize = 4096;

/// Rewrites an error answer that is not JSON (axum's rejections: plain
/// text, or empty) as `{"detail": …}`, keeping its status and headers.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let text = match axum::body::to_bytes(body, MAX_REWRITTEN).await {
        Ok(b) if !b.is_empty() => String::from_utf8_lossy(&b).into_owned(),
        _ => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    let json = serde_json::to_vec(&ErrorBody::Detail { detail: text }).expect("an error body serializes");
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(json))
}
