//! A data plane told to stop (SIGTERM, as Kubernetes does before it kills
//! a pod) drains: it says it is not ready, takes no new connection, ends
//! its long-lived streams cleanly so their clients reconnect to another
//! node, lets the calls in flight finish with their answers (a
//! WebSocket's, closed with 1001, going away, after its answer; a legacy
//! SSE session's, its stream ended after its answer), and exits 0.

use futures::{SinkExt, StreamExt};
use mcpgw_tests::{
    clients::{self, Events, RawMcp},
    fixture::{Fixture, FixtureConfig},
    harness::{PATIENCE, Served},
};
use serde_json::json;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, protocol::frame::coding::CloseCode};

/// How long the backend takes over the calls in flight: far longer than
/// ending a stream takes, far shorter than the drain timeout, so the
/// order of what the test sees tells a drain from a plain shutdown.
const SLOW_MS: u64 = 4000;

#[tokio::test]
async fn sigterm_ends_streams_finishes_calls_and_exits() {
    let fx = Fixture::start(FixtureConfig::default()).await;
    let gw = Served::start(&[]).await.with_backends(&[("fx", fx.url())]).await;
    let mut dp = gw.node("dp-drain", &[("MCPGW_DRAIN_TIMEOUT_SECS", "20")]).await;
    let raw = RawMcp::new(dp.url("/mcp"), Some(clients::token("drain")));
    let (sid, _) = raw.initialize("2025-11-25").await;
    let standalone = raw.open_stream(&sid).await;
    assert_eq!(standalone.status(), 200);
    let mut standalone = Events::of(standalone);

    // A call the backend takes its time over, in flight when the signal comes.
    let slow = {
        let raw = RawMcp::new(dp.url("/mcp"), Some(clients::token("drain")));
        let sid = sid.clone();
        tokio::spawn(async move {
            let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                              "params": {"name": "fx-sleep", "arguments": {"ms": SLOW_MS}}});
            let res = raw
                .post(
                    body.to_string(),
                    &[("mcp-session-id", &sid), ("mcp-protocol-version", "2025-11-25")],
                )
                .await;
            (res.status(), res.text().await.unwrap())
        })
    };
    // And one over a WebSocket.
    let mut req = dp.url("/ws").replace("http", "ws").into_client_request().unwrap();
    let bearer = format!("Bearer {}", clients::token("drain"));
    req.headers_mut().insert("authorization", bearer.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("upgrade");
    for m in [
        json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"ws","version":"1"}}}),
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"fx-sleep","arguments":{"ms": SLOW_MS}}}),
    ] {
        ws.send(Message::text(m.to_string())).await.unwrap();
    }
    // And one of a legacy HTTP+SSE session, answered on its stream.
    let token = clients::token("drain");
    let sse = reqwest::Client::new()
        .get(dp.url("/sse"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let mut sse = Events::of(sse);
    let endpoint = sse.next().await.data;
    let post = RawMcp::new(dp.url(&endpoint), Some(token));
    for m in [
        json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"sse","version":"1"}}}),
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"fx-sleep","arguments":{"ms": SLOW_MS}}}),
    ] {
        assert_eq!(post.post(m.to_string(), &[]).await.status(), 202);
    }
    fx.wait_in_flight(3).await;
    dp.terminate().await;

    // The standalone stream ends at once, while the calls are still at the
    // backend: its client reconnects elsewhere.
    let ended = tokio::time::timeout(PATIENCE, async { while standalone.try_next().await.is_some() {} }).await;
    assert!(ended.is_ok(), "the standalone stream was not ended by the drain");
    assert!(!slow.is_finished(), "the stream ended only once the calls were done");

    // The calls in flight still get their answers.
    let (status, answer) = slow.await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains(&format!("slept {SLOW_MS} ms")), "{answer}");
    let mut answered = false;
    let close = loop {
        match tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("the WebSocket went silent")
        {
            Some(Ok(Message::Text(t))) => {
                let m: serde_json::Value = serde_json::from_str(&t).unwrap();
                if m["id"] == 2 {
                    assert!(t.contains(&format!("slept {SLOW_MS} ms")), "{t}");
                    answered = true;
                }
            }
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => {}
            other => panic!("the WebSocket ended without a close frame: {other:?}"),
        }
    };
    assert!(answered, "the WebSocket's call was not answered before it closed");
    assert_eq!(close.expect("a close frame with a code").code, CloseCode::Away);
    // The SSE stream carries its call's answer, then ends cleanly.
    let mut sse_answer = None;
    while let Some(event) = tokio::time::timeout(PATIENCE, sse.try_next())
        .await
        .expect("the SSE stream went silent")
    {
        if event.data.contains("\"id\":2") {
            sse_answer = Some(event.data);
        }
    }
    let sse_answer = sse_answer.expect("the SSE session's call was not answered before its stream ended");
    assert!(sse_answer.contains(&format!("slept {SLOW_MS} ms")), "{sse_answer}");

    // And the node exits by itself, cleanly; nothing listens any more.
    let status = dp.exited().await;
    assert!(status.success(), "{status}");
    let after = reqwest::Client::new().get(dp.url("/health")).send().await;
    assert!(after.is_err(), "the drained node still answers");
}
