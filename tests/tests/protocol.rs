//! Version negotiation and the lifecycle, for every protocol revision the
//! gateway speaks, and the open mode (`AUTH_REQUIRED=false`).

use mcpgw_tests::{
    clients::RawMcp,
    harness::{Proc, SqliteDb},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// POSTs with the session and version headers a client at that stage sends.
async fn post(raw: &RawMcp, sid: &str, version: Option<&str>, body: Value) -> reqwest::Response {
    raw.post(
        body.to_string(),
        &[("mcp-session-id", sid), ("mcp-protocol-version", version.unwrap_or(""))],
    )
    .await
}

#[tokio::test]
async fn every_revision_negotiates_and_runs_the_lifecycle_without_auth() {
    let db = SqliteDb::new();
    let mut gw = Proc::start(
        &["serve", "--port", "0"],
        &[("DATABASE_URL", &db.url), ("AUTH_REQUIRED", "false")],
    )
    .await;
    gw.wait_for_line("ready").await;
    let url = gw.url("/mcp");
    let raw = RawMcp::new(url.clone(), None);

    for (asked, expect) in [
        ("2024-11-05", "2024-11-05"),
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        // An unknown version is answered with the latest; the client decides.
        ("2099-01-01", "2025-11-25"),
    ] {
        let (sid, body) = raw.initialize(asked).await;
        assert!(sid.bytes().all(|b| (0x21..=0x7e).contains(&b)), "visible ASCII");
        assert_eq!(body["result"]["protocolVersion"], expect);
        assert_eq!(body["result"]["serverInfo"]["name"], "mcpgw");
        assert!(body["result"]["capabilities"]["tools"].is_object());

        // 2025-06-18 and later send the header; older ones may not.
        let header = (expect >= "2025-06-18").then_some(expect);
        let res = post(
            &raw,
            &sid,
            header,
            json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        )
        .await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        assert!(res.bytes().await.unwrap().is_empty());
        let res = post(&raw, &sid, header, json!({"jsonrpc":"2.0","id":"p","method":"ping"})).await;
        assert_eq!(
            res.json::<Value>().await.unwrap(),
            json!({"jsonrpc":"2.0","id":"p","result":{}})
        );
        let res = post(
            &raw,
            &sid,
            header,
            json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
        )
        .await;
        // With how long it may be kept (clients of every era get the hints).
        let ttl = mcpgw_data_plane::cache::hint::GATEWAY_LIST_TTL_MS;
        assert_eq!(
            res.json::<Value>().await.unwrap()["result"],
            json!({"tools": [], "ttlMs": ttl, "cacheScope": "public"})
        );
        // A client's response to a request the gateway never sent is refused.
        let res = post(&raw, &sid, header, json!({"jsonrpc":"2.0","id":99,"result":{}})).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(res.json::<Value>().await.unwrap()["error"]["code"], -32600);
    }

    // The standalone stream is a session's: without one, 400.
    let res = raw
        .http
        .get(&url)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // The admin API is open too.
    let mut admin = mcpgw_proto::v1::registry_service_client::RegistryServiceClient::connect(gw.url(""))
        .await
        .unwrap();
    assert!(
        admin
            .list_backends(mcpgw_proto::v1::ListBackendsRequest::default())
            .await
            .is_ok()
    );
}
