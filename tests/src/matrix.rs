//! The same MCP session, driven over any client transport: every method and
//! every relayed message the test matrix names, with raw JSON-RPC
//! messages, so what differs between transports is only how a message
//! travels ([`Wire`]).

use std::future::Future;

use serde_json::{Value, json};

use crate::fixture::{Fixture, catalog::WATCHED};

/// One client connection: messages out, messages in.
pub trait Wire {
    fn send(&mut self, msg: Value) -> impl Future<Output = ()>;
    /// The next message the gateway sends; panics if the connection ends.
    fn recv(&mut self) -> impl Future<Output = Value>;
}

/// What the session saw while a request was answered.
#[derive(Debug, Default)]
pub struct Answer {
    pub response: Value,
    /// Notifications and server requests before the response.
    pub before: Vec<Value>,
}

/// Sends request `id` and reads until its response, answering what the
/// backend asks the client on the way (sampling, elicitation).
pub async fn ask<W: Wire>(wire: &mut W, id: u64, method: &str, params: Value) -> Answer {
    wire.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
        .await;
    let mut answer = Answer::default();
    loop {
        let msg = wire.recv().await;
        if msg["id"] == id && msg.get("method").is_none() {
            answer.response = msg;
            return answer;
        }
        if let Some(reply) = client_answer(&msg) {
            wire.send(reply).await;
        }
        answer.before.push(msg);
    }
}

/// The client's answer to a server request, as a test client gives it.
fn client_answer(msg: &Value) -> Option<Value> {
    let result = match msg["method"].as_str()? {
        "sampling/createMessage" => {
            json!({"role": "assistant", "content": {"type": "text", "text": "sampled by the matrix"}, "model": "m"})
        }
        "elicitation/create" => {
            json!({"action": "accept", "content": {"username": "matrix", "email": "m@example.com"}})
        }
        "roots/list" => json!({"roots": [{"uri": "file:///matrix", "name": "matrix"}]}),
        "ping" => json!({}),
        _ => return None,
    };
    Some(json!({"jsonrpc": "2.0", "id": msg["id"], "result": result}))
}

/// The `initialize` params of a client that can sample, elicit and list
/// its roots.
pub fn initialize_params(version: &str) -> Value {
    json!({"protocolVersion": version, "capabilities": {"sampling": {}, "elicitation": {}, "roots": {}},
           "clientInfo": {"name": "matrix", "version": "1"}})
}

fn text(answer: &Answer) -> &str {
    answer.response["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {}", answer.response))
}

