//! Requests a backend sends on its standalone stream (`GET`), not on a
//! call's stream, as servers on the official SDKs do when they ask through
//! the session object: a client that declared it answers such requests gets
//! backend sessions of its own, so whatever arrives there is that client's.
//! They reach it on its standalone stream, during a call and while none
//! runs, from whichever node relays them; two clients asking at once each
//! get only their own. Clients that can be asked nothing keep sharing the
//! node's one backend session. The same matrix over WebSocket, legacy SSE
//! and the stdio bridge is in `matrix.rs`.

use std::sync::Arc;

use mcpgw_tests::{
    clients::{self, Events, RawMcp, Recorder, first_text, tool_call},
    fixture::{Fixture, FixtureConfig},
    harness::{Served, redis},
};
use serde_json::{Value, json};

async fn one_backend() -> (Fixture, Served) {
    let (fixtures, gw) = Served::with_fixtures(&["alpha"]).await;
    let [a]: [Fixture; 1] = fixtures.try_into().ok().expect("one fixture");
    (a, gw)
}

#[tokio::test]
async fn two_clients_asked_on_the_standalone_stream_each_get_only_their_own() {
    let (_a, gw) = one_backend().await;
    let token = clients::token("pat");
    // Neither request is answered until both are outstanding.
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let recorder = || Recorder {
        sampling_barrier: Some(barrier.clone()),
        ..Default::default()
    };
    let (one, two) = (recorder(), recorder());
    let url = gw.proc.url("/mcp");
    let first = clients::mcp_with(one.clone(), &url, Some(&token)).await;
    let second = clients::mcp_with(two.clone(), &url, Some(&token)).await;
    let (from_first, from_second) = tokio::join!(
        first.call_tool(tool_call("alpha-standalone_sampling", json!({"prompt": "for one"}))),
        second.call_tool(tool_call("alpha-standalone_sampling", json!({"prompt": "for two"}))),
    );
    assert_eq!(first_text(&from_first.unwrap()), "LLM response: sampled: for one");
    assert_eq!(first_text(&from_second.unwrap()), "LLM response: sampled: for two");
    assert_eq!(*one.sampled.lock().unwrap(), ["for one"]);
    assert_eq!(*two.sampled.lock().unwrap(), ["for two"]);

    // Elicitation, roots and ping the same way.
    let elicited = first
        .call_tool(tool_call("alpha-standalone_elicitation", json!({"message": "who?"})))
        .await
        .unwrap();
    assert!(first_text(&elicited).contains("ada@example.com"), "{elicited:?}");
    let roots = first
        .call_tool(tool_call("alpha-standalone_roots", json!({})))
        .await
        .unwrap();
    assert_eq!(first_text(&roots), "roots: []");
    let pinged = first
        .call_tool(tool_call("alpha-standalone_ping", json!({})))
        .await
        .unwrap();
    assert_eq!(first_text(&pinged), "pong");
    first.cancel().await.unwrap();
    second.cancel().await.unwrap();
}

#[tokio::test]
async fn a_request_while_no_call_runs_reaches_the_client_that_called() {
    let (a, gw) = one_backend().await;
    let recorder = Recorder::default();
    let client = clients::mcp_with(recorder.clone(), &gw.proc.url("/mcp"), Some(&clients::token("pat"))).await;
    let echoed = client
        .call_tool(tool_call("alpha-echo", json!({"text": "hi"})))
        .await
        .unwrap();
    assert_eq!(first_text(&echoed), "hi");
    a.wait_in_flight_at_most(0).await;
    let params = json!({"messages": [{"role": "user", "content": {"type": "text", "text": "later"}}], "maxTokens": 5});
    let answer = a.ask_last_caller("sampling/createMessage", params).await;
    assert_eq!(answer["result"]["content"]["text"], "sampled: later", "{answer}");
    assert_eq!(*recorder.sampled.lock().unwrap(), ["later"]);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn only_clients_that_can_be_asked_get_backend_sessions_of_their_own() {
    let (a, gw) = one_backend().await;
    // The control plane's listening session is open.
    a.wait_listeners(1).await;
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("pat")));
    let echo = |id: u64| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": "alpha-echo", "arguments": {"text": "x"}}})
        .to_string()
    };
    let call = |sid: String, id: u64| {
        let raw = raw.clone();
        async move {
            let res = raw.post(echo(id), &[("mcp-session-id", &sid)]).await;
            let answer: Value = res.json().await.unwrap();
            assert_eq!(answer["result"]["content"][0]["text"], "x", "{answer}");
        }
    };
    let before = a.initialized();

    // Two clients that declared nothing: one shared backend session.
    let (plain_1, _) = raw.initialize("2025-11-25").await;
    let (plain_2, _) = raw.initialize("2025-06-18").await;
    call(plain_1.clone(), 1).await;
    call(plain_2.clone(), 2).await;
    call(plain_1, 3).await;
    assert_eq!(a.initialized(), before + 1, "the shared session only");

    // Each client that can be asked: a session of its own, reused.
    let (asked_1, _) = raw.initialize_with("2025-11-25", json!({"sampling": {}})).await;
    let (asked_2, _) = raw.initialize_with("2025-11-25", json!({"roots": {}})).await;
    call(asked_1.clone(), 4).await;
    call(asked_2.clone(), 5).await;
    call(asked_1.clone(), 6).await;
    assert_eq!(a.initialized(), before + 3, "one more per client that can be asked");

    // Ending the client session ends its backend session.
    let open = a.sessions_open();
    let res = raw
        .http
        .delete(&raw.url)
        .bearer_auth(raw.token.as_deref().unwrap())
        .header("mcp-session-id", &asked_1)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let fx = &a;
    mcpgw_tests::harness::eventually("the client's backend session to end", move || async move {
        (fx.sessions_open() == open - 1).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_request_the_client_cannot_answer_is_refused_to_the_backend() {
    let (_a, gw) = one_backend().await;
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("pat")));
    let (sid, _) = raw.initialize_with("2025-11-25", json!({"sampling": {}})).await;
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                      "params": {"name": "alpha-standalone_roots", "arguments": {}}});
    let res = raw.post(call.to_string(), &[("mcp-session-id", &sid)]).await;
    let done = Events::of(res).next_message().await;
    assert_eq!(done["result"]["isError"], true, "{done}");
    let said = done["result"]["content"][0]["text"].as_str().unwrap();
    assert!(said.contains("does not support roots/list"), "{said}");
}

