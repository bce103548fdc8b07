//! OpenTelemetry traces, received by an in-test OTLP collector
//! (`mcpgw_tests::otlp`): one trace runs from the client's span through the
//! gateway's request span and its upstream span to the backend, which
//! receives the upstream span's context; the trace context comes from HTTP
//! headers or from `params._meta`; admin calls, discovery and config
//! pushes have spans of the control plane; log lines inside a request name
//! its trace. With no endpoint configured the gateway adds nothing.

use mcpgw_tests::{
    clients::{self, RawMcp},
    fixture::{Fixture, FixtureConfig},
    harness::{Served, config_version, nodes_at},
    otlp::{Collector, Span},
};
use serde_json::{Value, json};

/// A client's own trace and span: what it sends as `traceparent`.
struct ClientSpan {
    trace: String,
    span: String,
}

impl ClientSpan {
    fn new() -> Self {
        let hex = |n: usize| uuid::Uuid::new_v4().simple().to_string()[..n].to_owned();
        Self {
            trace: hex(32),
            span: hex(16),
        }
    }

    fn traceparent(&self) -> String {
        format!("00-{}-{}-01", self.trace, self.span)
    }
}

async fn call(raw: &RawMcp, sid: &str, id: u64, tool: &str, traceparent: &str) -> String {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": tool, "arguments": {"text": "x"}}});
    let headers = [
        ("mcp-session-id", sid),
        ("mcp-protocol-version", "2025-06-18"),
        ("traceparent", traceparent),
    ];
    raw.post(body.to_string(), &headers).await.text().await.unwrap()
}

fn one<'a>(spans: &'a [Span], what: &str, pick: impl Fn(&Span) -> bool) -> &'a Span {
    let found: Vec<&Span> = spans.iter().filter(|s| pick(s)).collect();
    assert_eq!(found.len(), 1, "one {what} in {spans:#?}");
    found[0]
}

/// The `traceparent` a backend received: parsed into (trace id, parent id).
fn parts(traceparent: &str) -> (String, String) {
    let p: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(p.len(), 4, "a W3C traceparent: {traceparent}");
    (p[1].to_owned(), p[2].to_owned())
}

#[tokio::test]
async fn one_trace_links_client_gateway_upstream_and_backend() {
    let collector = Collector::start().await;
    let fx = Fixture::start(FixtureConfig::default()).await;
    let down = Fixture::start(FixtureConfig::default()).await;
    let endpoint = collector.endpoint();
    let mut gw = Served::start_logged(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ("MCPGW_LOG_FORMAT", "json"),
        ("RUST_LOG", "warn"),
    ])
    .await;

    // An admin call that carries its caller's trace.
    let admin_client = ClientSpan::new();
    let res = reqwest::Client::new()
        .post(gw.proc.url("/gateways"))
        .basic_auth("admin", Some("changeme"))
        .header("traceparent", admin_client.traceparent())
        .json(&json!({"name": "fx", "url": fx.url()}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    clients::register(&gw.admin, "down", down.url()).await;
    nodes_at(&gw.admin, &[], config_version(&gw.admin).await).await;
    down.stop().await;

    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("tracer")));
    let (sid, _) = raw.initialize("2025-06-18").await;
    // Context in the HTTP headers.
    let by_header = ClientSpan::new();
    let answer = call(&raw, &sid, 1, "fx-echo", &by_header.traceparent()).await;
    assert!(answer.contains("\"result\""), "{answer}");
    // Context in `_meta`, from a 2026-07-28 client.
    let by_meta = ClientSpan::new();
    let params = json!({"name": "fx-echo", "arguments": {"text": "x"},
        "_meta": {"traceparent": by_meta.traceparent()}});
    let stateless = raw.stateless(2, "tools/call", params, json!({})).await;
    assert!(stateless["result"].is_object(), "{stateless}");
    // A call its backend cannot answer.
    let failing = ClientSpan::new();
    let failed = call(&raw, &sid, 3, "down-echo", &failing.traceparent()).await;
    assert!(failed.contains("-32010"), "{failed}");

    let in_trace = |s: &Span, c: &ClientSpan| s.trace_id == c.trace;
    let spans = collector
        .wait_for("the spans of every call", |spans| {
            let count = |c: &ClientSpan, name: &str| spans.iter().filter(|s| in_trace(s, c) && s.name == name).count();
            count(&by_header, "tools/call fx-echo") == 1
                && count(&by_header, "tools/call fx") == 1
                && count(&by_meta, "tools/call fx") == 1
                && count(&failing, "tools/call down-echo") == 1
                && count(&admin_client, "discovery") >= 1
                && spans.iter().any(|s| s.name == "config.push")
        })
        .await;

    // Client → request span → upstream span → backend.
    let request = one(&spans, "request span", |s| {
        in_trace(s, &by_header) && s.name == "tools/call fx-echo"
    });
    assert_eq!(request.parent_span_id, by_header.span, "a child of the client's span");
    assert_eq!(request.service, "mcpgw");
    assert_eq!(request.attr("mcp.method.name"), Some("tools/call"));
    assert_eq!(request.attr("gen_ai.tool.name"), Some("fx-echo"));
    assert_eq!(request.attr("mcpgw.backend"), Some("fx"));
    assert_eq!(request.attr("mcp.protocol.version"), Some("2025-06-18"));
    assert_eq!(request.attr("enduser.id"), Some("tracer"));
    assert_eq!(request.attr("mcpgw.outcome"), Some("ok"));
    assert_eq!(request.status, 1, "ok");
    let upstream = one(&spans, "upstream span", |s| {
        in_trace(s, &by_header) && s.name == "tools/call fx"
    });
    assert_eq!(upstream.parent_span_id, request.span_id, "a child of the request span");
    let received: Vec<String> = fx
        .seen_headers()
        .iter()
        .filter_map(|h| h.strip_prefix("traceparent: ").map(str::to_owned))
        .filter(|tp| tp.contains(&by_header.trace))
        .collect();
    assert_eq!(received.len(), 1, "the backend got the trace once: {received:?}");
    assert_eq!(parts(&received[0]), (by_header.trace.clone(), upstream.span_id.clone()));
    let metas = fx.call_metas();
    let in_meta: Vec<&Value> = metas
        .iter()
        .filter(|m| m["traceparent"].as_str().is_some_and(|t| t.contains(&by_header.trace)))
        .collect();
    assert_eq!(in_meta.len(), 1, "{metas:?}");
    assert_eq!(
        in_meta[0]["traceparent"],
        received[0].as_str(),
        "the same context in _meta"
    );

    // A context in `_meta` is the parent just the same, and goes on.
    let stateless_span = one(&spans, "stateless request span", |s| {
        in_trace(s, &by_meta) && s.name == "tools/call fx-echo"
    });
    assert_eq!(stateless_span.parent_span_id, by_meta.span);
    assert_eq!(stateless_span.attr("mcp.protocol.version"), Some("2026-07-28"));
    let stateless_up = one(&spans, "its upstream span", |s| {
        in_trace(s, &by_meta) && s.name == "tools/call fx"
    });
    let sent = metas
        .iter()
        .filter_map(|m| m["traceparent"].as_str())
        .find(|t| t.contains(&by_meta.trace))
        .expect("the backend got the 2026-07-28 client's trace in _meta");
    assert_eq!(parts(sent), (by_meta.trace.clone(), stateless_up.span_id.clone()));

    // A failed call says so, and its log line names its trace.
    let failed_span = one(&spans, "failed request span", |s| {
        in_trace(s, &failing) && s.name == "tools/call down-echo"
    });
    assert_eq!(failed_span.status, 2, "error");
    assert_eq!(failed_span.attr("error.type"), Some("backend_unavailable"));
    let line = gw.proc.wait_for_line("forwarding failed upstream").await;
    let logged: Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(logged["span"]["trace_id"], failing.trace.as_str(), "{line}");

    // The control plane: the admin call, in its caller's trace, with the
    // discovery it made inside it.
    let admin = one(&spans, "admin span", |s| {
        in_trace(s, &admin_client) && s.name == "POST /gateways"
    });
    assert_eq!(admin.parent_span_id, admin_client.span);
    let status = admin
        .attr("http.response.status_code")
        .expect("the admin call's status");
    assert!(status.starts_with('2'), "a success: {status}");
    assert!(
        spans
            .iter()
            .any(|s| in_trace(s, &admin_client) && s.name == "discovery" && s.parent_span_id == admin.span_id),
        "discovery inside the admin call: {spans:#?}"
    );
}