/// Runs the whole matrix over an initialized session on `wire`, against
/// backend `fx` registered as `fx`: list and call tools, progress and logs,
/// resources, prompts, completion, a subscription and its update, sampling,
/// elicitation, and a cancel the backend sees.
pub async fn run<W: Wire>(wire: &mut W, fx: &Fixture) {
    let listed = ask(wire, 101, "tools/list", json!({})).await;
    let tools = listed.response["result"]["tools"].as_array().expect("tools");
    assert!(tools.iter().any(|t| t["name"] == "fx-echo"), "{}", listed.response);

    let echoed = ask(
        wire,
        102,
        "tools/call",
        json!({"name": "fx-echo", "arguments": {"text": "m"}}),
    )
    .await;
    assert_eq!(text(&echoed), "m");

    let streamed = ask(
        wire,
        103,
        "tools/call",
        json!({"name": "fx-progress", "arguments": {"steps": 2}, "_meta": {"progressToken": "p"}}),
    )
    .await;
    let said = |method: &str| streamed.before.iter().filter(|m| m["method"] == method).count();
    assert_eq!(said("notifications/progress"), 2, "{:?}", streamed.before);
    assert!(said("notifications/message") >= 1, "logs: {:?}", streamed.before);
    assert!(
        streamed
            .before
            .iter()
            .all(|m| m["method"] != "notifications/progress" || m["params"]["progressToken"] == "p"),
        "the client's own progress token: {:?}",
        streamed.before
    );

    let read = ask(wire, 104, "resources/read", json!({"uri": "test://static-text"})).await;
    assert!(
        read.response["result"]["contents"][0]["text"].is_string(),
        "{}",
        read.response
    );

    let prompt = ask(wire, 105, "prompts/get", json!({"name": "fx-test_simple_prompt"})).await;
    assert!(
        prompt.response["result"]["messages"][0].is_object(),
        "{}",
        prompt.response
    );

    let completed = ask(
        wire,
        106,
        "completion/complete",
        json!({"ref": {"type": "ref/prompt", "name": "fx-test_prompt_with_arguments"},
               "argument": {"name": "arg1", "value": "tes"}}),
    )
    .await;
    assert_eq!(
        completed.response["result"]["completion"]["values"],
        json!(["test", "testing", "tested"]),
        "{}",
        completed.response
    );

    let subscribed = ask(wire, 107, "resources/subscribe", json!({"uri": WATCHED})).await;
    assert_eq!(subscribed.response["result"], json!({}), "{}", subscribed.response);
    // An update the backend sends at once reaches the client: the gateway
    // listens on a backend session before it uses it.
    fx.update_resource(WATCHED).await;
    loop {
        let msg = wire.recv().await;
        if msg["method"] == "notifications/resources/updated" {
            assert_eq!(msg["params"]["uri"], WATCHED);
            break;
        }
    }

    let sampled = ask(
        wire,
        108,
        "tools/call",
        json!({"name": "fx-test_sampling", "arguments": {"prompt": "m"}}),
    )
    .await;
    assert_eq!(text(&sampled), "LLM response: sampled by the matrix");
    let asked = &sampled.before[0];
    assert_eq!(asked["method"], "sampling/createMessage");
    assert!(
        asked["id"].as_str().is_some_and(|id| id.starts_with("mcpgw-")),
        "a gateway id: {asked}"
    );

    let elicited = ask(
        wire,
        109,
        "tools/call",
        json!({"name": "fx-test_elicitation", "arguments": {"message": "name?"}}),
    )
    .await;
    assert!(
        elicited.response["result"]["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("action=accept") && t.contains("matrix")),
        "{}",
        elicited.response
    );

    // A backend that asks on its standalone stream (as SDK servers do when
    // they ask through the session object): during a call, and while none
    // runs.
    let standalone = [
        (
            "fx-standalone_sampling",
            json!({"prompt": "s"}),
            "LLM response: sampled by the matrix",
        ),
        (
            "fx-standalone_elicitation",
            json!({"message": "who?"}),
            "User response: action=accept",
        ),
        (
            "fx-standalone_roots",
            json!({}),
            "roots: [{\"name\":\"matrix\",\"uri\":\"file:///matrix\"}]",
        ),
        ("fx-standalone_ping", json!({}), "pong"),
    ];
    for (i, (tool, arguments, said)) in standalone.into_iter().enumerate() {
        let answered = ask(
            wire,
            120 + i as u64,
            "tools/call",
            json!({"name": tool, "arguments": arguments}),
        )
        .await;
        assert!(text(&answered).starts_with(said), "{tool}: {}", answered.response);
        let asked = answered
            .before
            .iter()
            .find(|m| m["method"].is_string() && m.get("id").is_some());
        let asked = asked.unwrap_or_else(|| panic!("{tool}: the client was asked nothing: {:?}", answered.before));
        assert!(
            asked["id"].as_str().is_some_and(|id| id.starts_with("mcpgw-")),
            "a gateway id: {asked}"
        );
    }
    let cancelled_before = fx.cancelled_count();
    wire.send(json!({"jsonrpc": "2.0", "id": 110, "method": "tools/call",
                     "params": {"name": "fx-slow_stream", "arguments": {"ms": 60_000}}}))
        .await;
    fx.wait_in_flight(1).await;
    wire.send(json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 110}}))
        .await;
    let cancelled = fx.wait_cancelled(cancelled_before + 1).await;
    assert!(
        cancelled[cancelled_before].is_number(),
        "the backend's own id: {cancelled:?}"
    );
    fx.wait_in_flight_at_most(0).await;
}

/// A request the backend sends on its standalone stream while no call of
/// the session runs (after [`run`], whose calls opened the session's own
/// backend session): it reaches the client, and its answer the backend.
pub async fn ask_outside_a_call<W: Wire>(wire: &mut W, fx: &Fixture) {
    let params = json!({"messages": [{"role": "user", "content": {"type": "text", "text": "later"}}], "maxTokens": 5});
    let asked = fx.ask_last_caller("sampling/createMessage", params);
    tokio::pin!(asked);
    // The client answers what it is asked until the backend has an answer
    // (which, if the gateway refused the request, comes without one).
    let mut seen = Vec::new();
    let answer = loop {
        tokio::select! {
            answer = &mut asked => break answer,
            msg = wire.recv() => {
                if let Some(reply) = client_answer(&msg) {
                    wire.send(reply).await;
                }
                seen.push(msg);
            }
        }
    };
    assert_eq!(
        answer["result"]["content"]["text"], "sampled by the matrix",
        "the backend's answer: {answer}; the client saw {seen:?}"
    );
}
