//! Split planes: one control plane on Postgres, two data planes. Registry
//! changes reach both nodes, the control plane reports what each applied, and
//! the data planes keep serving while the control plane is down.

use mcpgw_proto::v1::ListNodesRequest;
use mcpgw_tests::{
    clients,
    fixture::{Fixture, FixtureConfig},
    harness::{Proc, nodes_at, postgres},
};
use rmcp::model::CallToolRequestParams;
use serde_json::json;

async fn echo(url: &str, token: &str, tool: &str) -> String {
    let c = clients::mcp(url, Some(token)).await;
    let p =
        CallToolRequestParams::new(tool.to_owned()).with_arguments(json!({"text": tool}).as_object().unwrap().clone());
    let r = c.call_tool(p).await.unwrap_or_else(|e| panic!("{tool} via {url}: {e}"));
    c.cancel().await.unwrap();
    serde_json::to_value(&r.content).unwrap()[0]["text"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn two_data_planes_follow_a_postgres_control_plane_and_survive_its_outage() {
    let Some(pg) = postgres().await else { return };
    let env = [("DATABASE_URL", pg.url.as_str())];
    let cp = Proc::start(&["control-plane", "--port", "0"], &env).await;
    let cp_url = cp.url("");
    let cp_port = cp.addr.port().to_string();
    let mut nodes = Vec::new();
    for id in ["dp-a", "dp-b"] {
        let mut dp = Proc::data_plane(&cp_url, id, &[]).await;
        dp.wait_for_line("ready").await;
        nodes.push(dp);
    }
    let token = mcpgw_data_plane::auth::Jwt::new(mcpgw_data_plane::auth::DEFAULT_JWT_SECRET).mint("carol", 600);
    let admin = clients::admin(cp.addr).await;

    let fx_a = Fixture::start(FixtureConfig {
        name: "a".into(),
        ..Default::default()
    })
    .await;
    let v = clients::register(&admin, "alpha", fx_a.url()).await;
    nodes_at(&admin, &["dp-a", "dp-b"], v).await;

    // A second backend shows its tools on both nodes; the first keeps its names.
    let fx_b = Fixture::start(FixtureConfig {
        name: "b".into(),
        ..Default::default()
    })
    .await;
    let v = clients::register(&admin, "bravo", fx_b.url()).await;
    nodes_at(&admin, &["dp-a", "dp-b"], v).await;
    for dp in &nodes {
        let names = clients::tool_names(&dp.url("/mcp"), &token).await;
        assert!(
            names.contains(&"alpha-echo".to_owned()) && names.contains(&"bravo-echo".to_owned()),
            "{names:?}"
        );
        assert_eq!(echo(&dp.url("/mcp"), &token, "bravo-echo").await, "bravo-echo");
    }

    // Without a control plane, both nodes keep serving, new sessions included.
    cp.kill().await;
    for dp in &nodes {
        assert_eq!(echo(&dp.url("/mcp"), &token, "alpha-echo").await, "alpha-echo");
        assert_eq!(echo(&dp.url("/mcp"), &token, "bravo-echo").await, "bravo-echo");
    }

    // Restarted on the same address and database, it sees both nodes come back
    // at the version they hold, and they converge on what happens next.
    let cp = Proc::start(&["control-plane", "--port", &cp_port], &env).await;
    let admin = clients::admin(cp.addr).await;
    nodes_at(&admin, &["dp-a", "dp-b"], v).await;
    let fx_c = Fixture::start(FixtureConfig {
        name: "c".into(),
        ..Default::default()
    })
    .await;
    let v = clients::register(&admin, "charlie", fx_c.url()).await;
    nodes_at(&admin, &["dp-a", "dp-b"], v).await;
    let r = admin
        .clone()
        .list_nodes(ListNodesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.current_version, v);
    for dp in &nodes {
        assert_eq!(echo(&dp.url("/mcp"), &token, "charlie-echo").await, "charlie-echo");
    }
}

#[tokio::test]
async fn a_data_plane_restarted_with_no_control_plane_serves_its_saved_config() {
    let db = mcpgw_tests::harness::SqliteDb::new();
    let cp = Proc::start(&["control-plane", "--port", "0"], &[("DATABASE_URL", &db.url)]).await;
    let dir = mcpgw_tests::harness::TempDir::new();
    let saved = dir.path().join("snapshot");
    let saved = saved.to_str().unwrap();
    let cp_url = cp.url("");
    let node =
        |cp_url: String| async move { Proc::data_plane(&cp_url, "dp-saved", &[("MCPGW_SNAPSHOT_DIR", saved)]).await };
    let dp = node(cp_url.clone()).await;
    let admin = clients::admin(cp.addr).await;
    let fx = Fixture::start(FixtureConfig::default()).await;
    let v = clients::register(&admin, "fx", fx.url()).await;
    nodes_at(&admin, &["dp-saved"], v).await;
    let file = std::path::Path::new(saved).join("snapshot.pb");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file)
        .expect("the applied config saved")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "owner-only");
    let token = clients::token("carol");

    // Both gone; the node comes back alone and serves what it had.
    dp.kill().await;
    cp.kill().await;
    let dp = node(cp_url).await;
    let ready = reqwest::get(dp.url("/ready")).await.unwrap();
    assert_eq!(ready.status(), 200, "ready on the saved config");
    assert!(ready.text().await.unwrap().contains(&format!("config version {v}")));
    assert_eq!(echo(&dp.url("/mcp"), &token, "fx-echo").await, "fx-echo");
}
