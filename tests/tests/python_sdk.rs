//! The official Python SDK (`mcp` on PyPI, pinned in
//! `tests/python/requirements.txt`) on both sides of the gateway: a backend
//! whose tool asks the client to sample through the session object
//! (`ctx.session.create_message`, which the SDK sends on its standalone
//! stream), called by rmcp and by the Python SDK's own client, which also
//! answers what a backend asks it while none of its calls runs; and its
//! 2026-07-28 client, which answers a legacy backend's mid-call questions
//! in the input rounds the gateway turns them into; and its session
//! client, which the gateway asks a stateless backend's input rounds as
//! real requests.
//!
//! Needs a Python with that package: `MCPGW_PYTHON` names it (`.ci/run`
//! makes one). Without it these tests say so and pass, unless
//! `MCPGW_REQUIRE_PYTHON=1` (CI) makes that a failure.

use std::path::Path;

use mcpgw_tests::{
    clients::{self, Recorder, first_text, tool_call},
    fixture::{Fixture, FixtureConfig, FixtureEra},
    harness::{PATIENCE, Proc, Served, python, python_json, python_script},
};
use serde_json::{Value, json};

/// The Python SDK server and the fixture behind one gateway.
async fn gateway(python: &Path) -> (Proc, Fixture, Served) {
    let server = Proc::start_bin(python, &[&python_script("sdk_server.py")], &[]).await;
    let fx = Fixture::start(FixtureConfig::default()).await;
    let gw = Served::start(&[])
        .await
        .with_backends(&[("py", server.url("/mcp")), ("fx", fx.url())])
        .await;
    (server, fx, gw)
}

#[tokio::test]
async fn a_python_sdk_tool_that_samples_through_its_session_works_through_the_gateway() {
    let Some(python) = python() else { return };
    let (_server, _fx, gw) = gateway(&python).await;
    let recorder = Recorder::default();
    let client = clients::mcp_with(recorder.clone(), &gw.proc.url("/mcp"), Some(&clients::token("pat"))).await;
    let result = client
        .call_tool(tool_call("py-ask_llm", json!({"prompt": "a haiku"})))
        .await
        .unwrap();
    assert_eq!(first_text(&result), "llm said: sampled: a haiku", "{result:?}");
    assert_eq!(*recorder.sampled.lock().unwrap(), ["a haiku"]);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn the_python_sdk_client_answers_requests_from_the_standalone_stream() {
    let Some(python) = python() else { return };
    let (_server, _fx, gw) = gateway(&python).await;
    let token = clients::token("pat");
    for (tool, prompt, said) in [
        ("py-ask_llm", "from python", "llm said: sampled: from python"),
        (
            "fx-standalone_sampling",
            "to the fixture",
            "LLM response: sampled: to the fixture",
        ),
        ("fx-test_sampling", "on the call", "LLM response: sampled: on the call"),
    ] {
        let answer = python_json(&python, &["sdk_client.py", &gw.proc.url("/mcp"), &token, tool, prompt]).await;
        assert_eq!(answer, json!({"text": said, "isError": false}), "{tool}");
    }
}

/// A backend of the stateless era answers the Python SDK's session client
/// with an input round: the gateway asks the client to sample on the
/// call's stream and calls the backend again with the answer.
#[tokio::test]
async fn the_python_sdk_session_client_answers_a_stateless_backends_round() {
    let Some(python) = python() else { return };
    let fx = Fixture::start(FixtureConfig {
        era: FixtureEra::Stateless,
        ..Default::default()
    })
    .await;
    let gw = Served::start(&[]).await.with_backends(&[("fx", fx.url())]).await;
    let (url, token) = (gw.proc.url("/mcp"), clients::token("pat"));
    let tool = "fx-test_input_required_result_sampling";
    let answer = python_json(&python, &["sdk_client.py", &url, &token, tool, "unused"]).await;
    assert_eq!(
        answer,
        json!({"text": "The model said: sampled: What is the capital of France?", "isError": false})
    );
    assert_eq!(fx.initialized(), 0);
}

/// The fixture asks the Python SDK client to sample while none of its calls
/// runs: the request reaches the client on its standalone stream, and its
/// answer the backend.
#[tokio::test]
async fn the_python_sdk_client_answers_a_request_while_no_call_runs() {
    use tokio::io::AsyncBufReadExt;
    let Some(python) = python() else { return };
    let (_server, fx, gw) = gateway(&python).await;
    let mut client = tokio::process::Command::new(&python)
        .args([
            &python_script("sdk_client.py"),
            &gw.proc.url("/mcp"),
            &clients::token("pat"),
            "fx-test_sampling",
            "first",
            "--then-wait",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run the Python client");
    let stdin = client.stdin.take().expect("piped");
    let mut lines = tokio::io::BufReader::new(client.stdout.take().expect("piped")).lines();
    let mut line = async || {
        let next = tokio::time::timeout(PATIENCE, lines.next_line()).await;
        let line = next.expect("the Python client said nothing in time").unwrap();
        serde_json::from_str::<Value>(&line.expect("a line from the Python client")).expect("JSON")
    };
    assert_eq!(line().await["text"], "LLM response: sampled: first");
    fx.wait_in_flight_at_most(0).await;

    let params =
        json!({"messages": [{"role": "user", "content": {"type": "text", "text": "while idle"}}], "maxTokens": 5});
    let answer = fx.ask_last_caller("sampling/createMessage", params).await;
    assert_eq!(answer["result"]["content"]["text"], "sampled: while idle", "{answer}");
    assert_eq!(line().await, json!({"asked": "while idle"}));
    // Told to go once the backend has its answer.
    drop(stdin);
    let status = tokio::time::timeout(PATIENCE, client.wait())
        .await
        .expect("the client ends");
    assert!(status.unwrap().success());
}

#[tokio::test]
async fn the_python_sdk_modern_client_answers_a_legacy_backends_questions_in_input_rounds() {
    let Some(python) = python() else { return };
    let (_server, fx, gw) = gateway(&python).await;
    let (url, token) = (gw.proc.url("/mcp"), clients::token("pat"));
    let answer = python_json(&python, &["sdk_modern_client.py", &url, &token]).await;
    assert_eq!(
        answer,
        json!({
            "version": "2026-07-28",
            "fx-test_input_required_result_elicitation": "Hello, Py!",
            "fx-test_sampling": "LLM response: sampled: a haiku",
            "fx-test_input_required_result_multi_round": "Py likes green",
        })
    );
    assert_eq!(
        fx.calls("test_input_required_result_multi_round"),
        1,
        "one backend call, held across rounds"
    );
}
