//! The vertical slice through `mcpgw serve`: register a backend over gRPC,
//! then an independent MCP client (rmcp) lists and calls its tools through
//! the gateway and gets what it gets calling the backend directly.

use mcpgw_proto::v1::{CreateBackendRequest, SetToolEnabledRequest};
use mcpgw_tests::{
    clients::{self, McpClient, RawMcp},
    fixture::{Fixture, FixtureConfig, tool_definitions},
    harness::{Proc, SqliteDb, nodes_at},
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
    let token = mcpgw_data_plane::auth::Jwt::new(mcpgw_data_plane::auth::DEFAULT_JWT_SECRET).mint("alice", 600);

    let mut admin = clients::admin(gw.addr).await;
    let backend = admin
        .create_backend(CreateBackendRequest {
            name: "Fixture One".into(),
            url: fx.url(),
            transport: 0,
            ..Default::default()
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
    nodes_at(&admin, &[], backend.config_version).await;

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
        let (mut gv, dv) = (serde_json::to_value(g).unwrap(), serde_json::to_value(d).unwrap());
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
    assert_eq!(call(&via_gw, "fixture-one-fail", json!({})).await.is_error, Some(true));

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
        progress.windows(2).all(|w| w[0].progress_token == w[1].progress_token),
        "{progress:?}"
    );
    assert_eq!(
        progress.iter().map(|p| p.progress).collect::<Vec<_>>(),
        vec![1.0, 2.0, 3.0, 4.0]
    );
    assert_eq!(via_gw.service().logs.lock().unwrap().len(), 4);

    // A disabled tool leaves every list and cannot be called; enabled again, it is back.
    for enabled in [false, true] {
        let req = SetToolEnabledRequest {
            tool: "fixture-one-echo".into(),
            enabled,
        };
        let t = admin.set_tool_enabled(req).await.unwrap().into_inner().tool.unwrap();
        nodes_at(&admin, &[], t.config_version).await;
        let listed = via_gw
            .list_all_tools()
            .await
            .unwrap()
            .iter()
            .any(|t| t.name == "fixture-one-echo");
        assert_eq!(listed, enabled);
        let p = CallToolRequestParams::new("fixture-one-echo")
            .with_arguments(json!({"text": "x"}).as_object().unwrap().clone());
        assert_eq!(via_gw.call_tool(p).await.is_ok(), enabled);
    }

    via_gw.cancel().await.unwrap();
    direct.cancel().await.unwrap();
}

/// The raw bytes of a tools/call result are the backend's bytes.
#[tokio::test]
async fn call_results_are_byte_identical_to_the_backend() {
    let fx = Fixture::start(FixtureConfig::default()).await;
    let db = SqliteDb::new();
    let gw = serve(&db).await;
    let admin = clients::admin(gw.addr).await;
    let v = clients::register(&admin, "fx", fx.url()).await;
    nodes_at(&admin, &[], v).await;

    let via_gw = RawMcp::new(gw.url("/mcp"), Some(clients::token("bob")));
    let direct = RawMcp::new(fx.url(), None);
    let (gsid, _) = via_gw.initialize("2025-06-18").await;
    let (dsid, _) = direct.initialize("2025-06-18").await;
    let both = |gw_tool: &str, tool: &str, args: Value| {
        let (via_gw, direct, gsid, dsid) = (via_gw.clone(), direct.clone(), gsid.clone(), dsid.clone());
        let call = |name: &str| {
            json!({"jsonrpc":"2.0","id":"req-7","method":"tools/call",
                   "params":{"name":name,"arguments":args,"_meta":{"progressToken":"tok-1"}}})
            .to_string()
        };
        let (g, d) = (call(gw_tool), call(tool));
        async move {
            let g = via_gw.post(g, &[("mcp-session-id", &gsid)]).await.text().await.unwrap();
            let d = direct.post(d, &[("mcp-session-id", &dsid)]).await.text().await.unwrap();
            (g, d)
        }
    };

    let (g, d) = both("fx-echo", "echo", json!({"text": "ünïcode \\ \"q\""})).await;
    assert_eq!(g, d, "the whole response, id included, is byte-identical");

    // A streamed call: every message, with the client's progress token and
    // id mapped back, is byte-identical too (the events' own ids are the
    // gateway's, for resuming).
    let (g, d) = both("fx-progress", "progress", json!({"steps": 3})).await;
    assert_eq!(g.matches("\"progressToken\":\"tok-1\"").count(), 3, "{g}");
    let data = |s: &str| {
        s.lines()
            .filter(|l| l.starts_with("data:"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(data(&g), data(&d));
    assert_eq!(g.matches("\nid: c").count(), g.matches("event: message").count(), "{g}");
}
