//! Backends of the stateless era (MCP 2026-07-28): found so by discovery
//! (`initialize` refused, `server/discover` answered), then called without a session,
//! each request with its own `_meta` and the headers that mirror it —
//! `Mcp-Name` as the backend names the tool (not the gateway's prefixed
//! name), a tool's `Mcp-Param-*` for arguments it annotates — which the
//! fixture checks as a server of that revision must. A tool whose header
//! annotation is invalid is left out. Clients of both eras call through.
//! The backend's own `input_required` rounds pass through to a 2026-07-28
//! client with the backend's `requestState` sealed inside the gateway's,
//! so a retry on any node reaches the backend with its state byte for byte.
//! A client of an earlier era is asked the backend's rounds by the
//! gateway itself, as real requests on its session, answered on any node,
//! and the backend is called again with the answers and its own state.
//! A server of both eras stays in sessions, where every tool works. The
//! lists the gateway merges carry the shortest TTL of their parts, and are
//! private where any part is.

use mcpgw_proto::v1 as pb;
use mcpgw_tests::{
    clients::{self, Events, RawMcp, backend, first_text, tool_call, tool_names},
    fixture::{Fixture, FixtureConfig, FixtureEra, STATELESS_VERSION},
    harness::{Served, redis},
    proxy::RoundRobin,
};
use serde_json::{Value, json};

fn era(era: FixtureEra) -> FixtureConfig {
    FixtureConfig {
        era,
        ..Default::default()
    }
}

fn text_of(msg: &Value) -> &str {
    msg["result"]["content"][0]["text"].as_str().unwrap_or_default()
}

fn accept(content: Value) -> Value {
    json!({"action": "accept", "content": content})
}

/// `params` retried with `answers` and the state of the round `asked`.
fn retry(mut params: Value, asked: &Value, answers: Value) -> Value {
    params["inputResponses"] = answers;
    if let Some(state) = asked["result"].get("requestState") {
        params["requestState"] = state.clone();
    }
    params
}

