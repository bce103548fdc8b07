//! The REST admin API in Context Forge's shapes: `/tools`, `/prompts`,
//! `/resources`, `/servers`, `/gateways` (each also under `/v1`), the
//! `/protocol` endpoints and `/version`, so curl scripts written for
//! Context Forge keep working. Each handler translates the request into
//! the gRPC API's message and calls the same implementation the gRPC
//! service runs: one set of rules behind gRPC, REST and the CLI.
//!
//! Errors are JSON: `{"detail": …}` with 401, 404, 409, 400 or 422 (a body
//! that does not parse names the field), as Context Forge answers them.

mod gateways;
mod items;
mod protocol;
mod servers;
mod transfer;

use std::sync::Arc;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{auth::AdminAuth, cf::ShapeError, grpc::RegistryApi};

/// What every handler holds.
#[derive(Clone)]
pub struct Rest {
    api: Arc<RegistryApi>,
}

/// The REST API's routes (authenticated with `auth`), served beside the MCP
/// endpoints and the gRPC APIs on one port.
pub fn router(api: Arc<RegistryApi>, auth: AdminAuth) -> Router {
    let routes = Router::new()
        .route("/tools", get(items::list_tools).post(items::create_tool))
        .route(
            "/tools/{id}",
            get(items::get_tool).put(items::update_tool).delete(items::delete_tool),
        )
        .route("/tools/{id}/state", post(items::toggle_tool))
        .route("/tools/{id}/toggle", post(items::toggle_tool))
        .route("/prompts", get(items::list_prompts).post(items::create_prompt))
        .route(
            "/prompts/{id}",
            get(items::get_prompt)
                .post(items::render_prompt)
                .put(items::update_prompt)
                .delete(items::delete_prompt),
        )
        .route("/prompts/{id}/state", post(items::toggle_prompt))
        .route("/prompts/{id}/toggle", post(items::toggle_prompt))
        .route("/resources", get(items::list_resources).post(items::create_resource))
        .route(
            "/resources/{id}",
            get(items::read_resource)
                .put(items::update_resource)
                .delete(items::delete_resource),
        )
        .route("/resources/{id}/info", get(items::get_resource))
        .route("/resources/{id}/state", post(items::toggle_resource))
        .route("/resources/{id}/toggle", post(items::toggle_resource))
        .route("/servers", get(servers::list).post(servers::create))
        .route(
            "/servers/{server}",
            get(servers::get).put(servers::update).delete(servers::delete),
        )
        .route("/servers/{server}/state", post(servers::toggle))
        .route("/servers/{server}/toggle", post(servers::toggle))
        .route("/gateways", get(gateways::list).post(gateways::create))
        .route(
            "/gateways/{id}",
            get(gateways::get).put(gateways::update).delete(gateways::delete),
        )
        .route("/gateways/{id}/state", post(gateways::toggle))
        .route("/gateways/{id}/toggle", post(gateways::toggle))
        .route("/protocol/initialize", post(protocol::initialize))
        .route("/protocol/ping", post(protocol::ping))
        .route("/version", get(protocol::version))
        .route("/export", get(transfer::export))
        .route(
            "/import",
            // A registry with gRPC descriptors and OpenAPI-made tools is
            // larger than the default limit allows.
            post(transfer::import).layer(axum::extract::DefaultBodyLimit::max(super::transfer::MAX_DOCUMENT)),
        );
    Router::new()
        .merge(routes.clone())
        .nest("/v1", routes)
        .layer(axum::middleware::from_fn_with_state(auth, authenticate))
        .with_state(Rest { api })
}

/// Every route needs the admin credentials (Basic or a JWT bearer).
async fn authenticate(State(auth): State<AdminAuth>, req: Request, next: Next) -> Response {
    let header = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match auth.check(header) {
        Ok(_) => next.run(req).await,
        Err(e) => {
            let mut res = (StatusCode::UNAUTHORIZED, Json(json!({"detail": e.message()}))).into_response();
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="mcpgw", Bearer"#),
            );
            res
        }
    }
}

/// An error as Context Forge words it: a status and `{"detail": …}`.
#[derive(Debug)]
pub struct ApiError(StatusCode, Value);

impl ApiError {
    fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self(status, json!({"detail": detail.into()}))
    }

    fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, what)
    }

    fn bad_request(what: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, what)
    }

    /// A body that does not fit: FastAPI's 422 shape, naming the field.
    fn invalid_body(field: Option<&str>, msg: impl Into<String>) -> Self {
        let mut loc = vec![json!("body")];
        loc.extend(field.map(|f| json!(f)));
        Self(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"detail": [{"type": "value_error", "loc": loc, "msg": msg.into()}]}),
        )
    }

    /// Context Forge's own body for some errors (`{"message": …}`).
    fn message(status: StatusCode, msg: impl Into<String>) -> Self {
        Self(status, json!({"message": msg.into()}))
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

pub type ApiResult<T = Json<Value>> = Result<T, ApiError>;

/// A JSON body as `T`, or a 422 naming what is wrong. `wrapper` is the key
/// Context Forge's create endpoints nest the object under (`{"tool": …}`);
/// the object is taken either way.
fn body<T: DeserializeOwned>(bytes: &Bytes, wrapper: Option<&str>) -> Result<T, ApiError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid_body(None, format!("the body is not JSON: {e}")))?;
    let value = match (wrapper, value) {
        (Some(w), Value::Object(mut o)) if o.get(w).is_some_and(Value::is_object) => o.remove(w).expect("checked"),
        (_, v @ Value::Object(_)) => v,
        _ => return Err(ApiError::invalid_body(None, "the body must be a JSON object")),
    };
    serde_json::from_value(value).map_err(|e| {
        let msg = e.to_string();
        // serde names a missing or mistyped field in backticks.
        let field = msg.split('`').nth(1).map(str::to_owned);
        ApiError::invalid_body(field.as_deref(), msg)
    })
}
