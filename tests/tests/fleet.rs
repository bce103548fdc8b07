//! A fleet of data planes sharing a Redis: what happens on one node reaches
//! the node it concerns. A cancel posted to one node stops the call another
//! node relays; a resource update heard by the node that relayed the
//! subscribe reaches the session's stream on another; a session deleted on
//! one node is refused by the others, and by a node that starts later.

use mcpgw_tests::{
    clients::{self, Events, RawMcp},
    fixture::{Fixture, FixtureConfig, catalog::WATCHED},
    harness::{Served, redis},
};
use serde_json::{Value, json};

#[tokio::test]
async fn cancels_updates_and_deletes_reach_every_node() {
    let Some(fleet) = redis().await else { return };
    let env = fleet.env();
    let fx = Fixture::start(FixtureConfig::default()).await;
    let a = Served::start(&env).await.with_backends(&[("fx", fx.url())]).await;
    let b = a.node("dp-b", &env).await;
    let token = clients::token("pat");
    let on_a = RawMcp::new(a.proc.url("/mcp"), Some(token.clone()));
    let on_b = RawMcp::new(b.url("/mcp"), Some(token.clone()));
    let (sid, _) = on_a.initialize("2025-11-25").await;
    let with_sid = [("mcp-session-id", sid.as_str())];

    // A call relayed by A, cancelled through B.
    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                      "params": {"name": "fx-slow_stream", "arguments": {"ms": 60_000}}});
    let running = on_a.post(call.to_string(), &with_sid).await;
    fx.wait_in_flight(1).await;
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7}});
    assert_eq!(on_b.post(cancel.to_string(), &with_sid).await.status(), 202);
    let cancelled = fx.wait_cancelled(1).await;
    assert!(cancelled[0].is_number(), "the backend's own id: {cancelled:?}");
    let mut running = Events::of(running);
    while let Some(ev) = running.try_next().await {
        assert!(ev.data.is_empty(), "no answer after the cancel: {}", ev.data);
    }

    // Subscribed through A, listening on B.
    let mut stream = Events::of(on_b.open_stream(&sid).await);
    stream.next().await; // priming
    let subscribe = json!({"jsonrpc": "2.0", "id": 8, "method": "resources/subscribe", "params": {"uri": WATCHED}});
    let subscribed: Value = on_a.post(subscribe.to_string(), &with_sid).await.json().await.unwrap();
    assert!(subscribed.get("result").is_some(), "{subscribed}");
    // The control plane's watcher and A's pooled session listen.
    fx.wait_listeners(2).await;
    fx.update_resource(WATCHED).await;
    let note = stream.next_message().await;
    assert_eq!(note["method"], "notifications/resources/updated", "{note}");
    assert_eq!(note["params"]["uri"], WATCHED, "{note}");

    // Deleted on A, refused by B, and by a node that starts afterwards.
    let deleted = on_a
        .http
        .delete(&on_a.url)
        .bearer_auth(&token)
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let ping = json!({"jsonrpc": "2.0", "id": 9, "method": "ping"}).to_string();
    mcpgw_tests::harness::eventually("B to refuse the deleted session", || {
        let (on_b, ping, sid) = (on_b.clone(), ping.clone(), sid.clone());
        async move { (on_b.post(ping, &[("mcp-session-id", &sid)]).await.status() == 404).then_some(()) }
    })
    .await;
    let c = a.node("dp-c", &env).await;
    let on_c = RawMcp::new(c.url("/mcp"), Some(token));
    let refused = on_c.post(ping, &with_sid).await;
    assert_eq!(refused.status(), 404);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32001, "{body}");
}
