//! Server→client requests through the gateway (sampling, elicitation): the
//! client sees gateway-sealed ids, its answer reaches the backend that asked
//! (from any POST, on any node), two backends asking at once each get their
//! own answer. And cancellation: a client's cancel, or a client that goes
//! away, reaches the backend.

use std::{sync::Arc, time::Duration};

use mcpgw_tests::{
    clients::{self, Events, RawMcp, Recorder, first_text, tool_call},
    fixture::Fixture,
    harness::Served,
};
use rmcp::{
    model::{ClientRequest, Request},
    service::PeerRequestOptions,
};
use serde_json::{Value, json};

async fn two_backends() -> (Fixture, Fixture, Served) {
    let (fixtures, gw) = Served::with_fixtures(&["alpha", "bravo"]).await;
    let [a, b]: [Fixture; 2] = fixtures.try_into().ok().expect("two fixtures");
    (a, b, gw)
}

#[tokio::test]
async fn sampling_and_elicitation_reach_the_client_and_its_answers_the_backend() {
    let (_a, _b, gw) = two_backends().await;
    let token = clients::token("pat");
    let client = clients::mcp(&gw.proc.url("/mcp"), Some(&token)).await;

    let sampled = client
        .call_tool(tool_call("alpha-test_sampling", json!({"prompt": "a haiku"})))
        .await
        .unwrap();
    assert_eq!(first_text(&sampled), "LLM response: sampled: a haiku");

    let elicited = client
        .call_tool(tool_call("bravo-test_elicitation", json!({"message": "who are you?"})))
        .await
        .unwrap();
    let said = first_text(&elicited);
    assert!(
        said.contains("action=accept") && said.contains("ada@example.com"),
        "{said}"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn two_backends_asking_at_once_each_get_their_own_answer() {
    let (_a, _b, gw) = two_backends().await;
    let token = clients::token("pat");
    // Neither request is answered until both are outstanding.
    let recorder = Recorder {
        sampling_barrier: Some(Arc::new(tokio::sync::Barrier::new(2))),
        ..Default::default()
    };
    let client = clients::mcp_with(recorder.clone(), &gw.proc.url("/mcp"), Some(&token)).await;
    let (from_a, from_b) = tokio::join!(
        client.call_tool(tool_call("alpha-test_sampling", json!({"prompt": "for alpha"}))),
        client.call_tool(tool_call("bravo-test_sampling", json!({"prompt": "for bravo"}))),
    );
    assert_eq!(first_text(&from_a.unwrap()), "LLM response: sampled: for alpha");
    assert_eq!(first_text(&from_b.unwrap()), "LLM response: sampled: for bravo");
    assert_eq!(recorder.sampled.lock().unwrap().len(), 2);
    client.cancel().await.unwrap();
}

/// One `tools/call` of `test_sampling` on a raw session: the stream, and the
/// request the backend asked, as the client sees it.
async fn ask_raw(raw: &RawMcp, sid: &str) -> (Events, Value) {
    let body = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                      "params": {"name": "alpha-test_sampling", "arguments": {"prompt": "raw"}}});
    let res = raw.post(body.to_string(), &[("mcp-session-id", sid)]).await;
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut events = Events::of(res);
    let asked = events.next_message().await;
    (events, asked)
}

#[tokio::test]
async fn answers_are_routed_by_sealed_id_and_foreign_ids_refused() {
    let (a, _b, gw) = two_backends().await;
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("pat")));
    let (sid, _) = raw.initialize_with("2025-11-25", json!({"sampling": {}})).await;
    let (mut events, asked) = ask_raw(&raw, &sid).await;
    assert_eq!(asked["method"], "sampling/createMessage");
    let sealed = asked["id"].as_str().expect("a string id").to_owned();
    assert!(sealed.starts_with("mcpgw-"), "{sealed}");

    let answer = |id: &str| {
        json!({"jsonrpc": "2.0", "id": id,
               "result": {"role": "assistant", "content": {"type": "text", "text": "by hand"}, "model": "m"}})
        .to_string()
    };
    // An id the gateway never sent, and the right id from another session,
    // are refused; neither reaches the backend.
    let (other, _) = raw.initialize_with("2025-11-25", json!({"sampling": {}})).await;
    for (id, session) in [("mcpgw-bogus", &sid), ("7", &sid), (sealed.as_str(), &other)] {
        let res = raw.post(answer(id), &[("mcp-session-id", session)]).await;
        assert_eq!(res.status(), 400, "answering {id}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"]["code"], -32600);
        assert!(
            err["error"]["message"].as_str().unwrap().contains("Unknown request id"),
            "{err}"
        );
    }
    // The real answer, on a POST of its own, completes the call.
    let res = raw.post(answer(&sealed), &[("mcp-session-id", &sid)]).await;
    assert_eq!(res.status(), 202);
    let done = events.next_message().await;
    assert_eq!(done["id"], 5);
    assert_eq!(done["result"]["content"][0]["text"], "LLM response: by hand");
    a.wait_in_flight_at_most(0).await;
}

