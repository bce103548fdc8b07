//! Client-facing transports. Each turns its framing into envelopes and hands
//! them to [`crate::dispatch`]; none routes on its own.

mod connection;
mod http;
mod origin;
mod rpc;
mod scope;
mod sse;
mod stateless;
mod streamable;
mod ws;

use std::sync::Arc;

use axum::{
    Router,
    extract::{DefaultBodyLimit, FromRef, State},
    http::StatusCode,
    routing::get,
};

use crate::{Gateway, resume};

/// What the transports serve from: the node's core, and what only
/// transports keep: the call streams this node relays, resumable with
/// `Last-Event-ID`, and the legacy SSE streams it holds.
#[derive(Clone)]
pub struct Transport {
    pub gw: Arc<Gateway>,
    pub resumable: Arc<resume::Streams>,
    sse: Arc<sse::SseStreams>,
    /// The path prefix the endpoints are served under (`APP_ROOT_PATH`),
    /// for the URLs the gateway tells clients (the legacy SSE endpoint).
    root: Arc<str>,
}

impl FromRef<Transport> for Arc<Gateway> {
    fn from_ref(t: &Transport) -> Self {
        t.gw.clone()
    }
}

impl Transport {
    pub fn new(gw: Arc<Gateway>) -> Self {
        Self {
            resumable: resume::Streams::new(gw.limits.resume_window),
            gw,
            sse: Default::default(),
            root: "".into(),
        }
    }

    /// The transports served under `root` (see `listen::RootArgs`).
    pub fn with_root(mut self, root: &str) -> Self {
        self.root = root.into();
        self
    }

    /// Takes no more messages for this node's legacy SSE streams: each ends
    /// once the answers in flight on it are sent.
    pub fn close_sse_streams(&self) {
        self.sse.close_all();
    }

    /// A message another node received for legacy SSE stream `key` (its
    /// id's bytes), POSTed by `principal`: answered here if this node holds
    /// the stream and it is that user's.
    pub fn deliver_forwarded(&self, key: [u8; 16], principal: &str, body: bytes::Bytes) {
        sse::deliver_forwarded(self, key, principal, body);
    }
}

/// The data plane's HTTP surface.
pub fn router(t: Transport) -> Router {
    let gw = t.gw.clone();
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
        // Alive (Context Forge's shape, which its users' probes expect).
        .route(
            "/health",
            get(|| async { axum::Json(serde_json::json!({"status": "healthy"})) }),
        )
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        // Bodies past the limit are refused with 413 by the body extractor.
        .layer(DefaultBodyLimit::max(gw.limits.max_body_bytes))
        .with_state(t)
}

/// The node's metrics, for Prometheus to scrape.
async fn metrics(State(gw): State<Arc<Gateway>>) -> impl axum::response::IntoResponse {
    let text = gw.metrics.encode(&gw.snapshot.load());
    ([(axum::http::header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text)
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
