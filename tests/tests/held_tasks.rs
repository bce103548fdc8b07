//! Tasks the gateway holds for a backend of an earlier era (which runs no
//! tasks): a 2026-07-28 client that declares the Tasks extension and calls
//! a tool still running after `MCPGW_TASK_AFTER_MS` gets a task of the
//! gateway's, readable, answerable and cancellable on either of two data
//! planes behind a round-robin balancer (the fleet's Redis between them),
//! and followed on a listen stream. What ends sooner is answered as it is;
//! a client without the extension waits, as always.

use mcpgw_tests::{
    clients::{self, RawMcp},
    fixture::{Fixture, FixtureConfig},
    harness::{Served, eventually, redis},
};
use serde_json::{Value, json};

/// Capabilities of a client that answers elicitation and declares the
/// extension.
fn with_tasks() -> Value {
    json!({"elicitation": {}, "extensions": {"io.modelcontextprotocol/tasks": {}}})
}

fn call(name: &str, arguments: Value) -> Value {
    json!({"name": name, "arguments": arguments})
}

/// `tasks/get` of `id` until it says `status`.
async fn until(raw: &RawMcp, id: &str, status: &'static str) -> Value {
    let what = format!("the task to be {status}");
    eventually(&what, || {
        let raw = raw.clone();
        let get = json!({"taskId": id});
        async move {
            let got = raw.stateless(9, "tasks/get", get, with_tasks()).await;
            (got["result"]["status"] == status).then_some(got)
        }
    })
    .await
}

