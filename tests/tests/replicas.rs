//! Control-plane replicas on one Postgres hear each other's writes at
//! once (LISTEN/NOTIFY): with the safety-net poll set far beyond the
//! test's patience, a write through either replica still reaches the data
//! planes of the other.

use mcpgw_proto::v1 as pb;
use mcpgw_tests::{
    clients,
    fixture::{Fixture, FixtureConfig},
    harness::{Proc, nodes_at, postgres},
};

#[tokio::test]
async fn a_write_through_one_replica_reaches_the_nodes_of_another() {
    let Some(db) = postgres().await else { return };
    // No poll within the test: only a notification can carry a write.
    let env = [("DATABASE_URL", db.url.as_str()), ("MCPGW_REGISTRY_POLL_SECS", "3600")];
    let a = Proc::start(&["control-plane", "--port", "0"], &env).await;
    let b = Proc::start(&["control-plane", "--port", "0"], &env).await;
    let mut dp_a = Proc::data_plane(&a.url(""), "dp-a", &[]).await;
    dp_a.wait_for_line("ready").await;
    let mut dp_b = Proc::data_plane(&b.url(""), "dp-b", &[]).await;
    dp_b.wait_for_line("ready").await;
    let (on_a, mut on_b) = (clients::admin(a.addr).await, clients::admin(b.addr).await);
    let token = mcpgw_data_plane::auth::Jwt::new(mcpgw_data_plane::auth::DEFAULT_JWT_SECRET).mint("carol", 600);

    // Registered through a, served by b's node.
    let fx = Fixture::start(FixtureConfig::default()).await;
    let v = clients::register(&on_a, "fx", fx.url()).await;
    nodes_at(&on_b, &["dp-b"], v).await;
    let names = clients::tool_names(&dp_b.url("/mcp"), &token).await;
    assert!(names.contains(&"fx-echo".to_owned()), "{names:?}");

    // Disabled through b, gone from a's node.
    let req = pb::SetToolEnabledRequest {
        tool: "fx-echo".into(),
        enabled: false,
    };
    let t = on_b.set_tool_enabled(req).await.unwrap().into_inner().tool.unwrap();
    nodes_at(&on_a, &["dp-a"], t.config_version).await;
    let names = clients::tool_names(&dp_a.url("/mcp"), &token).await;
    assert!(!names.contains(&"fx-echo".to_owned()), "{names:?}");
    assert!(names.contains(&"fx-progress".to_owned()), "{names:?}");
}
