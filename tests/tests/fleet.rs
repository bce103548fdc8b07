//! A fleet of data planes sharing a Redis: what happens on one node reaches
//! the node it concerns. A cancel posted to one node stops the call another
//! node relays; a resource update heard by the node that relayed the
//! subscribe reaches the session's stream on another; a session deleted on
//! one node is refused by the others, and by a node that starts later.

use mcpgw_tests::{
    clients::{self, Events, RawMcp},
    fixture::{Fixture, FixtureConfig, catalog::WATCHED},
    harness::{PATIENCE, Proc, RedisFleet, Served, eventually, redis},
};
use serde_json::{Value, json};

/// A gateway (A) and a second data plane (B) in one fleet, a backend, and a
/// session opened on A.
struct TwoNodes {
    fx: Fixture,
    a: Served,
    _b: Proc,
    on_a: RawMcp,
    on_b: RawMcp,
    sid: String,
    token: String,
    env: RedisFleet,
}

impl TwoNodes {
    async fn start() -> Option<Self> {
        let env = redis().await?;
        let fx = Fixture::start(FixtureConfig::default()).await;
        let a = Served::start(&env.env()).await.with_backends(&[("fx", fx.url())]).await;
        let b = a.node("dp-b", &env.env()).await;
        let token = clients::token("pat");
        let on_a = RawMcp::new(a.proc.url("/mcp"), Some(token.clone()));
        let on_b = RawMcp::new(b.url("/mcp"), Some(token.clone()));
        let (sid, _) = on_a.initialize("2025-11-25").await;
        Some(Self {
            fx,
            a,
            _b: b,
            on_a,
            on_b,
            sid,
            token,
            env,
        })
    }
}

#[tokio::test]
async fn cancels_updates_and_deletes_reach_every_node() {
    let Some(f) = TwoNodes::start().await else { return };
    let (fx, on_a, on_b, sid, token) = (&f.fx, &f.on_a, &f.on_b, &f.sid, &f.token);
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
    let mut stream = Events::of(on_b.open_stream(sid).await);
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

    // Unsubscribed through B: A, which subscribed, lets the backend go.
    let unsubscribe =
        json!({"jsonrpc": "2.0", "id": 10, "method": "resources/unsubscribe", "params": {"uri": WATCHED}});
    let unsubscribed: Value = on_b
        .post(unsubscribe.to_string(), &with_sid)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(unsubscribed["result"], json!({}), "{unsubscribed}");
    eventually("the backend to be unsubscribed", || async {
        fx.subscriptions().is_empty().then_some(())
    })
    .await;

    // Deleted on A, refused by B, and by a node that starts afterwards.
    let deleted = on_a
        .http
        .delete(&on_a.url)
        .bearer_auth(token)
        .header("mcp-session-id", sid.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let ping = json!({"jsonrpc": "2.0", "id": 9, "method": "ping"}).to_string();
    eventually("B to refuse the deleted session", || {
        let (on_b, ping, sid) = (on_b.clone(), ping.clone(), sid.clone());
        async move { (on_b.post(ping, &[("mcp-session-id", &sid)]).await.status() == 404).then_some(()) }
    })
    .await;
    // B ends the session's standalone stream too.
    let ended = tokio::time::timeout(PATIENCE, async { while stream.try_next().await.is_some() {} }).await;
    assert!(ended.is_ok(), "the deleted session's stream on B ends");
    let c = f.a.node("dp-c", &f.env.env()).await;
    let on_c = RawMcp::new(c.url("/mcp"), Some(token.clone()));
    let refused = on_c.post(ping, &with_sid).await;
    assert_eq!(refused.status(), 404);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32001, "{body}");
}

