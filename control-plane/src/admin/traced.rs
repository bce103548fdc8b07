//! A span for every admin call, gRPC or REST: a child of the trace context
//! its caller sent (`traceparent`), ended when its answer's headers go.
//! Discovery and config pushes run in spans of their own
//! (`discovery`, `distribute`).

use axum::{extract::Request, middleware::Next, response::Response};
use mcpgw_data_plane::telemetry::{self, context::Carried, spans};
use tracing::Instrument;

/// The gRPC methods that are admin calls (not the config stream, health or
/// reflection, which have their own spans or need none).
const ADMIN_GRPC: &str = "/mcpgw.v1.RegistryService/";

/// Runs the request in its admin span (only while tracing is on).
pub async fn admin_span(req: Request, next: Next) -> Response {
    if !telemetry::on() {
        return next.run(req).await;
    }
    let Some(span) = span_of(&req) else {
        return next.run(req).await;
    };
    let res = next.run(req).instrument(span.clone()).await;
    let grpc_failed = res.headers().get("grpc-status").is_some_and(|s| s.as_bytes() != b"0");
    let status = res.status();
    spans::admin_answered(&span, status.as_u16(), grpc_failed || !status.is_success());
    res
}

/// The admin span of `req`; `None` for a gRPC call that is not an admin
/// call.
fn span_of(req: &Request) -> Option<tracing::Span> {
    let path = req.uri().path();
    let grpc = path.starts_with(ADMIN_GRPC);
    let is_grpc = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"application/grpc"));
    if is_grpc && !grpc {
        return None;
    }
    // A REST call is named by its route (`/gateways/{id}`), not by the
    // ids in its path.
    let name = match grpc {
        true => path.trim_start_matches('/').to_owned(),
        false => match req.extensions().get::<axum::extract::MatchedPath>() {
            Some(route) => format!("{} {}", req.method(), route.as_str()),
            None => req.method().to_string(),
        },
    };
    let text = |name| {
        req.headers()
            .get(name)
            .and_then(|v: &http::HeaderValue| v.to_str().ok())
    };
    Some(spans::admin(
        &name,
        if grpc { "grpc" } else { "http" },
        Carried {
            traceparent: text("traceparent"),
            tracestate: text("tracestate"),
        },
    ))
}
