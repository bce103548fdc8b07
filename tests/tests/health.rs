//! The control plane's health checks: every endpoint of every backend is
//! probed on an interval, and the status and last error show in the API and
//! `mcpgw backend list`; with two control-plane replicas on one Postgres,
//! one runs the checks, and the other takes over when it dies.

use mcpgw_proto::v1 as pb;
use mcpgw_tests::{
    clients,
    fixture::{Fixture, FixtureConfig},
    harness::{Proc, Served, eventually, postgres},
};

/// Waits until backend `name`'s health, read through `admin`, satisfies `ok`.
async fn health_until(
    admin: &clients::Admin,
    name: &str,
    what: &str,
    ok: impl Fn(&pb::BackendHealth) -> bool,
) -> pb::BackendHealth {
    let ok = &ok;
    eventually(what, || async move {
        let h = clients::backend(admin, name).await.health.unwrap_or_default();
        ok(&h).then_some(h)
    })
    .await
}

#[tokio::test]
async fn every_endpoint_is_checked_and_status_and_last_error_are_shown() {
    let one = Fixture::start(FixtureConfig::default()).await;
    let two = Fixture::start(FixtureConfig::default()).await;
    let (one_addr, two_addr, two_url) = (one.addr, two.addr, two.url());
    let gw = Served::start(&[("HEALTH_CHECK_INTERVAL", "1"), ("UNHEALTHY_THRESHOLD", "2")]).await;
    gw.admin
        .clone()
        .create_backend(pb::CreateBackendRequest {
            name: "fx".into(),
            url: one.url(),
            endpoints: vec![two.url()],
            ..Default::default()
        })
        .await
        .expect("register");

    let h = health_until(&gw.admin, "fx", "the backend to be checked healthy", |h| {
        h.status() == pb::HealthStatus::Healthy
    })
    .await;
    assert!(h.checked_unix_ms > 0 && h.last_error.is_empty(), "{h:?}");
    let urls: Vec<&str> = h.endpoints.iter().map(|e| e.url.as_str()).collect();
    assert_eq!(urls, [one.url(), two.url()]);
    let out = gw.cli(&["backend", "list"], &[]).await;
    assert!(out.ok, "{}", out.stderr);
    let row = out.stdout.lines().find(|l| l.starts_with("fx ")).expect("a row for fx");
    assert!(row.contains("healthy") && row.contains("(+1 endpoints)"), "{row}");

    // One endpoint down: degraded, and which one and why are shown.
    two.stop().await;
    let h = health_until(&gw.admin, "fx", "the backend to be degraded", |h| {
        h.status() == pb::HealthStatus::Degraded
    })
    .await;
    assert!(h.endpoints[0].healthy && !h.endpoints[1].healthy, "{h:?}");
    assert!(!h.endpoints[1].error.is_empty());
    assert!(h.last_error.starts_with(&two_url), "{}", h.last_error);

    // Both down: unhealthy once the threshold of checks in a row is met.
    one.stop().await;
    let h = health_until(&gw.admin, "fx", "the backend to be unhealthy", |h| {
        h.status() == pb::HealthStatus::Unhealthy
    })
    .await;
    assert!(h.consecutive_failures >= 2, "{h:?}");
    let out = gw.cli(&["backend", "list"], &[]).await;
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("fx ") && l.contains("unhealthy")),
        "{}",
        out.stdout
    );

    // Both back: healthy, and the last error is still there to read.
    let _one = Fixture::start_on(one_addr, FixtureConfig::default())
        .await
        .expect("restart one");
    let _two = Fixture::start_on(two_addr, FixtureConfig::default())
        .await
        .expect("restart two");
    let h = health_until(&gw.admin, "fx", "the backend to recover", |h| {
        h.status() == pb::HealthStatus::Healthy
    })
    .await;
    assert_eq!(h.consecutive_failures, 0);
    assert!(!h.last_error.is_empty() && h.last_error_unix_ms > 0, "{h:?}");
}

#[tokio::test]
async fn one_control_plane_replica_runs_the_checks_and_another_takes_over() {
    let Some(db) = postgres().await else { return };
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("HEALTH_CHECK_INTERVAL", "1"),
        ("UNHEALTHY_THRESHOLD", "1"),
        (
            "RUST_LOG",
            "mcpgw_control_plane::discovery::health=info,mcpgw_control_plane::registry::leader=info",
        ),
    ];
    let mut a = Proc::start_logged(&["control-plane", "--port", "0"], &env).await;
    a.wait_for_line("this control-plane replica runs the backends' health checks")
        .await;
    let mut b = Proc::start_logged(&["control-plane", "--port", "0"], &env).await;
    b.wait_for_line("another control-plane replica runs the backends' health checks")
        .await;

    // Registered through b, checked by a: b's API shows what a found.
    let fx = Fixture::start(FixtureConfig::default()).await;
    let on_b = clients::admin(b.addr).await;
    clients::register(&on_b, "fx", fx.url()).await;
    health_until(&on_b, "fx", "a's check, seen through b", |h| {
        h.status() == pb::HealthStatus::Healthy
    })
    .await;
    assert!(
        !b.lines_so_far()
            .iter()
            .any(|l| l.contains("this control-plane replica runs")),
        "b stood by while a led"
    );

    // a dies: b takes the lock and its checks see the backend go down.
    a.kill().await;
    b.wait_for_line("this control-plane replica runs the backends' health checks")
        .await;
    fx.stop().await;
    let h = health_until(&on_b, "fx", "b's check to see the backend down", |h| {
        h.status() == pb::HealthStatus::Unhealthy
    })
    .await;
    assert!(!h.last_error.is_empty(), "{h:?}");
}
