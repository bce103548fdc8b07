//! Control-plane replicas on one Postgres hear each other's writes at
//! once (LISTEN/NOTIFY): with the safety-net poll set far beyond the
//! test's patience, a write through either replica still reaches the data
//! planes of the other.

use mcpgw_proto::v1 as pb;
use mcpgw_tests::{
    clients,
    fixture::{Fixture, FixtureConfig},
    harness::{self, Proc, eventually, nodes_at, postgres},
    postgres_tls::TlsPostgres,
};
use serde_json::json;

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
    let (a, mut b) = leader_and_standby(&env).await;
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

/// Two replicas started one after the other with `env` (which logs the
/// leader module at info): the first runs the singleton jobs, the second
/// stands by.
async fn leader_and_standby(env: &[(&str, &str)]) -> (Proc, Proc) {
    let mut a = Proc::start_logged(&["control-plane", "--port", "0"], env).await;
    a.wait_for_line("this control-plane replica runs the catalog listeners")
        .await;
    let mut b = Proc::start_logged(&["control-plane", "--port", "0"], env).await;
    b.wait_for_line("another control-plane replica runs the catalog listeners; standing by")
        .await;
    (a, b)
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

/// The fleet under the two failures it must ride out. Two replicas on a
/// Postgres of the test's own, two data planes each given both replicas,
/// MCP calls going through both data planes all along, and registry writes
/// going through both replicas in a burst. The replica running the singleton
/// jobs is SIGKILLed in the middle of the burst: not one MCP call fails,
/// every write a replica acknowledged is in the registry and served by both
/// data planes, and the other replica takes the jobs over. Then Postgres
/// itself restarts: calls still do not fail, and without any restart of
/// ours, writes succeed again, reach both data planes, and the surviving
/// replica holds the jobs again.
#[tokio::test]
async fn the_fleet_rides_out_a_replica_killed_mid_burst_and_a_database_restart() {
    let pg = TlsPostgres::start();
    let url = pg.database("ha").await;
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("RUST_LOG", "mcpgw_control_plane::registry::leader=info"),
    ];
    let (a, mut b) = leader_and_standby(&env).await;
    let (ua, ub) = (a.url(""), b.url(""));
    let dp1 = Proc::data_plane(&format!("{ua},{ub}"), "dp1", &[]).await;
    let dp2 = Proc::data_plane(&format!("{ub},{ua}"), "dp2", &[]).await;
    let (on_a, on_b) = (clients::admin(a.addr).await, clients::admin(b.addr).await);
    let fx = Fixture::start(FixtureConfig::default()).await;
    let v = clients::register(&on_a, "fx", fx.url()).await;
    // A replica knows the nodes that stream from it: dp1 is a's until a dies.
    nodes_at(&on_a, &["dp1"], v).await;
    nodes_at(&on_b, &["dp2"], v).await;

    // Calls through both data planes until told to stop; each loop counts
    // its answers and keeps every failure.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let token = mcpgw_data_plane::auth::Jwt::new(mcpgw_data_plane::auth::DEFAULT_JWT_SECRET).mint("erin", 600);
    let mut callers = Vec::new();
    for dp in [&dp1, &dp2] {
        let client = clients::mcp(&dp.url("/mcp"), Some(&token)).await;
        let stopped = stopped.clone();
        callers.push(tokio::spawn(async move {
            let (mut answered, mut failed) = (0u64, Vec::new());
            while !*stopped.borrow() {
                match client
                    .call_tool(clients::tool_call("fx-echo", json!({"text": "hi"})))
                    .await
                {
                    Ok(r) if r.is_error != Some(true) => answered += 1,
                    other => failed.push(format!("{other:?}")),
                }
            }
            (answered, failed)
        }));
    }

    // The burst: one writer per replica, each registering backends one
    // after another and keeping the names whose write was acknowledged.
    let (acked_on_a, mut a_progress) = tokio::sync::watch::channel(0usize);
    let writer = |admin: mcpgw_tests::clients::Admin,
                  prefix: &'static str,
                  n: usize,
                  progress: Option<tokio::sync::watch::Sender<usize>>| {
        let fx_url = fx.url();
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..n {
                let name = format!("{prefix}{i}");
                let req = pb::CreateBackendRequest {
                    name: name.clone(),
                    url: fx_url.clone(),
                    ..Default::default()
                };
                match admin.clone().create_backend(req).await {
                    Ok(_) => acked.push(name),
                    // A dead replica refuses every later write too.
                    Err(_) if progress.is_some() => break,
                    Err(e) => panic!("writing {name} through the surviving replica: {e}"),
                }
                if let Some(p) = &progress {
                    p.send_replace(acked.len());
                }
            }
            acked
        })
    };
    let through_a = writer(on_a.clone(), "wa", 1000, Some(acked_on_a));
    let through_b = writer(on_b.clone(), "wb", 30, None);
    a_progress.wait_for(|n| *n >= 5).await.unwrap();
    a.kill().await;
    b.wait_for_line("this control-plane replica runs the catalog listeners")
        .await;
    let mut acked = through_a.await.unwrap();
    assert!(
        acked.len() >= 5 && acked.len() < 1000,
        "a died mid-burst: {}",
        acked.len()
    );
    acked.extend(through_b.await.unwrap());

    // Every acknowledged write is in the registry and on both data planes.
    let registered: Vec<String> = clients::backends(&on_b).await.into_iter().map(|b| b.name).collect();
    let v = harness::config_version(&on_b).await;
    nodes_at(&on_b, &["dp1", "dp2"], v).await;
    for dp in [&dp1, &dp2] {
        let names = clients::tool_names(&dp.url("/mcp"), &token).await;
        for name in &acked {
            assert!(registered.contains(name), "{name} acknowledged, not registered");
            let tool = format!("{name}-echo");
            assert!(names.contains(&tool), "{tool} not served by {}", dp.url(""));
        }
    }

    // Postgres restarts under the fleet.
    pg.stop();
    b.wait_for_line("lost the lock of the catalog listeners").await;
    pg.restart();
    b.wait_for_line("this control-plane replica runs the catalog listeners")
        .await;
    let v = eventually("a write through b once the database is back", || {
        let on_b = on_b.clone();
        let fx_url = fx.url();
        async move {
            let req = pb::CreateBackendRequest {
                name: "after".into(),
                url: fx_url,
                ..Default::default()
            };
            let created = on_b.clone().create_backend(req).await.ok()?;
            Some(created.into_inner().backend?.config_version)
        }
    })
    .await;
    nodes_at(&on_b, &["dp1", "dp2"], v).await;
    for dp in [&dp1, &dp2] {
        let names = clients::tool_names(&dp.url("/mcp"), &token).await;
        assert!(names.contains(&"after-echo".to_owned()), "{names:?}");
    }

    stop.send_replace(true);
    for caller in callers {
        let (answered, failed) = caller.await.unwrap();
        assert!(answered > 0, "the calls ran");
        assert!(
            failed.is_empty(),
            "{} of {} calls failed: {:?}",
            failed.len(),
            answered + failed.len() as u64,
            &failed[..failed.len().min(3)]
        );
    }
}