/// `http/protobuf` is the protocol when none is named, as the
/// specification says.
#[tokio::test]
async fn spans_go_over_http_protobuf_by_default() {
    let collector = Collector::start().await;
    let endpoint = collector.endpoint();
    let (_fx, gw) = Served::with_fixtures_env(
        &["fx"],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ],
    )
    .await;
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("tracer")));
    let (sid, _) = raw.initialize("2025-06-18").await;
    let client = ClientSpan::new();
    let answer = call(&raw, &sid, 1, "fx-echo", &client.traceparent()).await;
    assert!(answer.contains("\"result\""), "{answer}");
    let spans = collector
        .wait_for("the call's request span", |spans| {
            spans
                .iter()
                .any(|s| s.trace_id == client.trace && s.name == "tools/call fx-echo")
        })
        .await;
    let request = one(&spans, "request span", |s| {
        s.trace_id == client.trace && s.name == "tools/call fx-echo"
    });
    assert_eq!(request.parent_span_id, client.span);
}

/// With no endpoint, tracing is off: the gateway adds no trace context of
/// its own, and a client's context in `_meta` reaches the backend as sent.
#[tokio::test]
async fn without_an_endpoint_a_clients_context_passes_through_untouched() {
    let (fx, gw) = Served::with_fixtures(&["fx"]).await;
    let fx = &fx[0];
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("untraced")));
    let client = ClientSpan::new();
    let params = json!({"name": "fx-echo", "arguments": {"text": "x"},
        "_meta": {"traceparent": client.traceparent(), "tracestate": "vendor=1"}});
    let answer = raw.stateless(1, "tools/call", params, json!({})).await;
    assert!(answer["result"].is_object(), "{answer}");
    let (sid, _) = raw.initialize("2025-06-18").await;
    let other = ClientSpan::new();
    let answer = call(&raw, &sid, 2, "fx-echo", &other.traceparent()).await;
    assert!(answer.contains("\"result\""), "{answer}");

    let metas = fx.call_metas();
    assert_eq!(metas.len(), 2, "{metas:?}");
    assert_eq!(metas[0]["traceparent"], client.traceparent().as_str());
    assert_eq!(metas[0]["tracestate"], "vendor=1");
    assert!(metas[1].get("traceparent").is_none(), "nothing added: {}", metas[1]);
    assert!(
        !fx.seen_headers().iter().any(|h| h.starts_with("traceparent:")),
        "no trace header of the gateway's own"
    );
}
