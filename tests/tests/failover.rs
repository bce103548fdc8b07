//! A backend with two endpoints (replicas) through a real gateway and the
//! official Rust SDK's client: calls are balanced over both; one killed
//! mid-load is taken out by the node's circuit breaker, after which no call
//! fails, and it gets traffic again once it answers its probe. Reads are
//! retried on the other endpoint, tool calls never. Endpoints that cannot
//! be used are refused at registration.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

use mcpgw_proto::v1 as pb;
use mcpgw_tests::{
    clients,
    fixture::{Fixture, FixtureConfig},
    harness::{Served, eventually},
};
use rmcp::model::ReadResourceRequestParams;
use serde_json::json;

/// Registers backend `fx` at `url` with `endpoints`, and waits until the
/// gateway serves it.
async fn register(gw: &Served, url: String, endpoints: Vec<String>) -> Result<pb::Backend, tonic::Status> {
    let req = pb::CreateBackendRequest {
        name: "fx".into(),
        url,
        endpoints,
        ..Default::default()
    };
    clients::create_backend(&gw.admin, req).await
}

async fn echo(client: &clients::McpClient, text: &str) -> bool {
    client
        .call_tool(clients::tool_call("fx-echo", json!({"text": text})))
        .await
        .is_ok_and(|r| clients::first_text(&r) == text)
}

#[tokio::test]
async fn a_dead_endpoint_is_taken_out_under_load_and_returns_when_it_recovers() {
    let one = Fixture::start(FixtureConfig::default()).await;
    let two = Fixture::start(FixtureConfig::default()).await;
    let two_addr = two.addr;
    let mut gw = Served::start_logged(&[
        ("RUST_LOG", "warn,mcpgw_data_plane::upstream::endpoints=info"),
        ("MCPGW_BREAKER_COOLDOWN_MS", "100"),
    ])
    .await;
    let b = register(&gw, one.url(), vec![two.url()]).await.expect("register");
    assert_eq!(b.endpoints, [two.url()]);
    let url = gw.proc.url("/mcp");
    let token = clients::token("pat");

    // Calls are balanced over both endpoints.
    let probe = clients::mcp(&url, Some(&token)).await;
    for i in 0..10 {
        assert!(echo(&probe, &format!("warm {i}")).await);
    }
    assert!(one.calls("echo") > 0 && two.calls("echo") > 0, "both endpoints serve");

    // Load from four clients, every call recorded with when it started.
    let stop = Arc::new(AtomicBool::new(false));
    let record: Arc<Mutex<Vec<(Instant, bool)>>> = Arc::default();
    let mut load = Vec::new();
    for c in 0..4 {
        let (stop, record, url, token) = (stop.clone(), record.clone(), url.clone(), token.clone());
        load.push(tokio::spawn(async move {
            let client = clients::mcp(&url, Some(&token)).await;
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let ok = echo(&client, &format!("c{c} call {i}")).await;
                record.lock().unwrap().push((started, ok));
                i += 1;
            }
            client.cancel().await.ok();
        }));
    }
    let at = two.calls("echo");
    eventually("the load to reach the second endpoint", || async {
        (two.calls("echo") > at + 20).then_some(())
    })
    .await;

    // One endpoint killed mid-load: once its breaker is open, no call fails.
    two.stop().await;
    gw.proc.wait_for_line("circuit open").await;
    let opened = Instant::now();
    let base = one.calls("echo");
    eventually("calls to go on after the breaker opened", || async {
        (one.calls("echo") > base + 100).then_some(())
    })
    .await;

    // It comes back: its probe succeeds and traffic returns to it.
    let two = Fixture::start_on(two_addr, FixtureConfig::default())
        .await
        .expect("restart the second endpoint on its address");
    gw.proc.wait_for_line("back in rotation").await;
    eventually("traffic to return to the recovered endpoint", || async {
        (two.calls("echo") > 20).then_some(())
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.expect("a load task");
    }

    let record = std::mem::take(&mut *record.lock().unwrap());
    // The kill was felt: the calls that opened the breaker failed.
    assert!(
        record.iter().any(|(s, ok)| !ok && *s < opened),
        "calls to the killed endpoint failed"
    );
    let after: Vec<bool> = record.iter().filter(|(s, _)| *s > opened).map(|(_, ok)| *ok).collect();
    assert!(after.len() > 100, "calls ran after the breaker opened: {}", after.len());
    let failed = after.iter().filter(|ok| !**ok).count();
    assert_eq!(
        failed,
        0,
        "{failed} of {} calls started after the breaker opened failed",
        after.len()
    );
    probe.cancel().await.ok();
}

