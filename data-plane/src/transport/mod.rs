//! Client-facing transports. Each turns its framing into envelopes and hands
//! them to [`crate::dispatch`]; none routes on its own.

mod connection;
mod http;
mod origin;
mod rpc;
mod scope;
mod sse;
mod streamable;
mod ws;

pub use sse::SseStreams;

use std::sync::Arc;

use axum::{
    Router,
    extract::{DefaultBodyLimit, State},
    http::StatusCode,
    routing::get,
};

use crate::Gateway;

/// The data plane's HTTP surface.
pub fn router(gw: Arc<Gateway>) -> Router {
    // The same endpoints serve the whole gateway and each virtual server.
    let endpoints = Router::new()
        .route(
            "/mcp",
            axum::routing::post(streamable::post)
                .get(streamable::get)
                .delete(streamable::delete),
        )
        .route("/rpc", axum::routing::post(rpc::post))
        .route("/ws", get(ws::upgrade))
        .route("/sse", get(sse::open))
        .route("/message", axum::routing::post(sse::message));
    let mcp = Router::new()
        .merge(endpoints.clone())
        .nest("/servers/{server}", endpoints)
        // Every MCP endpoint, whatever its transport, checks Origin first.
        .layer(axum::middleware::from_fn_with_state(gw.clone(), origin::check));
    Router::new()
        .merge(mcp)
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(ready))
        // Bodies past the limit are refused with 413 by the body extractor.
        .layer(DefaultBodyLimit::max(gw.limits.max_body_bytes))
        .with_state(gw)
}

/// Ready once a config from a control plane has been applied.
async fn ready(State(gw): State<Arc<Gateway>>) -> (StatusCode, String) {
    let snap = gw.snapshot.load();
    if snap.applied {
        (StatusCode::OK, format!("ready: config version {}", snap.version))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no config from a control plane yet".into(),
        )
    }
}
