//! `mcpgw stdio`: an MCP client that only spawns commands (here the
//! official Rust SDK's child-process transport) reaches a remote gateway
//! through the bridge, including the backend asking it for sampling.

use mcpgw_tests::{
    clients::{self, Recorder, first_text, tool_call},
    fixture::{FixtureConfig, tool_definitions},
    harness::{PATIENCE, Served, mcpgw_bin},
    matrix,
};
use rmcp::{ServiceExt, transport::TokioChildProcess};
use serde_json::{Value, json};

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

/// `mcpgw stdio` as a [`matrix::Wire`]: one JSON-RPC message per line on
/// its stdin and stdout.
struct Stdio {
    _child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl matrix::Wire for Stdio {
    async fn send(&mut self, msg: Value) {
        use tokio::io::AsyncWriteExt;
        self.stdin.write_all(format!("{msg}\n").as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    async fn recv(&mut self) -> Value {
        let line = tokio::time::timeout(PATIENCE, self.stdout.next_line())
            .await
            .expect("the bridge said something in time")
            .unwrap()
            .expect("the bridge is running");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }
}

impl Stdio {
    /// `mcpgw stdio --url URL [--token T]`, its pipes held.
    fn spawn(url: &str, token: Option<&str>) -> Self {
        use tokio::io::AsyncBufReadExt;
        let mut cmd = tokio::process::Command::new(mcpgw_bin());
        cmd.args(["stdio", "--url", url]);
        if let Some(t) = token {
            cmd.args(["--token", t]);
        }
        let mut child = cmd
            .env_clear()
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn mcpgw stdio");
        let stdin = child.stdin.take().unwrap();
        let stdout = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            _child: child,
            stdin,
            stdout,
        }
    }
}

#[tokio::test]
async fn the_whole_matrix_through_the_stdio_bridge() {
    let (fixtures, gw) = Served::with_fixtures(&["fx"]).await;
    let mut bridge = Stdio::spawn(&gw.proc.url("/mcp"), Some(&clients::token("pat")));
    let init = matrix::ask(&mut bridge, 1, "initialize", matrix::initialize_params("2025-11-25")).await;
    assert_eq!(init.response["result"]["protocolVersion"], "2025-11-25");
    matrix::Wire::send(
        &mut bridge,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    matrix::run(&mut bridge, &fixtures[0]).await;
    matrix::ask_outside_a_call(&mut bridge, &fixtures[0]).await;
}

/// A server that closes a call's stream after its priming event (SEP-1699):
/// the bridge resumes with `Last-Event-ID` and the client gets its answer.
/// (The fixture is the server here, with no gateway between.)
#[tokio::test]
async fn the_bridge_resumes_a_stream_the_server_closes_mid_call() {
    let fx = mcpgw_tests::fixture::Fixture::start(FixtureConfig::default()).await;
    let mut bridge = Stdio::spawn(&fx.url(), None);
    matrix::ask(&mut bridge, 1, "initialize", matrix::initialize_params("2025-11-25")).await;
    let answer = matrix::ask(
        &mut bridge,
        2,
        "tools/call",
        json!({"name": "test_reconnection", "arguments": {}}),
    )
    .await;
    assert!(answer.response["result"].is_object(), "{}", answer.response);
}