#[tokio::test]
async fn a_client_that_cannot_sample_gets_the_backend_refused() {
    let (_a, _b, gw) = two_backends().await;
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("pat")));
    let (sid, _) = raw.initialize("2025-11-25").await;
    let body = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                      "params": {"name": "alpha-test_sampling", "arguments": {"prompt": "raw"}}});
    let res = raw.post(body.to_string(), &[("mcp-session-id", &sid)]).await;
    let done = Events::of(res).next_message().await;
    // The gateway answered the backend for the client: the call ends, as a tool error.
    assert_eq!(done["id"], 5, "{done}");
    assert_eq!(done["result"]["isError"], true, "{done}");
    let said = done["result"]["content"][0]["text"].as_str().unwrap();
    assert!(said.contains("does not support sampling/createMessage"), "{said}");
}

#[tokio::test]
async fn a_cancel_or_a_closed_stream_reaches_the_backend() {
    let (a, _b, gw) = two_backends().await;
    let token = clients::token("pat");
    let client = clients::mcp(&gw.proc.url("/mcp"), Some(&token)).await;

    // The client cancels a running call.
    let request = ClientRequest::CallToolRequest(Request::new(tool_call("alpha-slow_stream", json!({"ms": 60_000}))));
    let handle = client
        .send_cancellable_request(request, PeerRequestOptions::no_options())
        .await
        .unwrap();
    a.wait_in_flight(1).await;
    handle.cancel(Some("changed my mind".into())).await.unwrap();
    let cancelled = a.wait_cancelled(1).await;
    assert!(cancelled[0].is_number(), "the backend's own request id: {cancelled:?}");
    a.wait_in_flight_at_most(0).await;

    // A raw client that cannot resume (2024-11-05) drops its response
    // stream mid-call. (Later clients get a resume window: `client_resume.rs`.)
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(token.clone()));
    let (sid, _) = raw.initialize("2024-11-05").await;
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "alpha-slow_stream", "arguments": {"ms": 60_000}}});
    let res = raw.post(body.to_string(), &[("mcp-session-id", &sid)]).await;
    a.wait_in_flight(1).await;
    drop(res);
    let cancelled = a.wait_cancelled(2).await;
    // Its own id in the node's shared backend session (the rmcp client, which
    // can be asked, has a backend session of its own).
    assert!(cancelled[1].is_number(), "the backend's own request id: {cancelled:?}");
    a.wait_in_flight_at_most(0).await;

    // A cancel on a POST of its own, while the call's stream stays open:
    // the backend is told and the stream ends without an answer.
    let body = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                      "params": {"name": "alpha-slow_stream", "arguments": {"ms": 60_000}}});
    let res = raw.post(body.to_string(), &[("mcp-session-id", &sid)]).await;
    a.wait_in_flight(1).await;
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 2}});
    let accepted = raw.post(cancel.to_string(), &[("mcp-session-id", &sid)]).await;
    assert_eq!(accepted.status(), 202);
    // Cancelled before the backend's first byte reached the gateway, the POST
    // gets a -32800 error; after, its stream ends without an answer.
    if res.headers()["content-type"] == "text/event-stream" {
        assert!(Events::of(res).try_next().await.is_none(), "no answer after a cancel");
    } else {
        assert_eq!(res.json::<Value>().await.unwrap()["error"]["code"], -32800);
    }
    a.wait_cancelled(3).await;
    a.wait_in_flight_at_most(0).await;

    // Other calls are unaffected.
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        client.call_tool(tool_call("alpha-echo", json!({"text": "still here"}))),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(first_text(&r), "still here");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_backend_stream_closed_mid_call_is_resumed_for_the_client() {
    let (a, _b, gw) = two_backends().await;
    let client = clients::mcp(&gw.proc.url("/mcp"), Some(&clients::token("pat"))).await;
    // The backend sends a priming event, closes the stream, and owes the
    // result to a GET with Last-Event-ID; the client sees one plain answer.
    let done = client
        .call_tool(tool_call("alpha-test_reconnection", json!({})))
        .await
        .unwrap();
    assert_eq!(first_text(&done), "Reconnection test completed");
    a.wait_in_flight_at_most(0).await;
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_change_of_the_clients_roots_reaches_the_backends() {
    let (a, _b, gw) = two_backends().await;
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("pat")));
    let (sid, _) = raw
        .initialize_with("2025-11-25", json!({"roots": {"listChanged": true}}))
        .await;
    let with_sid = [("mcp-session-id", sid.as_str())];
    // The node has a session with alpha once it called it.
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "alpha-echo", "arguments": {"text": "hi"}}});
    let res = raw.post(call.to_string(), &with_sid).await;
    assert_eq!(res.status(), 200);
    res.bytes().await.unwrap();
    let changed = json!({"jsonrpc": "2.0", "method": "notifications/roots/list_changed"});
    assert_eq!(raw.post(changed.to_string(), &with_sid).await.status(), 202);
    a.wait_notified("notifications/roots/list_changed").await;
}

