//! The response cache, through real gateways and the official Rust SDK's
//! client: many reads reach the backend once; tools are cached only when
//! opted in and annotated as changing nothing; entries expire, and a
//! registry change or a backend's `resources/updated` invalidates them, and
//! a tool that stops declaring itself read-only loses its TTL; with
//! `CACHE_TYPE=redis` two data planes share one cache. What a client's own
//! backend session answers (one that declared capabilities the backend may
//! use) is never stored for others.

#![allow(deprecated)]

use mcpgw_proto::v1 as pb;
use mcpgw_tests::{
    clients::{self, McpClient, RawMcp},
    fixture::{Fixture, FixtureConfig, catalog::WATCHED},
    harness::{Served, config_version, eventually, mcpgw_cli, nodes_at, redis},
};
use rmcp::model::{ReadResourceRequestParams, ResourceContents, SubscribeRequestParams};
use serde_json::json;

const STATIC: &str = "test://static-text";

async fn read_text(client: &McpClient, uri: &str) -> String {
    let r = client
        .read_resource(ReadResourceRequestParams::new(uri))
        .await
        .unwrap_or_else(|e| panic!("reading {uri}: {e}"));
    match &r.contents[0] {
        ResourceContents::TextResourceContents { text, .. } => text.clone(),
        other => panic!("expected text contents, got {other:?}"),
    }
}

async fn echo(client: &McpClient, text: &str) -> String {
    let r = client
        .call_tool(clients::tool_call("fx-echo", json!({"text": text})))
        .await
        .expect("call echo");
    clients::first_text(&r)
}

/// The id of the tool clients call `exposed`.
async fn tool_id(admin: &clients::Admin, exposed: &str) -> String {
    let tool = admin
        .clone()
        .get_tool(pb::GetToolRequest { tool: exposed.into() })
        .await
        .unwrap_or_else(|e| panic!("finding {exposed}: {e}"))
        .into_inner()
        .tool
        .expect("a tool");
    tool.id
}

/// Sets an item's TTL and waits until every node serves the change.
async fn set_item_ttl(gw: &Served, item: &str, ttl: Option<u32>) -> Result<pb::Item, tonic::Status> {
    let set = gw
        .admin
        .clone()
        .set_item_cache(pb::SetItemCacheRequest {
            item: item.into(),
            ttl_seconds: ttl,
        })
        .await?;
    nodes_at(&gw.admin, &[], config_version(&gw.admin).await).await;
    Ok(set.into_inner().item.expect("an item"))
}

/// Sets backend fx's TTL and waits until every node serves the change.
async fn set_backend_ttl(gw: &Served, ttl: u32) -> pb::Backend {
    let updated = gw
        .admin
        .clone()
        .update_backend(pb::UpdateBackendRequest {
            backend: "fx".into(),
            cache_ttl_seconds: Some(ttl),
            ..Default::default()
        })
        .await
        .expect("set the backend's TTL")
        .into_inner()
        .backend
        .expect("a backend");
    nodes_at(&gw.admin, &[], updated.config_version).await;
    updated
}

