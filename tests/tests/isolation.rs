//! A slow backend holds a bounded share of a node and never delays the
//! others: calls past its in-flight limit are refused at once, and calls to
//! other backends and `tools/list` go on while its calls hang.

use mcpgw_tests::{
    clients::{self, RawMcp},
    fixture::{Fixture, FixtureConfig},
    harness::{Proc, SqliteDb, nodes_at},
};
use serde_json::{Value, json};

fn call(id: u64, tool: &str, args: Value) -> String {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":args}}).to_string()
}

#[tokio::test]
async fn a_hanging_backend_delays_no_one_else() {
    let slow = Fixture::start(FixtureConfig {
        name: "slow".into(),
        ..Default::default()
    })
    .await;
    let quick = Fixture::start(FixtureConfig {
        name: "quick".into(),
        ..Default::default()
    })
    .await;
    let db = SqliteDb::new();
    let env = [("DATABASE_URL", db.url.as_str()), ("MCPGW_BACKEND_MAX_IN_FLIGHT", "2")];
    let mut gw = Proc::start(&["serve", "--port", "0"], &env).await;
    gw.wait_for_line("ready").await;
    let admin = clients::admin(gw.addr).await;
    let mut version = 0;
    for (name, fx) in [("slow", &slow), ("quick", &quick)] {
        version = clients::register(&admin, name, fx.url()).await;
    }
    nodes_at(&admin, &[], version).await;

    let raw = RawMcp::new(gw.url("/mcp"), Some(clients::token("erin")));
    let (sid, _) = raw.initialize("2025-06-18").await;
    // Two calls that hang (a minute each) fill the slow backend's share.
    let hanging: Vec<_> = (1..=2)
        .map(|i| {
            let (raw, sid) = (raw.clone(), sid.clone());
            tokio::spawn(async move {
                raw.post(
                    call(i, "slow-sleep", json!({"ms": 60_000})),
                    &[("mcp-session-id", &sid)],
                )
                .await
            })
        })
        .collect();
    slow.wait_in_flight(2).await;

    // A third is refused at once with a clear error, not queued.
    let r = raw
        .post(call(3, "slow-sleep", json!({"ms": 1})), &[("mcp-session-id", &sid)])
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32010, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("2 calls in flight"),
        "{body}"
    );

    // Other backends and the tool list are served meanwhile.
    let r = raw
        .post(
            call(4, "quick-echo", json!({"text": "still here"})),
            &[("mcp-session-id", &sid)],
        )
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["result"]["content"][0]["text"], "still here", "{body}");
    let r = raw
        .post(
            json!({"jsonrpc":"2.0","id":5,"method":"tools/list"}).to_string(),
            &[("mcp-session-id", &sid)],
        )
        .await;
    let body: Value = r.json().await.unwrap();
    assert!(body["result"]["tools"].as_array().unwrap().len() >= 14, "{body}");
    assert!(
        hanging.iter().all(|h| !h.is_finished()),
        "the slow calls are still hanging"
    );

    // When the hanging calls go away (the client gives up), their share is free again.
    for h in &hanging {
        h.abort();
    }
    for h in hanging {
        let _ = h.await;
    }
    slow.wait_in_flight_at_most(0).await;
    let r = raw
        .post(call(6, "slow-sleep", json!({"ms": 1})), &[("mcp-session-id", &sid)])
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["result"]["content"][0]["text"], "slept 1 ms", "{body}");
}
