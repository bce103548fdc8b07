//! Resumable client streams (SEP-1699): events carry ids, 2025-11-25
//! streams start with a priming event, and a client that loses a call's
//! stream resumes it with `GET` + `Last-Event-ID`, getting what it missed and
//! then the answer. The call runs on meanwhile; only once no client has
//! read it for the resume window is it cancelled upstream.

use mcpgw_tests::{
    clients::{self, Events, RawMcp},
    harness::Served,
};
use serde_json::{Value, json};

fn call(id: u64, tool: &str, args: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": args, "_meta": {"progressToken": "tok"}}})
    .to_string()
}

#[tokio::test]
async fn a_client_that_loses_a_call_stream_resumes_it_and_gets_the_answer() {
    let (fixtures, gw) = Served::with_fixtures(&["alpha"]).await;
    let fx = &fixtures[0];
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("pat")));
    let (sid, _) = raw.initialize("2025-11-25").await;

    // A call still running when its stream is lost: the priming event names
    // where to resume and how soon to come back.
    let res = raw
        .post(
            call(1, "alpha-slow_stream", json!({"ms": 1500})),
            &[("mcp-session-id", &sid)],
        )
        .await;
    let mut events = Events::of(res);
    let primed = events.next().await;
    assert_eq!(primed.data, "", "the priming event carries no message");
    assert_eq!(primed.retry, Some(1000));
    let last = primed.id.expect("the priming event has an id");
    fx.wait_in_flight(1).await;
    drop(events);
    let mut resumed = Events::of(raw.resume(&sid, &last).await);
    let answer = resumed.next_message().await;
    assert_eq!(answer["id"], 1, "{answer}");
    assert_eq!(answer["result"]["content"][0]["text"], "slept 1500 ms", "{answer}");
    assert!(resumed.try_next().await.is_none(), "the stream ends with the answer");

    // Events after the one named are sent again, not those before it.
    let res = raw
        .post(
            call(2, "alpha-progress", json!({"steps": 3})),
            &[("mcp-session-id", &sid)],
        )
        .await;
    let mut events = Events::of(res);
    events.next().await; // priming
    let first = events.next().await;
    let said: Value = serde_json::from_str(&first.data).unwrap();
    assert_eq!(said["method"], "notifications/progress", "{said}");
    assert_eq!(said["params"]["progress"], 1, "{said}");
    drop(events);
    let mut resumed = Events::of(raw.resume(&sid, first.id.as_deref().unwrap()).await);
    let mut rest = Vec::new();
    while let Some(ev) = resumed.try_next().await {
        assert!(ev.id.is_some(), "every message event has an id");
        rest.push(serde_json::from_str::<Value>(&ev.data).unwrap());
    }
    assert!(
        rest.iter().all(|m| m["params"]["progress"] != 1),
        "event 1 was already received: {rest:?}"
    );
    assert!(rest.iter().any(|m| m["params"]["progress"] == 3), "{rest:?}");
    assert_eq!(rest.last().unwrap()["id"], 2, "{rest:?}");

    // Resuming again after the answer still works within the window: the
    // client may have lost the answer itself.
    let again = Events::of(raw.resume(&sid, first.id.as_deref().unwrap()).await);
    let mut again = again;
    let mut last_message = Value::Null;
    while let Some(ev) = again.try_next().await {
        last_message = serde_json::from_str(&ev.data).unwrap();
    }
    assert_eq!(last_message["id"], 2);

    // Another session cannot read this one's stream.
    let (other, _) = raw.initialize("2025-11-25").await;
    let refused = raw.resume(&other, &last).await;
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["error"]["message"].as_str().unwrap().contains("Last-Event-ID"),
        "{body}"
    );

    // Junk ids are refused with a hint.
    let refused = raw.resume(&sid, "not-an-id").await;
    assert_eq!(refused.status(), 400);
}

#[tokio::test]
async fn a_call_nobody_resumes_is_cancelled_after_the_window() {
    let (fixtures, gw) = Served::with_fixtures_env(&["alpha"], &[("MCPGW_RESUME_WINDOW_MS", "300")]).await;
    let fx = &fixtures[0];
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("pat")));
    let (sid, _) = raw.initialize("2025-06-18").await;
    let res = raw
        .post(
            call(1, "alpha-slow_stream", json!({"ms": 60_000})),
            &[("mcp-session-id", &sid)],
        )
        .await;
    fx.wait_in_flight(1).await;
    drop(res);
    let cancelled = fx.wait_cancelled(1).await;
    assert!(cancelled[0].is_number(), "the backend's own id: {cancelled:?}");
    fx.wait_in_flight_at_most(0).await;
}

#[tokio::test]
async fn standalone_streams_carry_ids_and_a_resumed_one_says_lists_may_have_changed() {
    let (_fixtures, gw) = Served::with_fixtures(&["alpha"]).await;
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("pat")));
    let (sid, _) = raw.initialize("2025-11-25").await;
    let mut stream = Events::of(raw.open_stream(&sid).await);
    let primed = stream.next().await;
    let id = primed.id.expect("primed");
    assert!(id.starts_with('g'), "{id}");
    drop(stream);

    let mut resumed = Events::of(raw.resume(&sid, &id).await);
    resumed.next().await; // the new stream's priming event
    let mut said = Vec::new();
    for _ in 0..3 {
        let ev = resumed.next().await;
        assert!(ev.id.is_some());
        said.push(serde_json::from_str::<Value>(&ev.data).unwrap()["method"].clone());
    }
    assert_eq!(
        said,
        [
            "notifications/tools/list_changed",
            "notifications/prompts/list_changed",
            "notifications/resources/list_changed"
        ]
    );

    // Clients that cannot resume (2024-11-05) get no ids and no priming.
    let (old, _) = raw.initialize("2024-11-05").await;
    let res = raw
        .post(
            call(1, "alpha-echo", json!({"text": "hi"})),
            &[("mcp-session-id", &old)],
        )
        .await;
    if res.headers()["content-type"] == "text/event-stream" {
        let ev = Events::of(res).next().await;
        assert_eq!(ev.id, None);
    }
}