#[tokio::test]
async fn a_node_holds_a_bounded_number_of_client_owned_sessions() {
    let (fixtures, gw) = Served::with_fixtures_env(&["alpha"], &[("MCPGW_CLIENT_UPSTREAM_MAX", "1")]).await;
    let [a]: [Fixture; 1] = fixtures.try_into().ok().expect("one fixture");
    a.wait_listeners(1).await;
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("pat")));
    let call = |sid: &str, tool: &str| {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                          "params": {"name": tool, "arguments": {"text": "x", "ms": 60_000}}});
        let raw = raw.clone();
        let sid = sid.to_owned();
        async move { raw.post(body.to_string(), &[("mcp-session-id", &sid)]).await }
    };
    let (one, _) = raw.initialize_with("2025-11-25", json!({"sampling": {}})).await;
    let (two, _) = raw.initialize_with("2025-11-25", json!({"sampling": {}})).await;
    let answered = |res: reqwest::Response| async move { res.json::<Value>().await.unwrap() };
    assert_eq!(
        answered(call(&one, "alpha-echo").await).await["result"]["content"][0]["text"],
        "x"
    );
    let (open, started) = (a.sessions_open(), a.initialized());

    // The second client's session takes the place of the first, idle one.
    assert_eq!(
        answered(call(&two, "alpha-echo").await).await["result"]["content"][0]["text"],
        "x"
    );
    assert_eq!(a.initialized(), started + 1);
    let fx = &a;
    mcpgw_tests::harness::eventually("the idle session to end", move || async move {
        (fx.sessions_open() == open).then_some(())
    })
    .await;

    // While the first client's call runs through its (new) session, there
    // is no room for the second's: refused, not queued.
    let running = call(&one, "alpha-slow_stream").await;
    a.wait_in_flight(1).await;
    let refused = answered(call(&two, "alpha-echo").await).await;
    assert_eq!(refused["error"]["code"], -32010, "{refused}");
    assert!(
        refused["error"]["message"].as_str().unwrap().contains("all in use"),
        "{refused}"
    );
    drop(running);
}

#[tokio::test]
async fn what_the_client_posts_to_another_node_reaches_its_own_backend_session() {
    let Some(env) = redis().await else { return };
    let fx = Fixture::start(FixtureConfig::default()).await;
    let a = Served::start(&env.env()).await.with_backends(&[("fx", fx.url())]).await;
    let b = a.node("dp-b", &env.env()).await;
    let token = clients::token("pat");
    let on_a = RawMcp::new(a.proc.url("/mcp"), Some(token.clone()));
    let on_b = RawMcp::new(b.url("/mcp"), Some(token));
    let caps = json!({"sampling": {}, "roots": {"listChanged": true}});
    let (sid, _) = on_a.initialize_with("2025-11-25", caps).await;
    let with_sid = [("mcp-session-id", sid.as_str())];

    // The client's standalone stream is on B; the call goes to A.
    let mut standalone = Events::of(on_b.open_stream(&sid).await);
    let primed = standalone.next().await;
    assert!(primed.data.is_empty(), "a priming event first: {primed:?}");
    let call = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                      "params": {"name": "fx-standalone_sampling", "arguments": {"prompt": "across"}}});
    let running = on_a.post(call.to_string(), &with_sid).await;
    assert_eq!(running.headers()["content-type"], "text/event-stream");
    let asked = standalone.next_message().await;
    assert_eq!(asked["method"], "sampling/createMessage", "{asked}");
    let sealed = asked["id"].as_str().expect("a sealed id").to_owned();

    // Answered through B: the call relayed by A completes.
    let answer = json!({"jsonrpc": "2.0", "id": sealed,
                        "result": {"role": "assistant", "content": {"type": "text", "text": "from b"}, "model": "m"}});
    let res = on_b.post(answer.to_string(), &with_sid).await;
    assert_eq!(res.status(), 202);
    let mut events = Events::of(running);
    let done = events.next_message().await;
    assert_eq!(done["id"], 9);
    assert_eq!(done["result"]["content"][0]["text"], "LLM response: from b", "{done}");

    // Its roots change, said to B (which holds no backend session): the
    // backend session A opened for it hears of it.
    let changed = json!({"jsonrpc": "2.0", "method": "notifications/roots/list_changed"});
    assert_eq!(on_b.post(changed.to_string(), &with_sid).await.status(), 202);
    fx.wait_notified("notifications/roots/list_changed").await;
}
