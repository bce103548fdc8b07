//! The spans of the request path, named and attributed after OpenTelemetry's
//! MCP conventions (`mcp.method.name`, `gen_ai.tool.name`, …) with the
//! gateway's own beside them (`mcpgw.backend`, `mcpgw.server`,
//! `mcpgw.outcome`). Each is [`Span::none`] when tracing is off, which
//! costs nothing to enter, record or drop.

use opentelemetry::{
    KeyValue,
    trace::{Status, TraceContextExt},
};
use serde_json::value::RawValue;
use tracing::{Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::context::{self, Carried};

/// What the request span says of the caller.
pub struct Caller<'a> {
    pub protocol_version: &'static str,
    /// The virtual server the request goes through, if any.
    pub server: Option<&'a str>,
    pub principal: &'a str,
}

/// The span of one MCP request from a client: a child of the context the
/// client sent (see [`context::parent`]). Its attributes go straight onto
/// the OpenTelemetry span, not through `tracing` fields (which every layer
/// would format); the one field is `trace_id`, for log lines.
pub fn request(method: &str, params: Option<&RawValue>, headers: Carried<'_>, caller: &Caller<'_>) -> Span {
    if !super::on() {
        return Span::none();
    }
    let span = tracing::info_span!(
        "mcp.request",
        otel.name = method,
        otel.kind = "server",
        trace_id = Empty
    );
    let _ = span.set_parent(context::parent(params, headers));
    let cx = span.context();
    let otel = cx.span();
    let mut attributes = vec![
        KeyValue::new("mcp.method.name", method.to_owned()),
        KeyValue::new("mcp.protocol.version", caller.protocol_version),
        KeyValue::new("enduser.id", caller.principal.to_owned()),
    ];
    if let Some(server) = caller.server {
        attributes.push(KeyValue::new("mcpgw.server", server.to_owned()));
    }
    otel.set_attributes(attributes);
    span.record("trace_id", tracing::field::display(otel.span_context().trace_id()));
    span
}

/// Names what a routed request goes to on `span`: the backend `backend`,
/// and the `target` of a `kind` of `tool`, `prompt` or `resource` (its
/// URI); any other kind names no target.
pub fn routed(span: &Span, backend: &str, kind: &str, target: &str) {
    if span.is_none() {
        return;
    }
    let cx = span.context();
    let otel = cx.span();
    otel.set_attribute(KeyValue::new("mcpgw.backend", backend.to_owned()));
    // A tool or prompt call is named by what it calls, as the MCP
    // conventions do (a URI, which a client may make up, stays out of the
    // name).
    let (key, renamed) = match kind {
        "tool" => ("gen_ai.tool.name", Some("tools/call")),
        "prompt" => ("gen_ai.prompt.name", Some("prompts/get")),
        "resource" => ("mcp.resource.uri", None),
        _ => return,
    };
    otel.set_attribute(KeyValue::new(key, target.to_owned()));
    if let Some(method) = renamed {
        otel.update_name(format!("{method} {target}"));
    }
}

/// Ends the story of `span` with `outcome` (`ok`, or an error's label).
pub fn finished(span: &Span, outcome: &'static str) {
    if span.is_none() {
        return;
    }
    let cx = span.context();
    let otel = cx.span();
    otel.set_attribute(KeyValue::new("mcpgw.outcome", outcome));
    match outcome {
        "ok" => otel.set_status(Status::Ok),
        _ => {
            otel.set_attribute(KeyValue::new("error.type", outcome));
            otel.set_status(Status::error(outcome));
        }
    }
}

/// The span of one request to a backend, a child of the current one (the
/// request's), whose context the backend is given.
pub fn upstream(backend: &str, method: &str) -> Span {
    if !super::on() {
        return Span::none();
    }
    let span = tracing::info_span!(
        "mcp.upstream",
        otel.name = format!("{method} {backend}"),
        otel.kind = "client"
    );
    let cx = span.context();
    cx.span().set_attributes([
        KeyValue::new("mcp.method.name", method.to_owned()),
        KeyValue::new("mcpgw.backend", backend.to_owned()),
    ]);
    span
}

/// The span of one call of the control plane's admin APIs (`name` is the
/// gRPC method's path, or the REST method and route), a child of the
/// context its caller's `headers` carry.
pub fn admin(name: &str, protocol: &'static str, headers: Carried<'_>) -> Span {
    if !super::on() {
        return Span::none();
    }
    let span = tracing::info_span!(
        "admin",
        otel.name = name,
        otel.kind = "server",
        otel.status_code = Empty,
        "rpc.system" = protocol,
        "http.response.status_code" = Empty,
    );
    let _ = span.set_parent(context::parent(None, headers));
    span
}

/// Ends an admin call's span with its HTTP status (and, for gRPC, the
/// `grpc-status` its headers carry, when not OK).
pub fn admin_answered(span: &Span, status: u16, failed: bool) {
    if span.is_none() {
        return;
    }
    span.record("http.response.status_code", status);
    span.record("otel.status_code", if failed { "error" } else { "ok" });
}