/// A 2025-03-26 batch whose call asks the client something is answered as
/// an event stream, so the request reaches the client, and its answer the
/// backend, before the batch's responses end the stream.
#[tokio::test]
async fn a_batch_member_that_asks_the_client_turns_the_answer_into_a_stream() {
    let (_a, _b, gw) = two_backends().await;
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("pat")));
    let (sid, _) = raw.initialize_with("2025-03-26", json!({"sampling": {}})).await;
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
         "params": {"name": "alpha-test_sampling", "arguments": {"prompt": "in a batch"}}},
        {"jsonrpc": "2.0", "id": 2, "method": "ping"},
    ]);
    let res = raw.post(batch.to_string(), &[("mcp-session-id", &sid)]).await;
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut events = Events::of(res);
    let mut answered = Vec::new();
    while answered.len() < 2 {
        let msg = events.next_message().await;
        if msg["method"] == "sampling/createMessage" {
            let answer = json!({"jsonrpc": "2.0", "id": msg["id"],
                "result": {"role": "assistant", "content": {"type": "text", "text": "batched"}, "model": "m"}});
            let res = raw.post(answer.to_string(), &[("mcp-session-id", &sid)]).await;
            assert_eq!(res.status(), 202);
        } else {
            answered.push(msg);
        }
    }
    answered.sort_by_key(|m| m["id"].as_i64());
    assert_eq!(
        answered[0]["result"]["content"][0]["text"], "LLM response: batched",
        "{answered:?}"
    );
    assert_eq!(answered[1]["result"], json!({}), "{answered:?}");
    assert!(events.try_next().await.is_none(), "the stream ends after the responses");
}

/// A backend answering JSON sends its headers first: a cancel while the
/// body is on its way still reaches it, and the client gets -32800.
#[tokio::test]
async fn a_cancel_while_a_json_answer_is_read_reaches_the_backend() {
    let (a, _b, gw) = two_backends().await;
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("pat")));
    let (sid, _) = raw.initialize("2025-11-25").await;
    let with_sid = [("mcp-session-id", sid.as_str())];
    let call = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                      "params": {"name": "alpha-slow_json", "arguments": {"ms": 60_000}}});
    let (answer, cancelled) = tokio::join!(raw.post(call.to_string(), &with_sid), async {
        a.wait_in_flight(1).await;
        let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 4}});
        assert_eq!(raw.post(cancel.to_string(), &with_sid).await.status(), 202);
        a.wait_cancelled(1).await
    });
    assert!(cancelled[0].is_number(), "the backend's own id: {cancelled:?}");
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(answer["error"]["code"], -32800, "{answer}");
    assert_eq!(answer["id"], 4, "{answer}");
}