#[tokio::test]
async fn a_backend_of_the_stateless_era_is_called_without_a_session_its_headers_mirrored() {
    let fx = Fixture::start(era(FixtureEra::Stateless)).await;
    let gw = Served::start(&[]).await.with_backends(&[("fx", fx.url())]).await;
    assert_eq!(backend(&gw.admin, "fx").await.protocol_version, STATELESS_VERSION);
    let token = clients::token("pat");

    let names = tool_names(&gw.proc.url("/mcp"), &token).await;
    assert!(names.iter().any(|n| n == "fx-regional_echo"), "{names:?}");
    assert!(
        !names.iter().any(|n| n.contains("badly_annotated")),
        "a tool with an invalid header annotation is left out: {names:?}"
    );

    // A client of the session era: the gateway's session, the backend's none.
    let legacy = clients::mcp(&gw.proc.url("/mcp"), Some(&token)).await;
    let echoed = legacy
        .call_tool(tool_call("fx-echo", json!({"text": "hi"})))
        .await
        .expect("echo");
    assert_eq!(first_text(&echoed), "hi");
    for region in ["eu-west", "zürich"] {
        let regional = legacy
            .call_tool(tool_call("fx-regional_echo", json!({"region": region, "text": "hi"})))
            .await
            .expect("regional_echo: the backend checked its headers");
        assert_eq!(first_text(&regional), format!("{region}: hi"));
    }
    // A session client that declared it answers nothing is not asked: the
    // backend was told so, and refuses the call with its reason.
    let plain = clients::mcp_plain(&gw.proc.url("/mcp"), Some(&token)).await;
    let asks = plain
        .call_tool(tool_call("fx-test_input_required_result_elicitation", json!({})))
        .await
        .expect_err("nobody can answer the backend's round");
    assert!(asks.to_string().contains("did not declare"), "{asks}");
    plain.cancel().await.unwrap();
    let seen = fx.seen_headers();
    for header in [
        "mcp-method: tools/call",
        "mcp-name: regional_echo",
        "mcp-param-region: eu-west",
        "mcp-param-region: =?base64?esO8cmljaA==?=",
        "mcp-protocol-version: 2026-07-28",
    ] {
        assert!(seen.iter().any(|h| h == header), "{header} not among {seen:?}");
    }
    assert!(!seen.iter().any(|h| h.starts_with("mcp-session-id")), "{seen:?}");
    legacy.cancel().await.unwrap();

    // A client of the stateless era, reading and rendering too.
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(token));
    let caps = json!({});
    let call = json!({"name": "fx-echo", "arguments": {"text": "modern"}});
    let done = raw.stateless(1, "tools/call", call, caps.clone()).await;
    assert_eq!(done["result"]["resultType"], "complete", "{done}");
    assert_eq!(text_of(&done), "modern");
    let read = json!({"uri": "test://static-text"});
    let read = raw.stateless(2, "resources/read", read, caps.clone()).await;
    assert!(read["result"]["contents"][0]["text"].is_string(), "{read}");
    assert!(fx.seen_headers().iter().any(|h| h == "mcp-name: test://static-text"));
    let prompt = json!({"name": "fx-test_simple_prompt"});
    let prompt = raw.stateless(3, "prompts/get", prompt, caps).await;
    assert!(prompt["result"]["messages"].is_array(), "{prompt}");
    assert!(fx.seen_headers().iter().any(|h| h == "mcp-name: test_simple_prompt"));

    // The catalog follows the backend's list changes, told on a
    // subscriptions/listen stream rather than a session's.
    fx.wait_listeners(1).await;
    assert_eq!(fx.add_tool("late_tool").await, 1);
    let url = gw.proc.url("/mcp");
    let token = clients::token("pat");
    mcpgw_tests::harness::eventually("the added tool to be served", || {
        let (url, token) = (url.clone(), token.clone());
        async move {
            tool_names(&url, &token)
                .await
                .contains(&"fx-late_tool".to_owned())
                .then_some(())
        }
    })
    .await;

    assert_eq!(fx.initialized(), 0, "a stateless backend is never initialized");

    // Progress streams through; without a log level the backend logs nothing.
    let steps = raw
        .stateless(
            4,
            "tools/call",
            json!({"name": "fx-progress", "arguments": {"steps": 2}}),
            json!({}),
        )
        .await;
    assert_eq!(text_of(&steps), "done after 2 steps", "{steps}");
}

#[tokio::test]
async fn a_backend_of_both_eras_stays_in_sessions_where_every_tool_works() {
    let fx = Fixture::start(era(FixtureEra::Both)).await;
    let gw = Served::start(&[]).await.with_backends(&[("fx", fx.url())]).await;
    assert_eq!(backend(&gw.admin, "fx").await.protocol_version, "2025-11-25");
    let legacy = clients::mcp(&gw.proc.url("/mcp"), Some(&clients::token("pat"))).await;
    let done = legacy
        .call_tool(tool_call("fx-test_sampling", json!({"prompt": "in a session"})))
        .await
        .expect("a tool that asks mid-call");
    assert_eq!(first_text(&done), "LLM response: sampled: in a session");
    legacy.cancel().await.unwrap();
    assert!(fx.initialized() > 0);
    assert!(!fx.seen_headers().iter().any(|h| h.starts_with("mcp-param-")));
}

