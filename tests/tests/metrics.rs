//! Prometheus metrics on both planes, scraped over HTTP and read by the
//! official Python client's OpenMetrics parser (`tests/python/scrape.py`),
//! which refuses text a real scraper would refuse.
//!
//! Needs a Python with that package: `MCPGW_PYTHON` names it (`.ci/run`
//! makes one). Without it these tests say so and pass, unless
//! `MCPGW_REQUIRE_PYTHON=1` (CI) makes that a failure.

use std::path::Path;

use mcpgw_tests::{
    clients::{self, RawMcp},
    fixture::{Fixture, FixtureConfig},
    harness::{Served, config_version, eventually, nodes_at, python, python_json},
};
use serde_json::{Value, json};

/// What one scrape gave: the content type, each family's type, and every
/// sample.
struct Scraped(Value);

impl Scraped {
    async fn of(python: &Path, url: &str) -> Self {
        Self(python_json(python, &["scrape.py", url]).await)
    }

    fn samples<'a>(&'a self, name: &'a str, labels: &'a [(&str, &str)]) -> impl Iterator<Item = &'a Value> + 'a {
        self.0["samples"]
            .as_array()
            .expect("samples")
            .iter()
            .filter(move |s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][*k] == *v))
    }

    /// The sum of the samples `name` with (at least) `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples(name, labels).map(|s| s["value"].as_f64().unwrap()).sum()
    }

    /// The one sample `name` with `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<_> = self.samples(name, labels).collect();
        assert_eq!(found.len(), 1, "one {name} {labels:?} in {}", self.0);
        found[0]["value"].as_f64().unwrap()
    }

    fn has_family(&self, name: &str) -> bool {
        self.0["families"].get(name).is_some()
    }

    /// Every value label `label` takes in the samples `name`.
    fn label_values(&self, name: &str, label: &str) -> Vec<String> {
        self.samples(name, &[])
            .filter_map(|s| s["labels"][label].as_str().map(str::to_owned))
            .collect()
    }
}

/// POSTs a JSON-RPC request of `method` in session `sid`; the answer's text.
async fn request(raw: &RawMcp, sid: &str, id: u64, method: &str, params: Value) -> String {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    let res = raw
        .post(
            body.to_string(),
            &[("mcp-session-id", sid), ("mcp-protocol-version", "2025-06-18")],
        )
        .await;
    res.text().await.unwrap()
}

fn echo(tool: &str) -> Value {
    json!({"name": tool, "arguments": {"text": "x"}})
}

