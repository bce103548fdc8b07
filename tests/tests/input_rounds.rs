//! A 2026-07-28 client calling a backend of an earlier era that asks its
//! client mid-call (elicitation, sampling): the gateway answers with
//! `input_required` rounds and holds the backend's call, and the client's
//! retry with `inputResponses` completes it. Two data planes behind a
//! round-robin balancer, each request on the other node: the retry reaches
//! the node holding the call through the fleet's Redis. Backend sessions
//! are pooled: no `initialize` per call. A `requestState` that was
//! altered, belongs to another caller or request, or has expired is
//! refused with -32602 and a reason.

use mcpgw_tests::{
    clients::{self, RawMcp},
    fixture::{Fixture, FixtureConfig},
    harness::{Served, redis},
};
use serde_json::{Value, json};

/// A stateless request of `method` with `params`, from a client that
/// answers elicitation and sampling; the one JSON-RPC answer.
async fn send(raw: &RawMcp, id: u64, method: &str, params: Value) -> Value {
    raw.stateless(id, method, params, json!({"elicitation": {}, "sampling": {}}))
        .await
}

fn call(name: &str) -> Value {
    json!({"name": name, "arguments": {}})
}

/// `call` retried with `answers` for the round `asked` gave.
fn retry(mut params: Value, asked: &Value, answers: Value) -> Value {
    params["inputResponses"] = answers;
    params["requestState"] = asked["result"]["requestState"].clone();
    params
}

fn text_of(msg: &Value) -> &str {
    msg["result"]["content"][0]["text"].as_str().unwrap_or_default()
}

fn accept(content: Value) -> Value {
    json!({"action": "accept", "content": content})
}

#[tokio::test]
async fn bridged_rounds_complete_across_two_nodes_behind_a_round_robin_balancer() {
    let Some(fleet) = redis().await else { return };
    let fx = Fixture::start(FixtureConfig::default()).await;
    let nodes = Served::two_nodes(&fleet.env(), &[("fx", fx.url())]).await;
    let rr = &nodes.balancer;
    let raw = nodes.raw(Some(clients::token("pat")));

    // Elicitation: asked under the key the backend named, answered on the
    // other node.
    let elicit = call("fx-test_input_required_result_elicitation");
    let asked = send(&raw, 1, "tools/call", elicit.clone()).await;
    let r = &asked["result"];
    assert_eq!(r["resultType"], "input_required", "{asked}");
    assert_eq!(
        r["inputRequests"]["user_name"]["method"], "elicitation/create",
        "{asked}"
    );
    assert!(r["requestState"].is_string(), "{asked}");
    let answer = json!({"user_name": accept(json!({"name": "Ada"}))});
    let done = send(&raw, 2, "tools/call", retry(elicit.clone(), &asked, answer)).await;
    assert_eq!(done["result"]["resultType"], "complete", "{done}");
    assert_eq!(text_of(&done), "Hello, Ada!");
    assert_eq!(rr.given(), [1, 1], "each request went to the other node");

    // Sampling from a backend that names no key: keyed by its request id.
    let sample = json!({"name": "fx-test_sampling", "arguments": {"prompt": "capital of France?"}});
    let asked = send(&raw, 3, "tools/call", sample.clone()).await;
    let requests = asked["result"]["inputRequests"]
        .as_object()
        .expect("input requests")
        .clone();
    let (key, request) = requests.iter().next().expect("one request");
    assert_eq!(request["method"], "sampling/createMessage");
    assert_eq!(
        request["params"]["messages"][0]["content"]["text"],
        "capital of France?"
    );
    let answer = json!({key: {"role": "assistant", "content": {"type": "text", "text": "Paris"},
                              "model": "m", "stopReason": "endTurn"}});
    let done = send(&raw, 4, "tools/call", retry(sample, &asked, answer)).await;
    assert_eq!(text_of(&done), "LLM response: Paris", "{done}");

    // Three rounds, on alternating nodes, each with a state of its own.
    let rounds = call("fx-test_input_required_result_multi_round");
    let first = send(&raw, 5, "tools/call", rounds.clone()).await;
    assert!(first["result"]["inputRequests"]["step1"].is_object(), "{first}");
    let answer = json!({"step1": accept(json!({"name": "Ada"}))});
    let second = send(&raw, 6, "tools/call", retry(rounds.clone(), &first, answer)).await;
    assert!(second["result"]["inputRequests"]["step2"].is_object(), "{second}");
    assert_ne!(first["result"]["requestState"], second["result"]["requestState"]);
    let answer = json!({"step2": accept(json!({"color": "blue"}))});
    let third = send(&raw, 7, "tools/call", retry(rounds, &second, answer)).await;
    assert_eq!(text_of(&third), "Ada likes blue", "{third}");

    // A prompt asks too.
    let prompt = json!({"name": "fx-test_input_required_result_prompt"});
    let asked = send(&raw, 8, "prompts/get", prompt.clone()).await;
    let answer = json!({"user_context": accept(json!({"context": "tests"}))});
    let done = send(&raw, 9, "prompts/get", retry(prompt, &asked, answer)).await;
    assert_eq!(
        done["result"]["messages"][0]["content"]["text"], "Use this context: tests",
        "{done}"
    );

    // Steady state: more bridged calls cost the backend no initialize.
    let before = fx.initialized();
    for id in (10..18).step_by(2) {
        let asked = send(&raw, id, "tools/call", elicit.clone()).await;
        let answer = json!({"user_name": accept(json!({"name": "Bo"}))});
        let done = send(&raw, id + 1, "tools/call", retry(elicit.clone(), &asked, answer)).await;
        assert_eq!(text_of(&done), "Hello, Bo!");
    }
    assert_eq!(fx.initialized(), before, "pooled backend sessions, none per call");
}

