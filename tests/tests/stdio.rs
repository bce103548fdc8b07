//! `mcpgw stdio`: an MCP client that only spawns commands (here the
//! official Rust SDK's child-process transport) reaches a remote gateway
//! through the bridge, including the backend asking it for sampling.

use mcpgw_tests::{
    clients::{self, Recorder, first_text, tool_call},
    fixture::{FixtureConfig, tool_definitions},
    harness::{Served, mcpgw_bin},
};
use rmcp::{ServiceExt, transport::TokioChildProcess};
use serde_json::json;

#[tokio::test]
async fn a_stdio_client_uses_a_remote_gateway_through_the_bridge() {
    let (fixtures, gw) = Served::with_fixtures(&["fx"]).await;
    let mut cmd = tokio::process::Command::new(mcpgw_bin());
    cmd.args([
        "stdio",
        "--url",
        &gw.proc.url("/mcp"),
        "--token",
        &clients::token("pat"),
    ])
    .env_clear();
    let recorder = Recorder::default();
    let client = recorder
        .clone()
        .serve(TokioChildProcess::new(cmd).expect("spawn mcpgw stdio"))
        .await
        .expect("initialize through the bridge");

    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), tool_definitions(&FixtureConfig::default()).len());
    let echoed = client
        .call_tool(tool_call("fx-echo", json!({"text": "over stdio"})))
        .await
        .unwrap();
    assert_eq!(first_text(&echoed), "over stdio");

    // Progress streams through, and the backend's request reaches the
    // client and its answer the backend.
    client
        .call_tool(tool_call("fx-progress", json!({"steps": 2})))
        .await
        .unwrap();
    assert_eq!(recorder.progress.lock().unwrap().len(), 2);
    let sampled = client
        .call_tool(tool_call("fx-test_sampling", json!({"prompt": "from a pipe"})))
        .await
        .unwrap();
    assert_eq!(first_text(&sampled), "LLM response: sampled: from a pipe");

    let elicited = client
        .call_tool(tool_call("fx-test_elicitation", json!({"message": "who?"})))
        .await
        .unwrap();
    assert!(first_text(&elicited).contains("action=accept"), "{elicited:?}");

    // A cancel travels through the bridge to the backend.
    let request = rmcp::model::ClientRequest::CallToolRequest(rmcp::model::Request::new(tool_call(
        "fx-slow_stream",
        json!({"ms": 60_000}),
    )));
    let handle = client
        .send_cancellable_request(request, rmcp::service::PeerRequestOptions::no_options())
        .await
        .unwrap();
    fixtures[0].wait_in_flight(1).await;
    handle.cancel(None).await.unwrap();
    assert!(fixtures[0].wait_cancelled(1).await[0].is_number());

    // A refused call comes back as an error, not silence.
    let err = client.call_tool(tool_call("fx-nope", json!({}))).await.unwrap_err();
    assert!(err.to_string().contains("Unknown tool"), "{err}");
    client.cancel().await.unwrap();
}