/// `mcpgw serve` shows both planes at one `/metrics`: requests by method,
/// era and outcome; routed calls by backend and tool, a dead backend's
/// failures among them; sessions by version; what the node serves
/// and what the registry holds, which agree; each node's applied version
/// and how long pushes took to be acknowledged. What a client makes up (a
/// method, a tool) adds no series of its own.
#[tokio::test]
async fn serve_shows_both_planes_at_one_metrics_endpoint() {
    let Some(python) = python() else { return };
    let fx = Fixture::start(FixtureConfig::default()).await;
    let down = Fixture::start(FixtureConfig::default()).await;
    let gw = Served::start(&[])
        .await
        .with_backends(&[("fx", fx.url()), ("down", down.url())])
        .await;
    down.stop().await;
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("metrics")));
    let (sid, _) = raw.initialize("2025-06-18").await;

    for id in 1..=3 {
        let answer = request(&raw, &sid, id, "tools/call", echo("fx-echo")).await;
        assert!(answer.contains("\"result\""), "{answer}");
    }
    let unknown = request(&raw, &sid, 4, "tools/call", echo("made-up-tool")).await;
    assert!(unknown.contains("-32602"), "{unknown}");
    let invented = request(&raw, &sid, 5, "made/up", json!({})).await;
    assert!(invented.contains("-32601"), "{invented}");
    let failed = request(&raw, &sid, 6, "tools/call", echo("down-echo")).await;
    assert!(failed.contains("-32010"), "{failed}");
    let stateless = raw.stateless(7, "tools/call", echo("fx-echo"), json!({})).await;
    assert!(stateless["result"].is_object(), "{stateless}");
    let listed = request(&raw, &sid, 8, "tools/list", json!({})).await;
    let listed: Value = serde_json::from_str(
        listed
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .next_back()
            .unwrap_or(&listed),
    )
    .expect("tools/list answer");
    let tools = listed["result"]["tools"].as_array().expect("tools").len();

    let m = Scraped::of(&python, &gw.proc.url("/metrics")).await;
    assert!(
        m.0["content_type"]
            .as_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
        "{}",
        m.0["content_type"]
    );
    for family in [
        "mcpgw_requests",
        "mcpgw_request_duration_seconds",
        "mcpgw_backend_requests",
        "mcpgw_breaker_open_endpoints",
        "mcpgw_open_streams",
        "mcpgw_registry_objects",
        "mcpgw_config_push_ack_seconds",
    ] {
        assert!(m.has_family(family), "no {family} in {}", m.0["families"]);
    }
    let requests = "mcpgw_requests_total";
    let call = ("method", "tools/call");
    assert_eq!(m.value(requests, &[call, ("era", "session"), ("outcome", "ok")]), 3.0);
    assert_eq!(m.value(requests, &[call, ("era", "stateless"), ("outcome", "ok")]), 1.0);
    assert_eq!(m.value(requests, &[call, ("outcome", "invalid_params")]), 1.0);
    assert_eq!(m.value(requests, &[call, ("outcome", "backend_unavailable")]), 1.0);
    assert_eq!(
        m.value(requests, &[("method", "other"), ("outcome", "method_not_found")]),
        1.0
    );
    assert!(!m.label_values(requests, "method").iter().any(|v| v == "made/up"));
    let calls = m.sum("mcpgw_request_duration_seconds_count", &[("method", "tools/call")]);
    assert_eq!(calls, 6.0, "every tools/call timed once");

    let routed = "mcpgw_backend_requests_total";
    let fx_echo = [call, ("backend", "fx"), ("item", "echo"), ("outcome", "ok")];
    assert_eq!(m.value(routed, &fx_echo), 4.0, "3 session calls and 1 stateless");
    let down_echo = [
        call,
        ("backend", "down"),
        ("item", "echo"),
        ("outcome", "backend_unavailable"),
    ];
    assert_eq!(m.value(routed, &down_echo), 1.0);
    assert!(
        !m.label_values(routed, "item").iter().any(|v| v.contains("made-up")),
        "an unknown tool is no series"
    );
    assert_eq!(m.value("mcpgw_breaker_open_endpoints", &[("backend", "down")]), 0.0);
    assert!(m.sum("mcpgw_sessions_started_total", &[("protocol_version", "2025-06-18")]) >= 1.0);

    // What the node serves is what the registry holds.
    assert_eq!(m.value("mcpgw_catalog_items", &[("kind", "tools")]), tools as f64);
    assert_eq!(m.value("mcpgw_registry_objects", &[("kind", "tools")]), tools as f64);
    assert_eq!(m.value("mcpgw_catalog_items", &[("kind", "backends")]), 2.0);
    let version = config_version(&gw.admin).await as f64;
    assert_eq!(m.value("mcpgw_registry_version", &[]), version);
    assert_eq!(m.value("mcpgw_config_version", &[]), version);
    let nodes = m.label_values("mcpgw_node_config_version", "node");
    assert_eq!(nodes.len(), 1, "the in-process node: {nodes:?}");
    assert_eq!(m.value("mcpgw_node_config_version", &[]), version);
    assert!(m.value("mcpgw_config_push_ack_seconds_count", &[]) >= 1.0);
    assert!(m.value("mcpgw_config_updates_total", &[("outcome", "applied")]) >= 1.0);
}

/// A data plane of its own shows its own metrics (and none of the control
/// plane's); the control plane lists it with the version it applied, and
/// counts a long-lived stream while it is open.
#[tokio::test]
async fn a_data_plane_and_its_control_plane_each_show_their_own() {
    let Some(python) = python() else { return };
    let fx = Fixture::start(FixtureConfig::default()).await;
    let gw = Served::start(&[]).await.with_backends(&[("fx", fx.url())]).await;
    let dp = gw.node("dp-m", &[]).await;
    let version = config_version(&gw.admin).await;
    nodes_at(&gw.admin, &["dp-m"], version).await;

    let raw = RawMcp::new(dp.url("/mcp"), Some(clients::token("metrics")));
    let (sid, _) = raw.initialize("2025-06-18").await;
    let stream = raw.open_stream(&sid).await;
    assert_eq!(stream.status(), 200);
    let m = eventually("the standalone stream to be counted", || async {
        let m = Scraped::of(&python, &dp.url("/metrics")).await;
        (m.value("mcpgw_open_streams", &[("kind", "standalone")]) == 1.0).then_some(m)
    })
    .await;
    assert_eq!(m.value("mcpgw_config_version", &[]), version as f64);
    assert!(
        !m.has_family("mcpgw_registry_objects"),
        "the control plane's, not a node's"
    );
    drop(stream);
    eventually("the closed stream to be uncounted", || async {
        let m = Scraped::of(&python, &dp.url("/metrics")).await;
        (m.value("mcpgw_open_streams", &[("kind", "standalone")]) == 0.0).then_some(())
    })
    .await;

    let cp = Scraped::of(&python, &gw.proc.url("/metrics")).await;
    assert_eq!(
        cp.value("mcpgw_node_config_version", &[("node", "dp-m")]),
        version as f64
    );
    assert_eq!(cp.value("mcpgw_nodes", &[("state", "connected")]), 2.0);
}