#[tokio::test]
async fn a_backends_own_rounds_pass_through_to_a_modern_client_on_any_node() {
    let fx = Fixture::start(era(FixtureEra::Stateless)).await;
    let nodes = Served::two_nodes(&[], &[("fx", fx.url())]).await;
    let (a, rr) = (&nodes.a, &nodes.balancer);
    let raw = nodes.raw(Some(clients::token("pat")));
    let caps = json!({"elicitation": {}, "sampling": {}, "roots": {}});
    let send = |id: u64, method: &'static str, params: Value| {
        let (raw, caps) = (raw.clone(), caps.clone());
        async move { raw.stateless(id, method, params, caps).await }
    };

    // The backend's keys and requests, as it wrote them; no state of its
    // own, but the gateway's all the same.
    let elicit = json!({"name": "fx-test_input_required_result_elicitation", "arguments": {}});
    let asked = send(1, "tools/call", elicit.clone()).await;
    assert_eq!(asked["result"]["resultType"], "input_required", "{asked}");
    let request = &asked["result"]["inputRequests"]["user_name"];
    assert_eq!(request["method"], "elicitation/create", "{asked}");
    assert_eq!(request["params"]["message"], "What is your name?");
    assert!(asked["result"]["requestState"].is_string(), "{asked}");
    let answer = json!({"user_name": accept(json!({"name": "Ada"}))});
    let done = send(2, "tools/call", retry(elicit.clone(), &asked, answer.clone())).await;
    assert_eq!(text_of(&done), "Hello, Ada!", "{done}");
    assert_eq!(rr.given(), [1, 1], "each request went to the other node");

    // State of the backend's own: sealed inside the gateway's, back to the
    // backend exactly (its keyed hash would notice a changed byte).
    let confirm = json!({"name": "fx-test_input_required_result_request_state", "arguments": {}});
    let asked = send(3, "tools/call", confirm.clone()).await;
    let issued = fx.request_states();
    let theirs = issued.last().expect("the backend issued a state");
    let ours = asked["result"]["requestState"].as_str().expect("a state");
    assert!(
        !ours.contains(theirs.as_str()),
        "the backend's state is not shown as it is"
    );
    let answer = json!({"confirm": accept(json!({"ok": true}))});
    let done = send(4, "tools/call", retry(confirm, &asked, answer)).await;
    assert_eq!(text_of(&done), "state-ok: confirmed ok=true", "{done}");

    // Three rounds, each state the backend's newest.
    let rounds = json!({"name": "fx-test_input_required_result_multi_round", "arguments": {}});
    let first = send(5, "tools/call", rounds.clone()).await;
    let answer = json!({"step1": accept(json!({"name": "Ada"}))});
    let second = send(6, "tools/call", retry(rounds.clone(), &first, answer)).await;
    assert!(second["result"]["inputRequests"]["step2"].is_object(), "{second}");
    let answer = json!({"step2": accept(json!({"color": "blue"}))});
    let third = send(7, "tools/call", retry(rounds, &second, answer)).await;
    assert_eq!(text_of(&third), "Ada likes blue", "{third}");

    // A prompt's rounds.
    let prompt = json!({"name": "fx-test_input_required_result_prompt"});
    let asked = send(8, "prompts/get", prompt.clone()).await;
    let answer = json!({"user_context": accept(json!({"context": "tests"}))});
    let done = send(9, "prompts/get", retry(prompt, &asked, answer)).await;
    assert_eq!(
        done["result"]["messages"][0]["content"]["text"], "Use this context: tests",
        "{done}"
    );

    // A state altered, or another caller's, never reaches the backend.
    let asked = send(10, "tools/call", elicit.clone()).await;
    let answer = json!({"user_name": accept(json!({"name": "Ada"}))});
    let mut tampered = retry(elicit.clone(), &asked, answer.clone());
    tampered["requestState"] = json!(format!("{}x", asked["result"]["requestState"].as_str().unwrap()));
    let calls = fx.calls("test_input_required_result_elicitation");
    let refused = send(11, "tools/call", tampered).await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    let mallory = RawMcp::new(a.proc.url("/mcp"), Some(clients::token("mallory")));
    let foreign = mallory
        .stateless(12, "tools/call", retry(elicit, &asked, answer), caps.clone())
        .await;
    assert_eq!(foreign["error"]["code"], -32602, "{foreign}");
    let message = foreign["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("another caller"), "{message}");
    assert_eq!(fx.calls("test_input_required_result_elicitation"), calls);

    assert_eq!(fx.initialized(), 0, "no session was opened on the backend");
}

