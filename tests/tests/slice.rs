//! The vertical slice through `mcpgw serve`: register a backend over gRPC,
//! then an independent MCP client (rmcp) lists and calls its tools through
//! the gateway and gets what it gets calling the backend directly.

use mcpgw_proto::v1::{CreateBackendRequest, ListNodesRequest};
use mcpgw_tests::{
    clients::{self, McpClient},
    fixture::{Fixture, FixtureConfig, tool_definitions},
    harness::{Proc, SqliteDb},
};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use serde_json::{Value, json};

async fn call(client: &McpClient, name: &str, args: Value) -> CallToolResult {
    let mut p = CallToolRequestParams::new(name.to_owned());
    if let Value::Object(m) = args {
        p = p.with_arguments(m);
    }
    client
        .call_tool(p)
        .await
        .unwrap_or_else(|e| panic!("calling {name}: {e}"))
}

async fn serve(db: &SqliteDb) -> Proc {
    let mut p = Proc::start(&["serve", "--port", "0"], &[("DATABASE_URL", &db.url)]).await;
    p.wait_for_line("ready").await;
    p
}

#[tokio::test]
async fn rmcp_client_lists_and_calls_tools_through_serve() {
    let fx = Fixture::start(FixtureConfig {
        extra_tools: 5,
        page_size: 2,
        ..Default::default()
    })
    .await;
    let db = SqliteDb::new();
    let gw = serve(&db).await;
    let token = mcpgw_data_plane::auth::Jwt::new(mcpgw_data_plane::auth::DEFAULT_JWT_SECRET)
        .mint("alice", 600);

    let mut admin = clients::admin(gw.addr).await;
    let backend = admin
        .create_backend(CreateBackendRequest {
            name: "Fixture One".into(),
            url: fx.url(),
            transport: 0,
        })
        .await
        .expect("register the fixture")
        .into_inner()
        .backend
        .unwrap();
    // Discovery walked every page (page size 2, 9 tools).
    assert_eq!(
        backend.tool_count as usize,
        tool_definitions(&FixtureConfig {
            extra_tools: 5,
            ..Default::default()
        })
        .len()
    );
    assert_eq!(backend.slug, "fixture-one");

    // The in-process data plane applies the new version; wait on its report.
    mcpgw_tests::harness::eventually("the serve node to apply the backend", || {
        let mut admin = admin.clone();
        async move {
            let r = admin
                .list_nodes(ListNodesRequest {})
                .await
                .ok()?
                .into_inner();
            r.nodes
                .iter()
                .any(|n| n.applied_version >= backend.config_version)
                .then_some(())
        }
    })
    .await;

    let via_gw = clients::mcp(&gw.url("/mcp"), Some(&token)).await;
    let direct = clients::mcp(&fx.url(), None).await;

    let tools = via_gw.list_all_tools().await.unwrap();
    let direct_tools = direct.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), direct_tools.len());
    for (g, d) in tools.iter().zip(&direct_tools) {
        assert_eq!(
            g.name,
            format!("fixture-one-{}", d.name),
            "names are <slug>-<tool>, in the backend's order"
        );
        let (mut gv, dv) = (
            serde_json::to_value(g).unwrap(),
            serde_json::to_value(d).unwrap(),
        );
        gv["name"] = dv["name"].clone();
        assert_eq!(gv, dv, "everything but the name passes through");
    }

    for (tool, args) in [
        ("echo", json!({"text": "héllo \"world\""})),
        ("fail", json!({})),
        ("extra_0003", json!({})),
    ] {
        let g = call(&via_gw, &format!("fixture-one-{tool}"), args.clone()).await;
        let d = call(&direct, tool, args).await;
        assert_eq!(g, d, "{tool}: same result through the gateway as direct");
    }
    assert_eq!(
        call(&via_gw, "fixture-one-fail", json!({})).await.is_error,
        Some(true)
    );

    // Progress and log notifications streamed during a call reach the client,
    // with the client's own progress token (rmcp sets one on every request).
    let r = call(&via_gw, "fixture-one-progress", json!({"steps": 4})).await;
    assert_eq!(
        serde_json::to_value(&r.content).unwrap()[0]["text"],
        "done after 4 steps"
    );
    let progress = via_gw.service().progress.lock().unwrap().clone();
    assert_eq!(progress.len(), 4, "{progress:?}");
    assert!(
        progress
            .windows(2)
            .all(|w| w[0].progress_token == w[1].progress_token),
        "{progress:?}"
    );
    assert_eq!(
        progress.iter().map(|p| p.progress).collect::<Vec<_>>(),
        vec![1.0, 2.0, 3.0, 4.0]
    );
    assert_eq!(via_gw.service().logs.lock().unwrap().len(), 4);

    via_gw.cancel().await.unwrap();
    direct.cancel().await.unwrap();
}