#[tokio::test]
async fn a_stream_lost_on_one_node_resumes_on_another() {
    let Some(f) = TwoNodes::start().await else { return };
    let (fx, on_a, on_b, sid) = (&f.fx, &f.on_a, &f.on_b, &f.sid);
    let with_sid = [("mcp-session-id", sid.as_str())];

    // A call still running on A when its stream is lost; resumed on B.
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "fx-slow_stream", "arguments": {"ms": 1500}}});
    let mut events = Events::of(on_a.post(call.to_string(), &with_sid).await);
    let primed = events.next().await.id.expect("primed");
    fx.wait_in_flight(1).await;
    drop(events);
    let mut resumed = Events::of(on_b.resume(sid, &primed).await);
    let answer = resumed.next_message().await;
    assert_eq!(answer["id"], 1, "{answer}");
    assert_eq!(answer["result"]["content"][0]["text"], "slept 1500 ms", "{answer}");
    assert!(resumed.try_next().await.is_none(), "the stream ends with the answer");

    // Only what came after the named event, each with its id from A.
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                      "params": {"name": "fx-progress", "arguments": {"steps": 3}, "_meta": {"progressToken": "t"}}});
    let mut events = Events::of(on_a.post(call.to_string(), &with_sid).await);
    events.next().await; // priming
    let first = events.next().await;
    drop(events);
    let mut resumed = Events::of(on_b.resume(sid, first.id.as_deref().unwrap()).await);
    let mut rest = Vec::new();
    while let Some(ev) = resumed.try_next().await {
        assert!(
            ev.id.is_some_and(|id| id != first.id.clone().unwrap()),
            "ids from A, after the one named"
        );
        rest.push(serde_json::from_str::<Value>(&ev.data).unwrap());
    }
    assert!(rest.iter().all(|m| m["params"]["progress"] != 1), "{rest:?}");
    assert_eq!(rest.last().unwrap()["id"], 2, "{rest:?}");

    // The node holding the stream refuses, with its reason, an event it
    // never sent.
    let (stream_id, _) = primed.rsplit_once('-').unwrap();
    let refused = on_b.resume(sid, &format!("{stream_id}-999")).await;
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["error"]["message"].as_str().unwrap().contains("has not sent"),
        "{body}"
    );

    // No node holds this stream: refused with the reason.
    let refused = on_b.resume(sid, "c00000000000000ab-3").await;
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["error"]["message"].as_str().unwrap().contains("no stream"),
        "{body}"
    );
}

/// A legacy SSE stream lives on the node that opened it; a message POSTed
/// to another node of the fleet is passed to it and answered on the stream.
#[tokio::test]
async fn legacy_sse_messages_posted_to_another_node_are_answered_on_the_stream() {
    let Some(f) = TwoNodes::start().await else { return };
    let res = reqwest::Client::new()
        .get(f.a.proc.url("/sse"))
        .bearer_auth(&f.token)
        .send()
        .await
        .unwrap();
    let mut events = Events::of(res);
    let endpoint = events.next().await.data;
    let on_b = RawMcp::new(f.on_b.url.replace("/mcp", &endpoint), Some(f.token.clone()));
    let post = |v: Value| {
        let on_b = on_b.clone();
        async move {
            on_b.post(v.to_string(), &[("accept", "application/json")])
                .await
                .status()
        }
    };
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2024-11-05",
                      "capabilities": {}, "clientInfo": {"name": "old", "version": "1"}}});
    // A registers the stream with the fleet in the background.
    eventually("B to pass messages for A's stream", || async {
        (post(init.clone()).await == 202).then_some(())
    })
    .await;
    assert_eq!(events.next_message().await["id"], 1);
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                      "params": {"name": "fx-echo", "arguments": {"text": "via B"}}});
    assert_eq!(post(call).await, 202);
    let answer = events.next_message().await;
    assert_eq!(answer["result"]["content"][0]["text"], "via B", "{answer}");

    // Another user's message for the stream is not answered; a stream no
    // node holds is 404.
    let intruder = RawMcp::new(on_b.url.clone(), Some(clients::token("mallory")));
    let ping = json!({"jsonrpc": "2.0", "id": 3, "method": "ping"}).to_string();
    intruder.post(ping.clone(), &[("accept", "application/json")]).await;
    let unknown = RawMcp::new(
        f.on_b
            .url
            .replace("/mcp", "/message?session_id=00000000000000000000000000000000"),
        Some(f.token.clone()),
    );
    assert_eq!(
        unknown
            .post(ping.clone(), &[("accept", "application/json")])
            .await
            .status(),
        404
    );
    let mine = json!({"jsonrpc": "2.0", "id": 4, "method": "ping"});
    assert_eq!(post(mine).await, 202);
    assert_eq!(
        events.next_message().await["id"],
        4,
        "the intruder's ping got no answer on the stream"
    );
}