#[tokio::test]
async fn a_backends_own_rounds_are_asked_of_a_client_of_an_earlier_era_on_any_node() {
    let Some(fleet) = redis().await else { return };
    let fx = Fixture::start(era(FixtureEra::Stateless)).await;
    let nodes = Served::two_nodes(&fleet.env(), &[("fx", fx.url())]).await;
    let rr = &nodes.balancer;
    let token = clients::token("pat");

    // The official Rust SDK's client, at 2025-11-25: the backend's three
    // inputs of one round asked of it at once, its answers given back.
    let sdk = clients::mcp_over(RoundRobin::client(), &rr.url("/mcp"), Some(&token)).await;
    let sampled = sdk
        .call_tool(tool_call("fx-test_input_required_result_sampling", json!({})))
        .await
        .unwrap();
    assert_eq!(
        first_text(&sampled),
        "The model said: sampled: What is the capital of France?"
    );
    let all = sdk
        .call_tool(tool_call("fx-test_input_required_result_multiple_inputs", json!({})))
        .await
        .unwrap();
    let said = first_text(&all);
    assert!(
        said.starts_with("sampled: Generate a greeting") && said.ends_with("; roots: []"),
        "{said}"
    );
    sdk.cancel().await.unwrap();

    // A raw session: the requests as the client sees them, each answer
    // POSTed to the node that is not relaying the call.
    let raw = nodes.raw(Some(token));
    let caps = json!({"elicitation": {}, "sampling": {}, "roots": {}});
    let (sid, _) = raw.initialize_with("2025-11-25", caps).await;
    let sid = sid.as_str();
    let call = |id: u64, name: &str| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": format!("fx-{name}"), "arguments": {}, "_meta": {"progressToken": "p"}}})
        .to_string()
    };
    let answer = |asked: &Value, outcome: Value| {
        let mut answer = json!({"jsonrpc": "2.0", "id": asked["id"]});
        let (k, v) = outcome.as_object().unwrap().iter().next().unwrap();
        answer[k] = v.clone();
        answer.to_string()
    };
    let open = |body: String| {
        let raw = raw.clone();
        async move {
            let res = raw.post(body, &[("mcp-session-id", sid)]).await;
            assert_eq!(res.headers()["content-type"], "text/event-stream");
            Events::of(res)
        }
    };

    // The backend's own state goes back byte for byte (its keyed hash would
    // notice), over two rounds: the first answer lands on the node that is
    // not relaying the call (and reaches it through the fleet), the second
    // on the one that is.
    let took = |before: Vec<usize>| {
        let after = rr.given();
        (0..after.len())
            .find(|&i| after[i] > before[i])
            .expect("a node took it")
    };
    let before = rr.given();
    let mut events = open(call(1, "test_input_required_result_multi_round")).await;
    let relaying = took(before);
    for (question, field, value, remote) in [
        ("Step 1: What is your name?", "name", "Ada", true),
        ("Step 2: What is your favorite color?", "color", "blue", false),
    ] {
        let asked = events.next_message().await;
        assert_eq!(asked["method"], "elicitation/create", "{asked}");
        assert_eq!(asked["params"]["message"], question, "{asked}");
        assert!(asked["id"].as_str().unwrap().starts_with("mcpgw-in-"), "{asked}");
        let given = rr.given();
        let res = raw
            .post(
                answer(&asked, json!({"result": accept(json!({field: value}))})),
                &[("mcp-session-id", sid)],
            )
            .await;
        assert_eq!(res.status(), 202);
        assert_eq!(took(given) != relaying, remote);
    }
    let done = events.next_message().await;
    assert_eq!(done["id"], 1, "{done}");
    assert_eq!(text_of(&done), "Ada likes blue", "{done}");

    // The client refusing what it was asked ends the call with its reason.
    let mut events = open(call(2, "test_input_required_result_elicitation")).await;
    let asked = events.next_message().await;
    let refusal = json!({"error": {"code": -1, "message": "the user closed the dialog"}});
    raw.post(answer(&asked, refusal), &[("mcp-session-id", sid)]).await;
    let failed = events.next_message().await;
    assert_eq!(failed["id"], 2, "{failed}");
    let message = failed["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("refused the elicitation/create") && message.contains("the user closed the dialog"),
        "{failed}"
    );

    // An answer to an input asked of another session is unknown here.
    let mut events = open(call(3, "test_input_required_result_elicitation")).await;
    let asked = events.next_message().await;
    let (other, _) = raw.initialize_with("2025-11-25", json!({"elicitation": {}})).await;
    let res = raw
        .post(
            answer(&asked, json!({"result": accept(json!({"name": "Eve"}))})),
            &[("mcp-session-id", &other)],
        )
        .await;
    assert_eq!(res.status(), 400);
    raw.post(
        answer(&asked, json!({"result": accept(json!({"name": "Ada"}))})),
        &[("mcp-session-id", sid)],
    )
    .await;
    assert_eq!(text_of(&events.next_message().await), "Hello, Ada!");

    assert_eq!(fx.initialized(), 0, "no session was opened on the backend");
}

