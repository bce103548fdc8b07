//! Backends that speak MCP over a WebSocket (`ws://`, `wss://`), registered
//! by URL, listed and called through the gateway with rmcp, asking the
//! client mid-call, with a bearer token on the upgrade, and over `wss://`
//! with a CA of the backend's own.

use mcpgw_tests::{
    clients::{self, first_text, tool_call},
    fixture::websocket::WsFixture,
    harness::{Served, config_version, nodes_at},
    tls::TestCa,
};
use serde_json::json;

const TOKEN: &str = "ws-bearer-5ecret-77aa";

async fn add(gw: &Served, args: &[&str], env: &[(&str, &str)]) {
    let out = gw.cli(args, env).await;
    assert!(out.ok, "backend add: {}", out.stderr);
    nodes_at(&gw.admin, &[], config_version(&gw.admin).await).await;
}

async fn echo_and_sample(gw: &Served, slug: &str) {
    let client = clients::mcp(&gw.proc.url("/mcp"), Some(&clients::token("pat"))).await;
    let echoed = client
        .call_tool(tool_call(&format!("{slug}-echo"), json!({"text": "over ws"})))
        .await
        .unwrap();
    assert_eq!(first_text(&echoed), "over ws");
    let sampled = client
        .call_tool(tool_call(&format!("{slug}-sample"), json!({"prompt": "hi"})))
        .await
        .unwrap();
    assert_eq!(first_text(&sampled), "the client said: sampled: hi");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_websocket_backend_with_a_bearer_token_is_listed_and_called() {
    let bearer = format!("Bearer {TOKEN}");
    let ws = WsFixture::start(Some(("authorization", &bearer)), None).await;
    let gw = Served::start(&[]).await;
    let url = ws.url();
    // Without the token the upgrade is refused, and nothing is registered.
    let refused = gw.cli(&["backend", "add", "--name", "sock", "--url", &url], &[]).await;
    assert!(!refused.ok && refused.stderr.contains("401"), "{}", refused.stderr);
    assert!(clients::backends(&gw.admin).await.is_empty());

    add(
        &gw,
        &["backend", "add", "--name", "sock", "--url", &url],
        &[("MCPGW_BACKEND_BEARER_TOKEN", TOKEN)],
    )
    .await;
    let b = clients::backend(&gw.admin, "sock").await;
    assert_eq!(b.transport(), mcpgw_proto::v1::BackendTransport::Websocket);
    let names = clients::tool_names(&gw.proc.url("/mcp"), &clients::token("pat")).await;
    assert!(names.iter().any(|n| n == "sock-echo"), "{names:?}");
    echo_and_sample(&gw, "sock").await;
    assert!(
        ws.seen_headers()
            .iter()
            .any(|h| h == &format!("authorization: {bearer}"))
    );
    let listing = gw.cli(&["backend", "list"], &[]).await;
    assert!(!listing.stdout.contains(TOKEN), "{}", listing.stdout);
}

#[tokio::test]
async fn a_wss_backend_is_reached_with_its_own_ca() {
    let ca = TestCa::new();
    let ws = WsFixture::start(None, Some(ca.server_config(&["127.0.0.1"]))).await;
    let gw = Served::start(&[]).await;
    let url = ws.url();
    assert!(url.starts_with("wss://"), "{url}");
    let untrusted = gw
        .cli(&["backend", "add", "--name", "secure", "--url", &url], &[])
        .await;
    assert!(
        !untrusted.ok && untrusted.stderr.contains("certificate"),
        "{}",
        untrusted.stderr
    );
    let ca_file = ca.pem_file.to_str().unwrap();
    add(
        &gw,
        &[
            "backend",
            "add",
            "--name",
            "secure",
            "--url",
            &url,
            "--ca-file",
            ca_file,
        ],
        &[],
    )
    .await;
    echo_and_sample(&gw, "secure").await;
}
