//! The Tasks extension (`io.modelcontextprotocol/tasks`) passed through to
//! a backend of the stateless era: the backend alone decides to make a call
//! a task, the client gets it under the gateway's sealed id, and
//! `tasks/get` and `tasks/cancel` sent to either of two data planes reach
//! the backend with its own id, and a listen stream's `taskIds` hear its
//! status; another caller's or a made-up id is unknown, and a request that
//! did not declare the extension is refused with -32021.

use mcpgw_tests::{
    clients::{self, RawMcp},
    fixture::{Fixture, FixtureConfig, FixtureEra},
    harness::{Served, eventually},
};
use serde_json::{Value, json};

fn with_tasks() -> Value {
    json!({"extensions": {"io.modelcontextprotocol/tasks": {}}})
}

#[tokio::test]
async fn a_backends_tasks_are_reached_on_any_node_by_the_gateways_id_only() {
    let fx = Fixture::start(FixtureConfig {
        era: FixtureEra::Stateless,
        ..Default::default()
    })
    .await;
    let nodes = Served::two_nodes(&[], &[("fx", fx.url())]).await;
    let raw = nodes.raw(Some(clients::token("pat")));
    let send = |id: u64, method: &'static str, params: Value, caps: Value| {
        let raw = raw.clone();
        async move { raw.stateless(id, method, params, caps).await }
    };

    // The gateway says it serves the extension.
    let discover = send(1, "server/discover", json!({}), json!({})).await;
    let extensions = &discover["result"]["capabilities"]["extensions"];
    assert!(extensions["io.modelcontextprotocol/tasks"].is_object(), "{discover}");

    // A task, under an id of the gateway's, followed on the other node
    // until it completes with its result inlined.
    let compute = json!({"name": "fx-slow_compute", "arguments": {"seconds": 0.2, "label": "a"}});
    let created = send(2, "tools/call", compute, with_tasks()).await;
    let task = &created["result"];
    assert_eq!(task["resultType"], "task", "{created}");
    assert_eq!(task["status"], "working", "{created}");
    let id = task["taskId"].as_str().expect("a task id").to_owned();
    assert!(
        id.starts_with("mcpgw-task-"),
        "the gateway's id, not the backend's: {id}"
    );
    let get = json!({"taskId": id});
    let done = eventually("the task to complete", || {
        let get = get.clone();
        async move {
            let got = send(3, "tasks/get", get, with_tasks()).await;
            (got["result"]["status"] == "completed").then_some(got)
        }
    })
    .await;
    assert_eq!(done["result"]["taskId"], id, "named as the client knows it: {done}");
    assert_eq!(done["result"]["resultType"], "complete", "{done}");
    assert_eq!(
        done["result"]["result"]["content"][0]["text"], "computed a after 0.2 s",
        "{done}"
    );
    assert_eq!(
        nodes.balancer.given().iter().filter(|n| **n > 0).count(),
        2,
        "both nodes served"
    );

    // Cancelled: an empty acknowledgement, then the status says so, on a
    // listen stream that follows the task too (by the gateway's id, one
    // made up left out).
    let long = json!({"name": "fx-slow_compute", "arguments": {"seconds": 60, "label": "b"}});
    let created = send(4, "tools/call", long, with_tasks()).await;
    let long_id = created["result"]["taskId"].as_str().expect("a task id").to_owned();
    let before = fx.listening();
    let (mut statuses, acked) = raw.listen_tasks(&[&long_id, "mcpgw-task-made-up"], with_tasks()).await;
    assert_eq!(
        acked["params"]["notifications"],
        json!({"taskIds": [long_id]}),
        "{acked}"
    );
    let ack = send(5, "tasks/cancel", json!({"taskId": long_id}), with_tasks()).await;
    assert_eq!(ack["result"]["resultType"], "complete", "{ack}");
    assert!(ack["result"].get("taskId").is_none(), "{ack}");
    let got = send(6, "tasks/get", json!({"taskId": long_id}), with_tasks()).await;
    assert_eq!(got["result"]["status"], "cancelled", "{got}");
    let told = statuses.next_message().await;
    assert_eq!(told["method"], "notifications/tasks", "{told}");
    assert_eq!(
        told["params"]["taskId"], long_id,
        "named as the client knows it: {told}"
    );
    assert_eq!(told["params"]["status"], "cancelled", "{told}");
    assert_eq!(told["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], 40);
    assert_eq!(fx.listening(), before + 1, "one backend listen for the stream's tasks");
    // Closing the client's stream ends the backend's.
    drop(statuses);
    eventually("the backend's listen for the tasks to end", || {
        let open = fx.listening();
        async move { (open == before).then_some(()) }
    })
    .await;

    // Another caller's, an altered one, the backend's own: all unknown.
    let mallory = RawMcp::new(nodes.a.proc.url("/mcp"), Some(clients::token("mallory")));
    let foreign = mallory.stateless(7, "tasks/get", get.clone(), with_tasks()).await;
    assert_eq!(foreign["error"]["code"], -32602, "{foreign}");
    let altered = json!({"taskId": format!("{id}A")});
    let refused = send(8, "tasks/get", altered, with_tasks()).await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("Unknown task"), "{message}");

    // Without the extension: tasks methods refused, a call that can run
    // while the caller waits does so, one that must be a task is refused
    // by the backend with its reason.
    let ungated = send(9, "tasks/get", get, json!({})).await;
    assert_eq!(ungated["error"]["code"], -32021, "{ungated}");
    assert!(ungated["error"]["data"]["requiredCapabilities"]["extensions"].is_object());
    let quick = json!({"name": "fx-slow_compute", "arguments": {"seconds": 0, "label": "c"}});
    let sync = send(10, "tools/call", quick, json!({})).await;
    assert_eq!(sync["result"]["resultType"], "complete", "{sync}");
    assert_eq!(sync["result"]["content"][0]["text"], "computed c after 0 s", "{sync}");
    let required = send(
        11,
        "tools/call",
        json!({"name": "fx-failing_job", "arguments": {}}),
        json!({}),
    )
    .await;
    assert_eq!(required["error"]["code"], -32021, "{required}");
}