#[tokio::test]
async fn reads_are_retried_on_another_endpoint_and_tool_calls_never() {
    let one = Fixture::start(FixtureConfig::default()).await;
    let two = Fixture::start(FixtureConfig::default()).await;
    // No breaker opens and nothing is cached: every call goes round robin.
    let gw = Served::start(&[("MCPGW_BREAKER_FAILURES", "1000000"), ("CACHE_TYPE", "none")]).await;
    register(&gw, one.url(), vec![two.url()]).await.expect("register");
    let client = clients::mcp(&gw.proc.url("/mcp"), Some(&clients::token("pat"))).await;
    // Sessions with both endpoints exist before one dies.
    for i in 0..4 {
        assert!(echo(&client, &format!("warm {i}")).await);
    }
    let before = one.calls("echo");
    two.stop().await;

    for i in 0..10 {
        let uri = format!("test://template/{i}/data");
        let read = client.read_resource(ReadResourceRequestParams::new(uri.as_str())).await;
        assert!(read.is_ok(), "read {uri} is retried on the live endpoint: {read:?}");
    }
    assert_eq!(one.reads("test://template/9/data"), 1);

    let mut ok = 0;
    let mut failed = Vec::new();
    for i in 0..10 {
        match client
            .call_tool(clients::tool_call("fx-echo", json!({"text": format!("t{i}")})))
            .await
        {
            Ok(_) => ok += 1,
            Err(e) => failed.push(e.to_string()),
        }
    }
    assert!(
        !failed.is_empty(),
        "calls that went to the dead endpoint failed, not retried"
    );
    assert!(
        failed.iter().all(|e| e.contains("unavailable")),
        "they say the backend is unavailable: {failed:?}"
    );
    assert_eq!(
        one.calls("echo") - before,
        ok,
        "every call ran once, on the live endpoint"
    );
    client.cancel().await.ok();
}

#[tokio::test]
async fn endpoints_that_cannot_be_used_are_refused_and_nothing_is_written() {
    let one = Fixture::start(FixtureConfig::default()).await;
    let gw = Served::start(&[]).await;
    let refused = |e: tonic::Status, code: tonic::Code, says: &str| {
        assert_eq!(e.code(), code, "{}", e.message());
        assert!(e.message().contains(says), "{}", e.message());
    };
    let e = register(&gw, one.url(), vec!["http://127.0.0.1:1/mcp".into()])
        .await
        .unwrap_err();
    refused(e, tonic::Code::Unavailable, "did not answer initialize");
    let e = register(&gw, one.url(), vec![one.url()]).await.unwrap_err();
    refused(e, tonic::Code::InvalidArgument, "given twice");
    let e = register(&gw, one.url(), vec!["ftp://127.0.0.1/x".into()])
        .await
        .unwrap_err();
    refused(e, tonic::Code::InvalidArgument, "http:// or https://");
    assert!(clients::backends(&gw.admin).await.is_empty(), "nothing was registered");

    // Set, replaced and cleared on a registered backend.
    let two = Fixture::start(FixtureConfig::default()).await;
    register(&gw, one.url(), Vec::new()).await.expect("register");
    let update = |endpoints: Vec<String>, clear: bool| {
        let mut admin = gw.admin.clone();
        async move {
            admin
                .update_backend(pb::UpdateBackendRequest {
                    backend: "fx".into(),
                    endpoints,
                    clear_endpoints: clear,
                    ..Default::default()
                })
                .await
                .map(|r| r.into_inner().backend.expect("a backend").endpoints)
        }
    };
    assert_eq!(update(vec![two.url()], false).await.unwrap(), [two.url()]);
    let e = update(vec!["http://127.0.0.1:1/mcp".into()], false).await.unwrap_err();
    refused(e, tonic::Code::Unavailable, "did not answer initialize");
    assert_eq!(clients::backend(&gw.admin, "fx").await.endpoints, [two.url()], "kept");
    assert!(update(Vec::new(), true).await.unwrap().is_empty());
}