/// The raw bytes of a tools/call result are the backend's bytes.
#[tokio::test]
async fn call_results_are_byte_identical_to_the_backend() {
    let fx = Fixture::start(FixtureConfig::default()).await;
    let db = SqliteDb::new();
    let gw = serve(&db).await;
    let mut admin = clients::admin(gw.addr).await;
    admin
        .create_backend(CreateBackendRequest {
            name: "fx".into(),
            url: fx.url(),
            transport: 0,
        })
        .await
        .unwrap();

    let token = mcpgw_data_plane::auth::Jwt::new(mcpgw_data_plane::auth::DEFAULT_JWT_SECRET)
        .mint("bob", 600);
    let http = reqwest::Client::new();
    let raw_result = |url: String, sid: Option<String>, bearer: Option<String>, body: Value| {
        let http = http.clone();
        async move {
            let mut req = http
                .post(url)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(body.to_string());
            if let Some(s) = sid {
                req = req.header("mcp-session-id", s);
            }
            if let Some(b) = bearer {
                req = req.bearer_auth(b);
            }
            let res = req.send().await.unwrap();
            let sid = res
                .headers()
                .get("mcp-session-id")
                .map(|v| v.to_str().unwrap().to_owned());
            (sid, res.text().await.unwrap())
        }
    };
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    let (gsid, _) = raw_result(gw.url("/mcp"), None, Some(token.clone()), init.clone()).await;
    let (dsid, _) = raw_result(fx.url(), None, None, init).await;

    mcpgw_tests::harness::eventually("the tool to be routable", || {
        let (url, sid, token) = (gw.url("/mcp"), gsid.clone(), token.clone());
        let raw_result = &raw_result;
        async move {
            let (_, body) = raw_result(
                url,
                sid,
                Some(token),
                json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}),
            )
            .await;
            body.contains("fx-echo").then_some(())
        }
    })
    .await;

    let call = |name: &str| json!({"jsonrpc":"2.0","id":"req-7","method":"tools/call","params":{"name":name,"arguments":{"text":"ünïcode \\ \"q\""}}});
    let (_, g) = raw_result(
        gw.url("/mcp"),
        gsid.clone(),
        Some(token.clone()),
        call("fx-echo"),
    )
    .await;
    let (_, d) = raw_result(fx.url(), dsid.clone(), None, call("echo")).await;
    assert_eq!(g, d, "the whole response, id included, is byte-identical");

    // A streamed call: every event, with the client's progress token and id
    // mapped back, is byte-identical too.
    let call = |name: &str| json!({"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":name,"arguments":{"steps":3},"_meta":{"progressToken":"tok-1"}}});
    let (_, g) = raw_result(gw.url("/mcp"), gsid, Some(token), call("fx-progress")).await;
    let (_, d) = raw_result(fx.url(), dsid, None, call("progress")).await;
    assert_eq!(g.matches("\"progressToken\":\"tok-1\"").count(), 3, "{g}");
    assert_eq!(g, d);
}
