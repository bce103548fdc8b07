//! Prompts, resources, templates, completion, subscriptions and log levels
//! through the gateway, driven by the official Rust SDK's client: lists come
//! from the snapshot, acts are routed to the backend that owns the item.

#![allow(deprecated)]

use mcpgw_tests::{
    clients::{self, RawMcp},
    fixture::{Fixture, FixtureConfig, catalog::WATCHED},
    harness::{Served, eventually},
};
use rmcp::model::{
    ArgumentInfo, CompleteRequestParams, GetPromptRequestParams, LoggingLevel, PromptReference,
    ReadResourceRequestParams, Reference, ResourceContents, SetLevelRequestParams, SubscribeRequestParams,
    UnsubscribeRequestParams,
};
use serde_json::{Value, json};

fn text_of(contents: &[ResourceContents]) -> String {
    match &contents[0] {
        ResourceContents::TextResourceContents { text, .. } => text.clone(),
        other => panic!("expected text contents, got {other:?}"),
    }
}

#[tokio::test]
async fn prompts_resources_and_completion_route_to_their_backend() {
    let (fixtures, gw) = Served::with_fixtures(&["alpha", "bravo"]).await;
    let (a, b) = (&fixtures[0], &fixtures[1]);
    let token = clients::token("pat");
    let recorder = clients::Recorder::default();
    let client = clients::mcp_with(recorder.clone(), &gw.proc.url("/mcp"), Some(&token)).await;

    // Prompts are named like tools: one per backend.
    let prompts = client.list_all_prompts().await.unwrap();
    let names: Vec<&str> = prompts.iter().map(|p| p.name.as_ref()).collect();
    assert!(names.contains(&"alpha-test_prompt_with_arguments"), "{names:?}");
    assert!(names.contains(&"bravo-test_prompt_with_arguments"), "{names:?}");
    // Five each: four plain, one that asks its client (input rounds).
    assert_eq!(names.len(), 10, "{names:?}");

    // Both backends offer the same URIs: alpha (registered first) keeps them
    // bare, bravo's are qualified with its slug.
    let resources = client.list_all_resources().await.unwrap();
    let uris: Vec<&str> = resources.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(uris.len(), 6, "{uris:?}");
    assert!(uris.contains(&"test://static-text") && uris.contains(&"mcpgw://bravo/test://static-text"));
    let templates = client.list_all_resource_templates().await.unwrap();
    let templates: Vec<&str> = templates.iter().map(|t| t.uri_template.as_str()).collect();
    assert_eq!(
        templates,
        ["test://template/{id}/data", "mcpgw://bravo/test://template/{id}/data"]
    );

    // Reads: a listed URI, a template match, a qualified URI.
    let read = |uri: &str| client.read_resource(ReadResourceRequestParams::new(uri));
    let r = read("test://static-text").await.unwrap();
    assert!(text_of(&r.contents).contains("static text"));
    let r = read("test://template/123/data").await.unwrap();
    assert!(text_of(&r.contents).contains("123"));
    let r = read("mcpgw://bravo/test://template/7/data").await.unwrap();
    assert!(text_of(&r.contents).contains("Data for ID: 7"));
    let err = read("test://nowhere").await.unwrap_err();
    assert!(err.to_string().contains("Resource not found"), "{err}");

    // A prompt with arguments, and completion of one of them.
    let mut args = serde_json::Map::new();
    args.insert("arg1".into(), json!("hello"));
    args.insert("arg2".into(), json!("world"));
    let got = client
        .get_prompt(GetPromptRequestParams::new("bravo-test_prompt_with_arguments").with_arguments(args))
        .await
        .unwrap();
    let said = serde_json::to_string(&got.messages).unwrap();
    assert!(said.contains("arg1='hello'") && said.contains("arg2='world'"), "{said}");
    let done = client
        .complete(CompleteRequestParams::new(
            Reference::Prompt(PromptReference::new("alpha-test_prompt_with_arguments")),
            ArgumentInfo::new("arg1", "tes"),
        ))
        .await
        .unwrap();
    assert_eq!(done.completion.values, ["test", "testing", "tested"]);

    // Subscriptions reach the backend that owns the URI, and only it, and
    // its updates come back under the URI the client used.
    client
        .subscribe(SubscribeRequestParams::new("mcpgw://bravo/test://watched-resource"))
        .await
        .unwrap();
    assert!(b.subscriptions().contains("test://watched-resource"));
    assert!(a.subscriptions().is_empty());
    // rmcp opens its standalone stream on its own time: repeat the update
    // until the client has it.
    let updated = recorder.updated.clone();
    eventually("the update to reach the rmcp client", || {
        let updated = updated.clone();
        async move {
            b.update_resource("test://watched-resource").await;
            updated.lock().unwrap().first().cloned()
        }
    })
    .await;
    assert_eq!(
        recorder.updated.lock().unwrap()[0],
        "mcpgw://bravo/test://watched-resource"
    );
    client
        .unsubscribe(UnsubscribeRequestParams::new("mcpgw://bravo/test://watched-resource"))
        .await
        .unwrap();
    assert!(b.subscriptions().is_empty());

    // The log level goes to every backend.
    client
        .set_level(SetLevelRequestParams::new(LoggingLevel::Warning))
        .await
        .unwrap();
    assert_eq!(a.log_level().as_deref(), Some("warning"));
    assert_eq!(b.log_level().as_deref(), Some("warning"));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn bad_catalog_requests_get_clear_errors() {
    let a = Fixture::start(FixtureConfig::default()).await;
    let gw = Served::start(&[]).await.with_backends(&[("alpha", a.url())]).await;
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("pat")));
    let (sid, _) = raw.initialize("2025-11-25").await;
    let ask = |method: &str, params: Value| {
        let body = json!({"jsonrpc": "2.0", "id": 9, "method": method, "params": params}).to_string();
        let (raw, sid) = (raw.clone(), sid.clone());
        async move {
            let res = raw.post(body, &[("mcp-session-id", &sid)]).await;
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        }
    };
    let cases = [
        (
            "resources/read",
            json!({"uri": "nope://x"}),
            -32002,
            "Resource not found",
        ),
        ("resources/read", json!({}), -32602, "params.uri"),
        ("prompts/get", json!({"name": "alpha-nope"}), -32602, "Unknown prompt"),
        ("prompts/list", json!({"cursor": "bogus"}), -32602, "Invalid cursor"),
        (
            "completion/complete",
            json!({"ref": {"type": "ref/other"}}),
            -32602,
            "ref/prompt",
        ),
        ("logging/setLevel", json!({}), -32602, "params.level"),
    ];
    for (method, params, code, says) in cases {
        let answer = ask(method, params.clone()).await;
        assert_eq!(answer["id"], 9, "{method} {params}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{method} {params}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{method} {params}: {message}");
    }
    assert!(
        a.subscriptions().is_empty() && a.log_level().is_none(),
        "nothing reached the backend"
    );
}