#[tokio::test]
async fn an_altered_foreign_or_expired_request_state_is_refused_with_its_reason() {
    let fx = Fixture::start(FixtureConfig::default()).await;
    let gw = Served::start(&[("MCPGW_INPUT_TTL_SECS", "2")])
        .await
        .with_backends(&[("fx", fx.url())])
        .await;
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("pat")));
    let mallory = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("mallory")));
    let elicit = call("fx-test_input_required_result_elicitation");
    let asked = send(&raw, 1, "tools/call", elicit.clone()).await;
    let answer = json!({"user_name": accept(json!({"name": "Ada"}))});
    let refused = |msg: &Value, why: &str| {
        assert_eq!(msg["error"]["code"], -32602, "{msg}");
        let message = msg["error"]["message"].as_str().unwrap();
        assert!(message.contains(why), "{message}");
    };

    let mut tampered = retry(elicit.clone(), &asked, answer.clone());
    tampered["requestState"] = json!(format!(
        "{}-TAMPERED",
        asked["result"]["requestState"].as_str().unwrap()
    ));
    refused(
        &send(&raw, 2, "tools/call", tampered).await,
        "not issued by this gateway",
    );
    let mut other_args = retry(elicit.clone(), &asked, answer.clone());
    other_args["arguments"] = json!({"extra": 1});
    refused(
        &send(&raw, 3, "tools/call", other_args).await,
        "belongs to another call",
    );
    let foreign = send(&mallory, 4, "tools/call", retry(elicit.clone(), &asked, answer.clone())).await;
    refused(&foreign, "issued to another caller");

    // None of those took the call; its expiry does, cancelling it at the
    // backend.
    let cancelled = fx.wait_cancelled(1).await;
    assert_eq!(cancelled.len(), 1, "{cancelled:?}");
    let late = send(&raw, 5, "tools/call", retry(elicit, &asked, answer)).await;
    refused(&late, "expired");
}

/// A backend that asks through its session object, on the session's
/// standalone stream, as SDK servers do: each 2026-07-28 call leases a
/// pooled session of its own while it runs, so what is asked there is that
/// call's round, even with another call held for its input meanwhile; a
/// call that did not declare what the backend asks fails with -32021; and
/// the leased sessions are reused, no `initialize` per call.
#[tokio::test]
async fn what_a_backend_asks_on_its_standalone_stream_is_the_round_of_the_call_that_leased_the_session() {
    let fx = Fixture::start(FixtureConfig {
        asks_on_standalone: true,
        ..Default::default()
    })
    .await;
    let gw = Served::start(&[]).await.with_backends(&[("fx", fx.url())]).await;
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("pat")));
    let sample = |prompt: &str| json!({"name": "fx-test_sampling", "arguments": {"prompt": prompt}});
    let asked_prompt = |asked: &Value| {
        let requests = asked["result"]["inputRequests"].as_object().expect("input requests");
        assert_eq!(requests.len(), 1, "{asked}");
        let (key, request) = requests.iter().next().unwrap();
        assert_eq!(request["method"], "sampling/createMessage", "{asked}");
        let prompt = request["params"]["messages"][0]["content"]["text"].clone();
        (key.clone(), prompt)
    };
    let answer = |key: &str, text: &str| {
        json!({key: {"role": "assistant", "content": {"type": "text", "text": text},
                     "model": "m", "stopReason": "endTurn"}})
    };

    // Two calls held at once, each asked its own question.
    let first = send(&raw, 1, "tools/call", sample("first?")).await;
    let (first_key, prompt) = asked_prompt(&first);
    assert_eq!(prompt, "first?");
    let second = send(&raw, 2, "tools/call", sample("second?")).await;
    let (second_key, prompt) = asked_prompt(&second);
    assert_eq!(prompt, "second?");
    // Answered in the other order: each round reaches its own call.
    for (id, prompt, asked, key, reply) in [
        (3, "second?", &second, &second_key, "2"),
        (4, "first?", &first, &first_key, "1"),
    ] {
        let done = send(&raw, id, "tools/call", retry(sample(prompt), asked, answer(key, reply))).await;
        assert_eq!(text_of(&done), format!("LLM response: {reply}"), "{done}");
    }

    // Undeclared: the call fails, naming what it lacks.
    let refused = raw
        .stateless(5, "tools/call", call("fx-test_missing_capability"), json!({}))
        .await;
    assert_eq!(refused["error"]["code"], -32021, "{refused}");
    assert!(
        refused["error"]["data"]["requiredCapabilities"]["sampling"].is_object(),
        "{refused}"
    );

    // Steady state: the sessions leased so far serve every later call.
    let before = fx.initialized();
    for id in (10..20).step_by(2) {
        let asked = send(&raw, id, "tools/call", sample("again?")).await;
        let (key, _) = asked_prompt(&asked);
        let done = send(
            &raw,
            id + 1,
            "tools/call",
            retry(sample("again?"), &asked, answer(&key, "3")),
        )
        .await;
        assert_eq!(text_of(&done), "LLM response: 3", "{done}");
    }
    assert_eq!(fx.initialized(), before, "leased sessions are reused, none per call");
}