#[tokio::test]
async fn a_legacy_backends_long_call_becomes_a_task_held_by_the_gateway_and_reached_from_any_node() {
    let Some(fleet) = redis().await else { return };
    let fx = Fixture::start(FixtureConfig::default()).await;
    let mut env = fleet.env().to_vec();
    env.push(("MCPGW_TASK_AFTER_MS", "1000"));
    let nodes = Served::two_nodes(&env, &[("fx", fx.url())]).await;
    let raw = nodes.raw(Some(clients::token("pat")));
    let send = |id: u64, method: &'static str, params: Value| {
        let raw = raw.clone();
        async move { raw.stateless(id, method, params, with_tasks()).await }
    };

    // Quick: answered as it is.
    let quick = send(1, "tools/call", call("fx-echo", json!({"text": "hi"}))).await;
    assert_eq!(quick["result"]["content"][0]["text"], "hi", "{quick}");
    assert_ne!(quick["result"]["resultType"], "task", "{quick}");
    assert_eq!(quick["id"], 1, "{quick}");

    // Long: a task of the gateway's, completed with its result inlined,
    // read on both nodes.
    let created = send(2, "tools/call", call("fx-sleep", json!({"ms": 1500}))).await;
    let task = &created["result"];
    assert_eq!(task["resultType"], "task", "{created}");
    assert_eq!(task["status"], "working", "{created}");
    assert!(task["ttlMs"].as_u64().is_some_and(|t| t > 0), "{created}");
    assert!(task.get("result").is_none(), "{created}");
    let id = task["taskId"].as_str().expect("a task id").to_owned();
    assert!(id.starts_with("mcpgw-held-"), "{id}");
    // Readable at once, on the other node.
    let got = send(3, "tasks/get", json!({"taskId": id})).await;
    assert_eq!(got["result"]["taskId"], id, "{got}");
    assert!(
        ["working", "completed"].contains(&got["result"]["status"].as_str().unwrap_or_default()),
        "{got}"
    );
    let done = until(&raw, &id, "completed").await;
    assert_eq!(done["result"]["resultType"], "complete", "{done}");
    assert_eq!(
        done["result"]["result"]["content"][0]["text"], "slept 1500 ms",
        "{done}"
    );
    let again = send(4, "tasks/get", json!({"taskId": id})).await;
    assert_eq!(
        again["result"]["status"], "completed",
        "read on the other node too: {again}"
    );
    assert_eq!(
        nodes.balancer.given().iter().filter(|n| **n > 0).count(),
        2,
        "both nodes served"
    );

    // Asking midway: the task waits for input, tasks/update answers it
    // (on whichever node), and it completes with the answer.
    let asking = call("fx-slow_elicitation", json!({"message": "Your name?", "ms": 1500}));
    let created = send(5, "tools/call", asking).await;
    assert_eq!(created["result"]["resultType"], "task", "{created}");
    let asking_id = created["result"]["taskId"].as_str().expect("a task id").to_owned();
    let waiting = until(&raw, &asking_id, "input_required").await;
    let requests = waiting["result"]["inputRequests"]
        .as_object()
        .expect("what it asks")
        .clone();
    assert_eq!(requests.len(), 1, "{waiting}");
    let (key, asked) = requests.iter().next().unwrap();
    assert_eq!(asked["method"], "elicitation/create", "{waiting}");
    assert_eq!(asked["params"]["message"], "Your name?", "{waiting}");
    assert!(waiting["result"].get("requestState").is_none(), "{waiting}");
    let answer = json!({"action": "accept", "content": {"username": "ada", "email": "ada@example.com"}});
    let update = json!({"taskId": asking_id, "inputResponses": {key.clone(): answer}});
    let ack = send(6, "tasks/update", update).await;
    assert_eq!(ack["result"]["resultType"], "complete", "{ack}");
    let done = until(&raw, &asking_id, "completed").await;
    let text = done["result"]["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(text.contains("action=accept") && text.contains("ada"), "{done}");

    // Cancelled: acknowledged, the backend told, the status on a listen
    // stream that follows the task.
    let long = send(7, "tools/call", call("fx-slow_stream", json!({"ms": 60_000}))).await;
    assert_eq!(long["result"]["resultType"], "task", "{long}");
    let long_id = long["result"]["taskId"].as_str().expect("a task id").to_owned();
    let (mut statuses, acked) = raw.listen_tasks(&[&long_id], with_tasks()).await;
    assert_eq!(
        acked["params"]["notifications"],
        json!({"taskIds": [long_id]}),
        "{acked}"
    );
    let cancelled_before = fx.cancelled_count();
    let ack = send(8, "tasks/cancel", json!({"taskId": long_id})).await;
    assert_eq!(ack["result"]["resultType"], "complete", "{ack}");
    assert!(ack["result"].get("taskId").is_none(), "{ack}");
    let told = statuses.next_message().await;
    assert_eq!(told["method"], "notifications/tasks", "{told}");
    assert_eq!(told["params"]["taskId"], long_id, "{told}");
    assert_eq!(told["params"]["status"], "cancelled", "{told}");
    assert_eq!(
        told["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], 40,
        "{told}"
    );
    until(&raw, &long_id, "cancelled").await;
    fx.wait_cancelled(cancelled_before + 1).await;
    let again = send(10, "tasks/cancel", json!({"taskId": long_id})).await;
    assert_eq!(again["result"]["resultType"], "complete", "idempotent: {again}");

    // Another caller's, an altered id: unknown.
    let mallory = RawMcp::new(nodes.a.proc.url("/mcp"), Some(clients::token("mallory")));
    let foreign = mallory
        .stateless(11, "tasks/get", json!({"taskId": id}), with_tasks())
        .await;
    assert_eq!(foreign["error"]["code"], -32602, "{foreign}");
    let altered = send(12, "tasks/get", json!({"taskId": format!("{id}A")})).await;
    assert_eq!(altered["error"]["code"], -32602, "{altered}");

    // Without the extension the client waits for the answer.
    let waited = raw
        .stateless(13, "tools/call", call("fx-sleep", json!({"ms": 1500})), json!({}))
        .await;
    assert_eq!(waited["result"]["content"][0]["text"], "slept 1500 ms", "{waited}");
}
