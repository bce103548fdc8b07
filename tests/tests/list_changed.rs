//! Catalogs that refresh: a backend that announces `list_changed` is
//! re-listed by the control plane, the change reaches the data planes as a
//! delta, and clients with an open stream hear `list_changed` themselves.

use mcpgw_tests::{
    clients::{self, Events, RawMcp},
    fixture::{Fixture, FixtureConfig},
    harness::{Served, config_version, nodes_at},
};
use serde_json::{Value, json};

#[tokio::test]
async fn a_tool_added_to_a_running_backend_reaches_clients_with_list_changed() {
    let fx = Fixture::start(FixtureConfig::default()).await;
    let gw = Served::start(&[]).await.with_backends(&[("fx", fx.url())]).await;
    // The control plane listens on the backend's standalone stream.
    fx.wait_listeners(1).await;
    // A second data plane, following the same control plane.
    let other = gw.node("dp-2", &[]).await;

    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("pat")));
    let (sid, init) = raw.initialize("2025-11-25").await;
    assert_eq!(init["result"]["capabilities"]["tools"]["listChanged"], true);
    let stream = raw.open_stream(&sid).await;
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut events = Events::of(stream);

    assert!(fx.add_tool("brand_new").await >= 1, "someone listened");
    let note = events.next_message().await;
    assert_eq!(note["method"], "notifications/tools/list_changed", "{note}");

    let list = raw
        .post(
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string(),
            &[("mcp-session-id", &sid)],
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"fx-brand_new"), "{names:?}");
    assert!(names.contains(&"fx-echo"), "the others stay, under the same names");

    // Every data plane serves it.
    let v = config_version(&gw.admin).await;
    nodes_at(&gw.admin, &["dp-2"], v).await;
    let names = clients::tool_names(&other.url("/mcp"), &clients::token("pat")).await;
    assert!(names.contains(&"fx-brand_new".to_string()), "{names:?}");

    // The stream is the session's: another endpoint's session cannot open it.
    let nowhere = RawMcp::new(gw.proc.url("/servers/nope/mcp"), raw.token.clone());
    let elsewhere = nowhere.open_stream(&sid).await;
    assert_eq!(elsewhere.status(), 404);
}

#[tokio::test]
async fn a_subscribed_resource_update_reaches_only_its_subscriber() {
    let fx = Fixture::start(FixtureConfig::default()).await;
    let gw = Served::start(&[]).await.with_backends(&[("fx", fx.url())]).await;
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("pat")));
    let (subscriber, _) = raw.initialize("2025-11-25").await;
    let (bystander, _) = raw.initialize("2025-11-25").await;
    let mut events = Events::of(raw.open_stream(&subscriber).await);
    let mut elsewhere = Events::of(raw.open_stream(&bystander).await);

    let subscribe = json!({"jsonrpc": "2.0", "id": 1, "method": "resources/subscribe",
                           "params": {"uri": "test://watched-resource"}});
    let res = raw
        .post(subscribe.to_string(), &[("mcp-session-id", &subscriber)])
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["result"], json!({}));
    // The control plane's listener and this node's pooled session's.
    fx.wait_listeners(2).await;

    // An update nobody subscribed to is not passed on; the subscribed one is.
    fx.update_resource("test://static-text").await;
    fx.update_resource("test://watched-resource").await;
    let note = events.next_message().await;
    assert_eq!(note["method"], "notifications/resources/updated");
    assert_eq!(note["params"]["uri"], "test://watched-resource");

    // The other session hears nothing of it: its next event is a list change.
    fx.add_tool("later").await;
    let next = elsewhere.next_message().await;
    assert_eq!(next["method"], "notifications/tools/list_changed", "{next}");
}

#[tokio::test]
async fn one_session_unsubscribing_keeps_the_backend_subscription_others_need() {
    let fx = Fixture::start(FixtureConfig::default()).await;
    let gw = Served::start(&[]).await.with_backends(&[("fx", fx.url())]).await;
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("pat")));
    let (one, _) = raw.initialize("2025-11-25").await;
    let (two, _) = raw.initialize("2025-11-25").await;
    let ask = |sid: String, method: &'static str| {
        let raw = raw.clone();
        async move {
            let body =
                json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": {"uri": "test://watched-resource"}});
            let res = raw.post(body.to_string(), &[("mcp-session-id", &sid)]).await;
            assert_eq!(res.json::<Value>().await.unwrap()["result"], json!({}));
        }
    };
    ask(one.clone(), "resources/subscribe").await;
    ask(two.clone(), "resources/subscribe").await;
    ask(one, "resources/unsubscribe").await;
    assert!(
        fx.subscriptions().contains("test://watched-resource"),
        "session two still wants it"
    );
    ask(two, "resources/unsubscribe").await;
    assert!(fx.subscriptions().is_empty(), "the last one out unsubscribes upstream");
}

/// A backend that changes without saying so is re-listed within the
/// interval; a re-listing that finds nothing new writes nothing.
#[tokio::test]
async fn a_backend_that_never_says_it_changed_is_caught_up_by_relisting() {
    let fx = mcpgw_tests::fixture::Fixture::start(Default::default()).await;
    let gw = mcpgw_tests::harness::Served::start(&[("MCPGW_RELIST_INTERVAL_SECS", "1")])
        .await
        .with_backends(&[("quiet", fx.url())])
        .await;
    fx.add_tool_silently("late");
    let token = mcpgw_tests::clients::token("pat");
    mcpgw_tests::harness::eventually("the quietly added tool is served", || async {
        let names = mcpgw_tests::clients::tool_names(&gw.proc.url("/mcp"), &token).await;
        names.iter().any(|n| n == "quiet-late").then_some(())
    })
    .await;
    let version = mcpgw_tests::harness::config_version(&gw.admin).await;
    // Two more re-listings (each opens a session on the backend) change nothing.
    let seen = fx.initialized();
    mcpgw_tests::harness::eventually("two more re-listings", || async {
        (fx.initialized() >= seen + 2).then_some(())
    })
    .await;
    assert_eq!(mcpgw_tests::harness::config_version(&gw.admin).await, version);
}
