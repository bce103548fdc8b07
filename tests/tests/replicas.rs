//! Control-plane replicas on one Postgres hear each other's writes at
//! once (LISTEN/NOTIFY): with the safety-net poll set far beyond the
//! test's patience, a write through either replica still reaches the data
//! planes of the other.

use mcpgw_proto::v1 as pb;
use mcpgw_tests::{
    clients,
    fixture::{Fixture, FixtureConfig},
    harness::{Proc, eventually, nodes_at, postgres},
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

/// A backend's list changes are listened to by one replica for the whole
/// fleet; when that replica dies (SIGKILL, its lock's connection gone), a
/// replica standing by takes over the listeners, and a change the backend
/// announces then still reaches the data planes.
#[tokio::test]
async fn the_catalog_listeners_run_on_one_replica_and_move_when_it_dies() {
    let Some(db) = postgres().await else { return };
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("RUST_LOG", "mcpgw_control_plane::registry::leader=info"),
        // Neither health checks nor periodic re-listing: only a listener
        // can bring the change.
        ("HEALTH_CHECK_INTERVAL", "0"),
        ("MCPGW_RELIST_INTERVAL_SECS", "0"),
    ];
    let mut a = Proc::start_logged(&["control-plane", "--port", "0"], &env).await;
    a.wait_for_line("this control-plane replica runs the catalog listeners")
        .await;
    let mut b = Proc::start_logged(&["control-plane", "--port", "0"], &env).await;
    b.wait_for_line("another control-plane replica runs the catalog listeners; standing by")
        .await;
    // The node follows b and makes no call, so it holds no backend session
    // that would hear the change itself.
    let mut dp = Proc::data_plane(&b.url(""), "dp-b", &[]).await;
    dp.wait_for_line("ready").await;
    let on_b = clients::admin(b.addr).await;
    let token = mcpgw_data_plane::auth::Jwt::new(mcpgw_data_plane::auth::DEFAULT_JWT_SECRET).mint("carol", 600);

    let fx = Fixture::start(FixtureConfig::default()).await;
    let v = clients::register(&on_b, "fx", fx.url()).await;
    nodes_at(&on_b, &["dp-b"], v).await;
    fx.wait_listeners(1).await;
    assert_eq!(fx.add_tool("first").await, 1, "one listener for the fleet, a's");
    let names = eventually("a's listener to bring fx-first", || async {
        let names = clients::tool_names(&dp.url("/mcp"), &token).await;
        names.contains(&"fx-first".to_owned()).then_some(names)
    })
    .await;
    assert!(names.contains(&"fx-echo".to_owned()));

    a.kill().await;
    b.wait_for_line("this control-plane replica runs the catalog listeners")
        .await;
    // Heard by b's listener, or listed by it when it opens (a listener
    // lists its backend on opening, in case it missed a change).
    fx.add_tool("second").await;
    eventually("b's listener to bring fx-second", || async {
        let names = clients::tool_names(&dp.url("/mcp"), &token).await;
        names.contains(&"fx-second".to_owned()).then_some(())
    })
    .await;
}

/// A data plane given every replica's URL (`MCPGW_CONTROL_PLANE`, comma
/// separated) keeps its config stream when the replica it streams from
/// dies: it moves to the next (saying the version it holds), and a
/// write through the surviving replica reaches it; it stays ready.
#[tokio::test]
async fn a_data_plane_moves_to_another_replica_when_its_own_dies() {
    let Some(db) = postgres().await else { return };
    let env = [("DATABASE_URL", db.url.as_str())];
    let a = Proc::start(&["control-plane", "--port", "0"], &env).await;
    let b = Proc::start(&["control-plane", "--port", "0"], &env).await;
    let both = format!("{},{}", a.url(""), b.url(""));
    let mut dp = Proc::data_plane(&both, "dp", &[]).await;
    dp.wait_for_line("ready").await;
    let (on_a, on_b) = (clients::admin(a.addr).await, clients::admin(b.addr).await);
    let token = mcpgw_data_plane::auth::Jwt::new(mcpgw_data_plane::auth::DEFAULT_JWT_SECRET).mint("dave", 600);
    let first = Fixture::start(FixtureConfig::default()).await;
    let v = clients::register(&on_a, "first", first.url()).await;
    // The node streams from the first URL's replica.
    nodes_at(&on_a, &["dp"], v).await;

    a.kill().await;
    let second = Fixture::start(FixtureConfig::default()).await;
    let v = clients::register(&on_b, "second", second.url()).await;
    nodes_at(&on_b, &["dp"], v).await;
    let names = clients::tool_names(&dp.url("/mcp"), &token).await;
    assert!(names.contains(&"first-echo".to_owned()), "{names:?}");
    assert!(names.contains(&"second-echo".to_owned()), "{names:?}");
    let ready = reqwest::get(dp.url("/ready")).await.unwrap();
    assert!(ready.status().is_success(), "{}", ready.status());
}
