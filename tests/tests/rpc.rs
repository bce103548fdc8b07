//! JSON-RPC over plain HTTP at `/rpc` (Context Forge's shape): no session,
//! one JSON answer per message, the same routing and errors as `/mcp`.

use mcpgw_tests::{
    clients::{self, RawMcp},
    fixture::{Fixture, FixtureConfig},
    harness::Served,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn rpc_lists_and_calls_tools_without_a_session() {
    let fx = Fixture::start(FixtureConfig::default()).await;
    let gw = Served::start(&[]).await.with_backends(&[("fx", fx.url())]).await;
    let gw = &gw.proc;

    let rpc = RawMcp::new(gw.url("/rpc"), Some(clients::token("quinn")));
    let ask = |body: Value| {
        let rpc = rpc.clone();
        async move {
            let res = rpc.post(body.to_string(), &[("accept", "application/json")]).await;
            (res.status(), res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, body) = ask(json!({"jsonrpc":"2.0","id":1,"method":"tools/list"})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "fx-echo"),
        "{body}"
    );

    let call = json!({"jsonrpc":"2.0","id":"c","method":"tools/call","params":{"name":"fx-echo","arguments":{"text":"via rpc"}}});
    let (_, body) = ask(call).await;
    assert_eq!(
        body,
        json!({"jsonrpc":"2.0","id":"c","result":{"content":[{"type":"text","text":"via rpc"}]}})
    );

    // A streamed answer arrives as its final response.
    let call = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"fx-progress","arguments":{"steps":2},"_meta":{"progressToken":"p"}}});
    let (_, body) = ask(call).await;
    assert_eq!(body["result"]["content"][0]["text"], "done after 2 steps", "{body}");

    let (status, body) = ask(json!({"jsonrpc":"2.0","id":3,"method":"no/such"})).await;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::OK, json!(-32601)));
    let (status, body) = ask(json!([{"jsonrpc":"2.0","id":4,"method":"ping"}])).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(-32600))
    );

    let anonymous = RawMcp::new(gw.url("/rpc"), None);
    let res = anonymous
        .post(json!({"jsonrpc":"2.0","id":5,"method":"ping"}).to_string(), &[])
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn rpc_reads_resources_gets_prompts_and_refuses_what_it_cannot_answer() {
    let fx = Fixture::start(FixtureConfig::default()).await;
    let gw = Served::start(&[]).await.with_backends(&[("fx", fx.url())]).await;
    let rpc = RawMcp::new(gw.proc.url("/rpc"), Some(clients::token("quinn")));
    let ask = |body: Value| {
        let rpc = rpc.clone();
        async move {
            let res = rpc.post(body.to_string(), &[("accept", "application/json")]).await;
            assert_eq!(res.status(), StatusCode::OK);
            res.json::<Value>().await.unwrap()
        }
    };
    let read =
        ask(json!({"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"test://static-text"}})).await;
    assert!(
        read["result"]["contents"][0]["text"]
            .as_str()
            .unwrap()
            .contains("static text"),
        "{read}"
    );
    let prompt =
        ask(json!({"jsonrpc":"2.0","id":2,"method":"prompts/get","params":{"name":"fx-test_simple_prompt"}})).await;
    assert_eq!(prompt["result"]["messages"][0]["role"], "user", "{prompt}");
    let completed = ask(json!({"jsonrpc":"2.0","id":5,"method":"completion/complete","params":{
        "ref":{"type":"ref/prompt","name":"fx-test_prompt_with_arguments"},
        "argument":{"name":"arg1","value":"tes"}}}))
    .await;
    assert_eq!(
        completed["result"]["completion"]["values"],
        json!(["test", "testing", "tested"]),
        "{completed}"
    );
    // Progress and logs are dropped (one JSON answer), the response stays.
    let logged = ask(json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"fx-test_tool_with_logging","arguments":{}}})).await;
    assert_eq!(logged["id"], 3, "{logged}");
    assert!(logged["result"]["content"].is_array(), "{logged}");
    // A /rpc caller has no stream to be asked on: the gateway refuses the
    // backend's request for it and the call ends as a tool error.
    let sampled = ask(json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"fx-test_sampling","arguments":{"prompt":"x"}}})).await;
    assert_eq!(sampled["result"]["isError"], true, "{sampled}");
}
