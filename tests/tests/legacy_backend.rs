//! Backends that speak the 2024-11-05 HTTP+SSE transport: detected at
//! registration, then served like any other: lists from the snapshot, calls
//! with their progress, logs and sampling requests relayed, cancels passed on.

#![allow(deprecated)]

use mcpgw_proto::v1 as pb;
use mcpgw_tests::{
    clients::{self, Recorder, first_text, tool_call},
    fixture::{Fixture, FixtureConfig, tool_definitions},
    harness::Served,
};
use rmcp::{
    model::{ClientRequest, ReadResourceRequestParams, Request, ResourceContents},
    service::PeerRequestOptions,
};
use serde_json::json;

#[tokio::test]
async fn a_legacy_sse_backend_is_detected_and_served_like_any_other() {
    let fx = Fixture::start(FixtureConfig::default()).await;
    let gw = Served::start(&[])
        .await
        .with_backends(&[("old", fx.sse_url()), ("new", fx.url())])
        .await;
    let backend = gw
        .admin
        .clone()
        .get_backend(pb::GetBackendRequest { backend: "old".into() })
        .await
        .unwrap()
        .into_inner()
        .backend
        .unwrap();
    assert_eq!(
        backend.transport(),
        pb::BackendTransport::Sse,
        "detected at registration"
    );

    let recorder = Recorder::default();
    let client = clients::mcp_with(recorder.clone(), &gw.proc.url("/mcp"), Some(&clients::token("pat"))).await;
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 2 * tool_definitions(&FixtureConfig::default()).len());

    // Fanned out to both transports at once, under one client request id.
    client
        .set_level(rmcp::model::SetLevelRequestParams::new(
            rmcp::model::LoggingLevel::Debug,
        ))
        .await
        .unwrap();
    assert_eq!(fx.log_level().as_deref(), Some("debug"));

    let echoed = client
        .call_tool(tool_call("old-echo", json!({"text": "from 2024"})))
        .await
        .unwrap();
    assert_eq!(first_text(&echoed), "from 2024");

    // Progress and logs arrive on the call's own legacy session, so they are
    // the call's.
    let done = client
        .call_tool(tool_call("old-test_tool_with_progress", json!({})))
        .await
        .unwrap();
    assert_ne!(
        first_text(&done),
        "no token",
        "rmcp asks for progress; the backend got a token"
    );
    assert_eq!(recorder.progress.lock().unwrap().len(), 3);
    client
        .call_tool(tool_call("old-test_tool_with_logging", json!({})))
        .await
        .unwrap();
    assert!(recorder.logs.lock().unwrap().len() >= 3);

    // The backend asks the client; the answer goes back to its session.
    let sampled = client
        .call_tool(tool_call("old-test_sampling", json!({"prompt": "old times"})))
        .await
        .unwrap();
    assert_eq!(first_text(&sampled), "LLM response: sampled: old times");

    let read = client
        .read_resource(ReadResourceRequestParams::new("test://template/9/data"))
        .await
        .unwrap();
    match &read.contents[0] {
        ResourceContents::TextResourceContents { text, .. } => assert!(text.contains("Data for ID: 9")),
        other => panic!("{other:?}"),
    }

    // A cancel reaches the backend.
    let request = ClientRequest::CallToolRequest(Request::new(tool_call("old-slow_stream", json!({"ms": 60_000}))));
    let handle = client
        .send_cancellable_request(request, PeerRequestOptions::no_options())
        .await
        .unwrap();
    fx.wait_in_flight(1).await;
    handle.cancel(None).await.unwrap();
    let cancelled = fx.wait_cancelled(1).await;
    assert!(cancelled[0].is_number(), "{cancelled:?}");
    client.cancel().await.unwrap();
}