/// A backend that restarts forgets its sessions and their subscriptions:
/// the gateway notices on its listening stream, opens a new session,
/// subscribes it again, and the client's updates keep coming, all without
/// a client request in between.
#[tokio::test]
async fn subscriptions_survive_a_backend_restart() {
    let fx = Fixture::start(FixtureConfig::default()).await;
    let addr = fx.addr;
    let gw = Served::start(&[]).await.with_backends(&[("fx", fx.url())]).await;
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("pat")));
    let (sid, _) = raw.initialize("2025-11-25").await;
    let mut stream = mcpgw_tests::clients::Events::of(raw.open_stream(&sid).await);
    let subscribe = json!({"jsonrpc": "2.0", "id": 1, "method": "resources/subscribe", "params": {"uri": WATCHED}});
    let subscribed: Value = raw
        .post(subscribe.to_string(), &[("mcp-session-id", &sid)])
        .await
        .json()
        .await
        .unwrap();
    assert!(subscribed.get("result").is_some(), "{subscribed}");
    assert!(fx.subscriptions().contains(WATCHED));

    fx.stop().await;
    let fx = Fixture::start_on(addr, FixtureConfig::default())
        .await
        .expect("rebind the fixture's port");
    eventually("the gateway to subscribe the restarted backend again", || async {
        fx.subscriptions().contains(WATCHED).then_some(())
    })
    .await;
    // The control plane's watcher and the node's new session listen.
    fx.wait_listeners(2).await;
    fx.update_resource(WATCHED).await;
    let note = stream.next_message().await;
    assert_eq!(note["method"], "notifications/resources/updated", "{note}");
    assert_eq!(note["params"]["uri"], WATCHED);
}
