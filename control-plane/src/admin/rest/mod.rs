//! The REST admin API in Context Forge's shapes: `/tools`, `/prompts`,
//! `/resources`, `/servers`, `/gateways` (each also under `/v1`), the
//! `/protocol` endpoints and `/version`, so curl scripts written for
//! Context Forge keep working. Each handler translates the request into
//! the gRPC API's message and calls the same implementation the gRPC
//! service runs: one set of rules behind gRPC, REST and the CLI.
//!
//! Every route is registered together with its OpenAPI description
//! (`utoipa`), so the document at `/openapi.json` and the browsable page at
//! `/docs` list exactly what is served. Errors are JSON (`error`).

mod error;
mod gateways;
mod items;
mod openapi;
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
    routing::post,
};
use serde::de::DeserializeOwned;
use serde_json::Value;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use error::{ApiError, ErrorBody, Refused};

use super::{auth::AdminAuth, grpc::RegistryApi};

/// What every handler holds.
#[derive(Clone)]
pub struct Rest {
    api: Arc<RegistryApi>,
}

/// The routes and their description, one registration each. Context
/// Forge's older `/state` spelling of `/toggle` is served but not listed.
fn described() -> OpenApiRouter<Rest> {
    use utoipa_axum::router::UtoipaMethodRouterExt;
    OpenApiRouter::with_openapi(openapi::document())
        .routes(routes!(items::list_tools, items::create_tool))
        .routes(routes!(items::get_tool, items::update_tool, items::delete_tool))
        .routes(routes!(items::toggle_tool))
        .route("/tools/{id}/state", post(items::toggle_tool))
        .routes(routes!(items::list_prompts, items::create_prompt))
        .routes(routes!(
            items::get_prompt,
            items::render_prompt,
            items::update_prompt,
            items::delete_prompt
        ))
        .routes(routes!(items::toggle_prompt))
        .route("/prompts/{id}/state", post(items::toggle_prompt))
        .routes(routes!(items::list_resources, items::create_resource))
        .routes(routes!(
            items::read_resource,
            items::update_resource,
            items::delete_resource
        ))
        .routes(routes!(items::get_resource))
        .routes(routes!(items::toggle_resource))
        .route("/resources/{id}/state", post(items::toggle_resource))
        .routes(routes!(servers::list, servers::create))
        .routes(routes!(servers::get, servers::update, servers::delete))
        .routes(routes!(servers::toggle))
        .route("/servers/{server}/state", post(servers::toggle))
        .routes(routes!(gateways::list, gateways::create))
        .routes(routes!(gateways::get, gateways::update, gateways::delete))
        .routes(routes!(gateways::toggle))
        .route("/gateways/{id}/state", post(gateways::toggle))
        .routes(routes!(gateways::offers))
        .routes(routes!(protocol::initialize))
        .routes(routes!(protocol::ping))
        .routes(routes!(protocol::version))
        .routes(routes!(transfer::export))
        // A registry with gRPC descriptors and OpenAPI-made tools is larger
        // than the default limit allows.
        .routes(routes!(transfer::import).layer(axum::extract::DefaultBodyLimit::max(super::transfer::MAX_DOCUMENT)))
}

/// The REST API's routes (authenticated with `auth`), served beside the MCP
/// endpoints and the gRPC APIs on one port, and its description
/// (`/openapi.json`, `/docs`), which needs no credentials: it holds none.
pub fn router(api: Arc<RegistryApi>, auth: AdminAuth) -> Router {
    let (routes, doc) = described().split_for_parts();
    let doc = Arc::new(doc);
    Router::new()
        .merge(routes.clone())
        .nest("/v1", routes)
        .layer(axum::middleware::from_fn_with_state(auth, authenticate))
        .with_state(Rest { api })
        .merge(openapi::router(doc))
        .layer(axum::middleware::from_fn(error::json_errors))
        .layer(axum::middleware::from_fn(super::traced::admin_span))
}

/// Every route needs the admin credentials (Basic or a JWT bearer).
async fn authenticate(State(auth): State<AdminAuth>, req: Request, next: Next) -> Response {
    let header = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match auth.check(header) {
        Ok(_) => next.run(req).await,
        Err(e) => {
            let mut res = ApiError::new(StatusCode::UNAUTHORIZED, e.message()).into_response();
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="mcpgw", Bearer"#),
            );
            res
        }
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