#[tokio::test]
async fn a_listen_stream_follows_a_stateless_backends_resource_until_it_closes() {
    let fx = Fixture::start(era(FixtureEra::Stateless)).await;
    let gw = Served::start(&[]).await.with_backends(&[("fx", fx.url())]).await;
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("pat")));
    let listen = |id: u64, uris: Value| {
        let raw = raw.clone();
        async move {
            let meta = json!({
                "io.modelcontextprotocol/protocolVersion": STATELESS_VERSION,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
            });
            let body = json!({"jsonrpc": "2.0", "id": id, "method": "subscriptions/listen",
                              "params": {"notifications": {"resourceSubscriptions": uris}, "_meta": meta}});
            let headers = [
                ("mcp-protocol-version", STATELESS_VERSION),
                ("mcp-method", "subscriptions/listen"),
            ];
            let mut events = Events::of(raw.post(body.to_string(), &headers).await);
            let ack = events.next_message().await;
            assert_eq!(ack["method"], "notifications/subscriptions/acknowledged", "{ack}");
            (events, ack)
        }
    };

    // Two client streams on the node; one upstream listen for both.
    let (mut first, ack) = listen(1, json!(["test://watched-resource"])).await;
    assert_eq!(
        ack["params"]["notifications"]["resourceSubscriptions"],
        json!(["test://watched-resource"]),
        "{ack}"
    );
    let (mut second, ack) = listen(2, json!(["test://watched-resource", "test://static-text"])).await;
    let both = &ack["params"]["notifications"]["resourceSubscriptions"];
    assert_eq!(both, &json!(["test://watched-resource", "test://static-text"]), "{ack}");
    mcpgw_tests::harness::eventually("one upstream listen for both", || {
        let now = fx.listened();
        async move { (now == ["test://static-text", "test://watched-resource"]).then_some(()) }
    })
    .await;

    fx.update_resource("test://static-text").await;
    fx.update_resource("test://watched-resource").await;
    let to_second = second.next_message().await;
    assert_eq!(to_second["params"]["uri"], "test://static-text", "{to_second}");
    assert_eq!(
        to_second["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        2
    );
    let to_first = first.next_message().await;
    assert_eq!(to_first["method"], "notifications/resources/updated", "{to_first}");
    assert_eq!(
        to_first["params"]["uri"], "test://watched-resource",
        "only what it asked for"
    );
    assert_eq!(to_first["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], 1);

    // A session client of an earlier era subscribes as it always has; the
    // update reaches its standalone stream.
    let (sid, _) = raw.initialize("2025-11-25").await;
    let mut standalone = Events::of(raw.open_stream(&sid).await);
    let subscribe = json!({"jsonrpc": "2.0", "id": 3, "method": "resources/subscribe",
                           "params": {"uri": "test://watched-resource"}});
    let res = raw.post(subscribe.to_string(), &[("mcp-session-id", &sid)]).await;
    assert_eq!(res.json::<Value>().await.unwrap()["result"], json!({}));
    fx.update_resource("test://watched-resource").await;
    let heard = standalone.next_message().await;
    assert_eq!(heard["method"], "notifications/resources/updated", "{heard}");
    assert_eq!(heard["params"]["uri"], "test://watched-resource");
    assert_eq!(first.next_message().await["params"]["uri"], "test://watched-resource");
    assert_eq!(second.next_message().await["params"]["uri"], "test://watched-resource");
    let unsubscribe = json!({"jsonrpc": "2.0", "id": 4, "method": "resources/unsubscribe",
                             "params": {"uri": "test://watched-resource"}});
    let res = raw.post(unsubscribe.to_string(), &[("mcp-session-id", &sid)]).await;
    assert_eq!(res.json::<Value>().await.unwrap()["result"], json!({}));

    // Each closed stream lets go of what only it wanted; the last one
    // ends the upstream listen.
    drop(second);
    mcpgw_tests::harness::eventually("the backend to follow one resource", || {
        let now = fx.subscriptions();
        async move { (now == ["test://watched-resource".to_owned()].into()).then_some(()) }
    })
    .await;
    drop(first);
    mcpgw_tests::harness::eventually("the backend to follow nothing", || {
        let now = fx.subscriptions();
        async move { now.is_empty().then_some(()) }
    })
    .await;
    assert_eq!(fx.initialized(), 0);
}

#[tokio::test]
async fn the_lists_the_gateway_merges_take_the_shortest_ttl_and_are_private_if_any_part_is() {
    let legacy = Fixture::start(FixtureConfig::default()).await;
    let modern = Fixture::start(era(FixtureEra::Stateless)).await;
    let gw = Served::start(&[])
        .await
        .with_backends(&[("old", legacy.url()), ("new", modern.url())])
        .await;
    let token = clients::token("pat");
    let hints = |msg: &Value| (msg["result"]["ttlMs"].clone(), msg["result"]["cacheScope"].clone());
    let gateway_ttl = json!(mcpgw_data_plane::cache::hint::GATEWAY_LIST_TTL_MS);

    // Both backends: the stateless one keeps its tools a minute (longer
    // than the gateway's own bound) and its resources 5 s, per caller.
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(token.clone()));
    let tools = raw.stateless(1, "tools/list", json!({}), json!({})).await;
    assert_eq!(hints(&tools), (gateway_ttl.clone(), json!("public")), "{tools}");
    let resources = raw.stateless(2, "resources/list", json!({}), json!({})).await;
    assert_eq!(
        hints(&resources),
        (json!(mcpgw_tests::fixture::PRIVATE_TTL_MS), json!("private")),
        "{resources}"
    );
    let discover = raw.stateless(3, "server/discover", json!({}), json!({})).await;
    assert_eq!(hints(&discover), (gateway_ttl.clone(), json!("public")), "{discover}");

    // A virtual server of the earlier-era backend alone says only the
    // gateway's own bound: nothing of it is private.
    let admin = gw.admin.clone();
    let old = pb::ListItemsRequest {
        kind: pb::ItemKind::Resource.into(),
        backend: "old".into(),
        page_size: 1000,
        ..Default::default()
    };
    let items = admin.clone().list_items(old).await.unwrap().into_inner().items;
    let member = pb::ServerMember {
        item_id: items
            .into_iter()
            .find(|i| i.name == "test://watched-resource")
            .unwrap()
            .id,
        ..Default::default()
    };
    let req = pb::CreateServerRequest {
        name: "old-only".into(),
        members: vec![member],
        ..Default::default()
    };
    mcpgw_tests::harness::server_served(&admin, req).await;
    let raw = RawMcp::new(gw.proc.url("/servers/old-only/mcp"), Some(token));
    let resources = raw.stateless(4, "resources/list", json!({}), json!({})).await;
    assert_eq!(
        resources["result"]["resources"].as_array().map(Vec::len),
        Some(1),
        "{resources}"
    );
    assert_eq!(hints(&resources), (gateway_ttl, json!("public")), "{resources}");
}