#[tokio::test]
async fn reads_and_opted_in_tools_are_cached_until_they_expire_or_the_registry_changes() {
    let (fixtures, gw) = Served::with_fixtures(&["fx"]).await;
    let fx = &fixtures[0];
    let client = clients::mcp_plain(&gw.proc.url("/mcp"), Some(&clients::token("pat"))).await;

    // Many reads of a listed resource and of a templated one: each reaches
    // the backend once, and every answer is the backend's.
    for _ in 0..5 {
        assert!(read_text(&client, STATIC).await.contains("static text"));
        assert!(
            read_text(&client, "test://template/9/data")
                .await
                .contains("Data for ID: 9")
        );
    }
    assert_eq!(fx.reads(STATIC), 1);
    assert_eq!(fx.reads("test://template/9/data"), 1);

    // Tools are not cached unless opted in.
    for _ in 0..3 {
        assert_eq!(echo(&client, "a").await, "a");
    }
    assert_eq!(fx.calls("echo"), 3);
    // Only a tool that says it changes nothing may be.
    let fail = tool_id(&gw.admin, "fx-fail").await;
    let refused = set_item_ttl(&gw, &fail, Some(30)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert!(refused.message().contains("readOnlyHint"), "{}", refused.message());
    let out = gw.cli(&["tool", "cache", "fx-fail", "--ttl", "30"], &[]).await;
    assert!(
        !out.ok && out.stderr.contains("not annotated as read-only"),
        "{}",
        out.stderr
    );
    let out = gw.cli(&["tool", "cache", "fx-echo", "--ttl", "300"], &[]).await;
    assert!(out.ok, "{}", out.stderr);
    assert!(out.stdout.contains("cached for 300 s"), "{}", out.stdout);
    nodes_at(&gw.admin, &[], config_version(&gw.admin).await).await;
    let echo_id = tool_id(&gw.admin, "fx-echo").await;
    let tool = gw
        .admin
        .clone()
        .get_tool(pb::GetToolRequest { tool: echo_id.clone() })
        .await
        .unwrap();
    assert_eq!(tool.into_inner().tool.unwrap().cache_ttl_seconds, Some(300));
    assert_eq!(echo(&client, "a").await, "a");
    assert_eq!(echo(&client, "a").await, "a");
    assert_eq!(echo(&client, "b").await, "b");
    assert_eq!(echo(&client, "b").await, "b");
    assert_eq!(fx.calls("echo"), 5, "one call per distinct arguments");

    // What cannot be cached, or does not exist, is refused and changes nothing.
    let prompt = gw
        .admin
        .clone()
        .list_items(pb::ListItemsRequest {
            kind: pb::ItemKind::Prompt.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .items
        .remove(0);
    let before = config_version(&gw.admin).await;
    let e = set_item_ttl(&gw, &prompt.id, Some(30)).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{}", e.message());
    let e = set_item_ttl(&gw, "no-such-item", Some(30)).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "{}", e.message());
    let e = set_item_ttl(&gw, &echo_id, Some(400 * 24 * 3600)).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{}", e.message());
    assert_eq!(config_version(&gw.admin).await, before, "nothing was written");

    // A registry change to the backend invalidates what it had cached: the
    // next read and call reach it again.
    let updated = set_backend_ttl(&gw, 1).await;
    assert_eq!(updated.cache_ttl_seconds, Some(1));
    assert!(read_text(&client, STATIC).await.contains("static text"));
    assert_eq!(fx.reads(STATIC), 2);
    assert_eq!(echo(&client, "a").await, "a");
    assert_eq!(fx.calls("echo"), 6);

    // Entries expire: with a TTL of one second, reads reach the backend again.
    eventually("a cached read to expire", || {
        let client = &client;
        async move {
            read_text(client, STATIC).await;
            (fx.reads(STATIC) > 2).then_some(())
        }
    })
    .await;

    // A TTL of 0 caches nothing.
    set_backend_ttl(&gw, 0).await;
    let at = fx.reads(STATIC);
    read_text(&client, STATIC).await;
    read_text(&client, STATIC).await;
    assert_eq!(fx.reads(STATIC), at + 2);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_resource_update_invalidates_its_cached_read() {
    let fx = Fixture::start(FixtureConfig::default()).await;
    let gw = Served::start(&[]).await.with_backends(&[("fx", fx.url())]).await;
    let recorder = clients::Recorder::plain();
    let client = clients::mcp_with(recorder.clone(), &gw.proc.url("/mcp"), Some(&clients::token("pat"))).await;
    client
        .subscribe(SubscribeRequestParams::new(WATCHED))
        .await
        .expect("subscribe");
    assert_eq!(read_text(&client, WATCHED).await, "watched content");
    assert_eq!(read_text(&client, WATCHED).await, "watched content");
    assert_eq!(fx.reads(WATCHED), 1, "the second read is cached");

    // The backend changes it and says so; the client hears of it and reads
    // the new content.
    fx.set_resource_text(WATCHED, "changed content");
    let updated = recorder.updated.clone();
    eventually("the update to reach the client", || {
        let (fx, updated) = (&fx, updated.clone());
        async move {
            fx.update_resource(WATCHED).await;
            updated.lock().unwrap().first().cloned()
        }
    })
    .await;
    assert_eq!(read_text(&client, WATCHED).await, "changed content");
    assert_eq!(fx.reads(WATCHED), 2);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn what_a_clients_own_session_answers_is_not_stored_for_others() {
    let fx = Fixture::start(FixtureConfig::default()).await;
    let gw = Served::start(&[]).await.with_backends(&[("fx", fx.url())]).await;
    let token = clients::token("pat");
    // A client that can be sampled, elicited and asked for roots has its
    // calls sent in a backend session of its own: its answers may hold
    // what it contributed, so none is stored.
    let capable = clients::mcp(&gw.proc.url("/mcp"), Some(&token)).await;
    assert!(read_text(&capable, STATIC).await.contains("static text"));
    assert!(read_text(&capable, STATIC).await.contains("static text"));
    assert_eq!(
        fx.reads(STATIC),
        2,
        "each read of the capable client reaches the backend"
    );
    // A client that declares nothing uses the shared session: its answer is
    // stored, and served to both.
    let plain = clients::mcp_plain(&gw.proc.url("/mcp"), Some(&token)).await;
    assert!(read_text(&plain, STATIC).await.contains("static text"));
    assert!(read_text(&plain, STATIC).await.contains("static text"));
    assert!(read_text(&capable, STATIC).await.contains("static text"));
    assert_eq!(
        fx.reads(STATIC),
        3,
        "the shared session's answer is cached for everyone"
    );
    capable.cancel().await.unwrap();
    plain.cancel().await.unwrap();
}

#[tokio::test]
async fn a_tool_that_stops_declaring_itself_read_only_loses_its_cache() {
    let fx = Fixture::start(FixtureConfig::default()).await;
    let gw = Served::start(&[("MCPGW_RELIST_INTERVAL_SECS", "1")])
        .await
        .with_backends(&[("fx", fx.url())])
        .await;
    let echo_id = tool_id(&gw.admin, "fx-echo").await;
    set_item_ttl(&gw, &echo_id, Some(300)).await.expect("echo is read-only");
    let client = clients::mcp_plain(&gw.proc.url("/mcp"), Some(&clients::token("pat"))).await;
    assert_eq!(echo(&client, "a").await, "a");
    assert_eq!(echo(&client, "a").await, "a");
    assert_eq!(fx.calls("echo"), 1);

    // The backend now says echo may act: at the next listing its TTL goes,
    // and every call reaches the backend.
    fx.set_annotations("echo", json!({"readOnlyHint": false}));
    let admin = gw.admin.clone();
    // The version the change was written at: the nodes must hold it (the
    // control plane may publish it a moment after it is written).
    let changed_at = eventually("the re-listing to drop echo's TTL", || {
        let (admin, id) = (admin.clone(), echo_id.clone());
        async move {
            let tool = admin.clone().get_tool(pb::GetToolRequest { tool: id }).await.ok()?;
            let tool = tool.into_inner().tool?;
            tool.cache_ttl_seconds.is_none().then_some(tool.config_version)
        }
    })
    .await;
    nodes_at(&gw.admin, &[], changed_at).await;
    assert_eq!(echo(&client, "a").await, "a");
    assert_eq!(echo(&client, "a").await, "a");
    assert_eq!(fx.calls("echo"), 3);
    client.cancel().await.unwrap();
}

/// The keys under a fleet's cache prefix in the shared Redis.
async fn cached_keys(url: &str, prefix: &str) -> Vec<String> {
    let client = redis::Client::open(url).expect("a Redis URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");
    redis::cmd("KEYS")
        .arg(format!("{prefix}:cache:*"))
        .query_async(&mut conn)
        .await
        .expect("KEYS")
}

#[tokio::test]
async fn two_data_planes_share_cached_reads_through_redis() {
    let Some(fleet) = redis().await else { return };
    let fx = Fixture::start(FixtureConfig::default()).await;
    let mut env = fleet.env().to_vec();
    env.push(("CACHE_TYPE", "redis"));
    let a = Served::start(&env).await.with_backends(&[("fx", fx.url())]).await;
    let b = a.node("dp-b", &env).await;
    let token = clients::token("pat");
    let on_a = clients::mcp_plain(&a.proc.url("/mcp"), Some(&token)).await;
    let on_b = clients::mcp_plain(&b.url("/mcp"), Some(&token)).await;

    assert!(read_text(&on_a, STATIC).await.contains("static text"));
    // A stores the entry in the background; once Redis holds it, B's
    // read is answered from it.
    eventually("the read to be cached in Redis", || async {
        (!cached_keys(&fleet.url, &fleet.prefix).await.is_empty()).then_some(())
    })
    .await;
    assert!(read_text(&on_b, STATIC).await.contains("static text"));
    assert!(read_text(&on_a, STATIC).await.contains("static text"));
    assert_eq!(fx.reads(STATIC), 1, "one read for both data planes");

    // An update heard by the node that holds the subscription drops the
    // shared entry: the other node reads the new content.
    let raw = RawMcp::new(a.proc.url("/mcp"), Some(token.clone()));
    let (sid, _) = raw.initialize("2025-11-25").await;
    let subscribe = json!({"jsonrpc": "2.0", "id": 1, "method": "resources/subscribe", "params": {"uri": WATCHED}});
    let subscribed = raw.post(subscribe.to_string(), &[("mcp-session-id", &sid)]).await;
    assert_eq!(subscribed.status(), 200);
    assert_eq!(read_text(&on_b, WATCHED).await, "watched content");
    eventually("the watched read to be cached in Redis", || async {
        (cached_keys(&fleet.url, &fleet.prefix).await.len() >= 2).then_some(())
    })
    .await;
    assert_eq!(read_text(&on_a, WATCHED).await, "watched content");
    assert_eq!(fx.reads(WATCHED), 1);
    fx.set_resource_text(WATCHED, "changed content");
    // Said until a node's shared backend session (which holds the
    // subscription) has its stream open to hear it.
    eventually("the update to drop the shared entry", || async {
        fx.update_resource(WATCHED).await;
        (cached_keys(&fleet.url, &fleet.prefix).await.len() < 2).then_some(())
    })
    .await;
    assert_eq!(read_text(&on_b, WATCHED).await, "changed content");
    on_a.cancel().await.unwrap();
    on_b.cancel().await.unwrap();
}

#[tokio::test]
async fn a_redis_cache_without_redis_is_refused_at_start() {
    let out = mcpgw_cli(
        &["data-plane", "--port", "0"],
        &[("CACHE_TYPE", "redis"), ("PATH", "/usr/bin:/bin")],
    )
    .await;
    assert!(!out.ok, "{}", out.stdout);
    assert!(
        out.stderr.contains("CACHE_TYPE=redis needs REDIS_URL"),
        "{}",
        out.stderr
    );
    let out = mcpgw_cli(&["data-plane", "--port", "0"], &[("CACHE_TYPE", "disk")]).await;
    assert!(!out.ok);
    assert!(out.stderr.contains("memory, redis, none"), "{}", out.stderr);
}
