//! Federation with real gateways: three `mcpgw serve` processes A → B → C,
//! C serving a fixture MCP server. A registers B at start from
//! FEDERATION_PEERS; a tool of C is called from A with the official Rust
//! SDK's client. Two gateways that register each other do not list each
//! other's items back, and a request that comes round to a gateway it
//! already passed is refused at once (-32013), never sent on. C killed: its
//! tools leave A's list within the sync interval, and come back when C
//! restarts.

use mcpgw_proto::v1::{self as pb, backend_credentials::Auth};
use mcpgw_tests::{
    clients::{self, RawMcp},
    fixture::Fixture,
    harness::{Served, eventually},
};
use serde_json::{Value, json};

/// Checked and re-listed every second, down after one failed check.
const SYNC: [(&str, &str); 2] = [("FEDERATION_SYNC_INTERVAL", "1"), ("UNHEALTHY_THRESHOLD", "1")];

/// Registers the gateway at `url` as backend `name` of `on`.
async fn peer(on: &Served, name: &str, url: String) -> pb::Backend {
    let req = pb::CreateBackendRequest {
        name: name.into(),
        url,
        credentials: Some(pb::BackendCredentials {
            auth: Some(Auth::Bearer(pb::BearerAuth {
                token: clients::token(name),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    clients::create_backend(&on.admin, req).await.expect("register a peer")
}

/// Waits until `gw` lists (`present`) or no longer lists tool `name`.
async fn listed(gw: &Served, name: &str, present: bool) {
    let (url, token) = (gw.proc.url("/mcp"), clients::token("pat"));
    let what = format!("{name} to be {}listed", if present { "" } else { "no longer " });
    eventually(&what, || {
        let (url, token) = (url.clone(), token.clone());
        async move { (clients::tool_names(&url, &token).await.iter().any(|n| n == name) == present).then_some(()) }
    })
    .await;
}

/// The JSON-RPC message of a response, sent as JSON or as one SSE event.
async fn message(res: reqwest::Response) -> Value {
    let text = res.text().await.unwrap();
    let data = text
        .lines()
        .find_map(|l| l.strip_prefix("data:"))
        .map_or(text.as_str(), str::trim);
    serde_json::from_str(data).unwrap_or_else(|_| panic!("a JSON-RPC message: {text}"))
}

#[tokio::test]
async fn gateways_federate_without_loops_and_follow_a_peer_down_and_back() {
    let fx = Fixture::start(Default::default()).await;
    let c = Served::start(&[]).await.with_backends(&[("fx", fx.url())]).await;
    let b = Served::start(&SYNC).await;
    peer(&b, "c", c.proc.url("/mcp")).await;
    let peers = json!([{"name": "b", "url": b.proc.url("/mcp"), "token": clients::token("b")}]).to_string();
    let mut env = SYNC.to_vec();
    env.push(("FEDERATION_PEERS", &peers));
    let a = Served::start(&env).await;

    // A → B → C: C's tool, named by each hop, called from A.
    listed(&a, "b-c-fx-echo", true).await;
    let b_on_a = clients::backend(&a.admin, "b").await;
    assert!(!b_on_a.peer_gateway_id.is_empty(), "B said it is a gateway");
    let list = a.cli(&["backend", "list"], &[]).await;
    assert!(
        list.stdout
            .lines()
            .any(|l| l.starts_with("b ") && l.contains(" gateway ")),
        "{}",
        list.stdout
    );
    let client = clients::mcp(&a.proc.url("/mcp"), Some(&clients::token("pat"))).await;
    let r = client
        .call_tool(clients::tool_call("b-c-fx-echo", json!({"text": "across three"})))
        .await
        .expect("call C's tool through A and B");
    assert_eq!(clients::first_text(&r), "across three");
    assert_eq!(fx.calls("echo"), 1);

    // B registers A back: A lists nothing that came from B, so B gets
    // none of its own items back under A's name.
    let a_on_b = peer(&b, "a", a.proc.url("/mcp")).await;
    assert_eq!(a_on_b.tool_count, 0, "A's tools are all B's: none are listed back to B");
    assert!(!a_on_b.peer_gateway_id.is_empty());

    // A request that already passed B, sent to A for B: refused at once
    // when it comes round to B, and C is never reached.
    let raw = RawMcp::new(a.proc.url("/mcp"), Some(clients::token("pat")));
    let (sid, _) = raw.initialize("2025-06-18").await;
    let call = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {
        "name": "b-c-fx-echo", "arguments": {"text": "loop"},
        "_meta": {"io.mcpgw/via": [b_on_a.peer_gateway_id]}}});
    let headers = [("mcp-session-id", sid.as_str()), ("mcp-protocol-version", "2025-06-18")];
    let answer = message(raw.post(call.to_string(), &headers).await).await;
    assert_eq!(answer["error"]["code"], -32013, "{answer}");
    let why = answer["error"]["message"].as_str().unwrap();
    assert!(why.contains("loop") && why.contains(&b_on_a.peer_gateway_id), "{why}");
    assert_eq!(fx.calls("echo"), 1, "the looping request never reached C");
    // A gateway given its own URL refuses it.
    let e = clients::create_backend(
        &a.admin,
        pb::CreateBackendRequest {
            name: "me".into(),
            url: a.proc.url("/mcp"),
            credentials: Some(pb::BackendCredentials {
                auth: Some(Auth::Bearer(pb::BearerAuth {
                    token: clients::token("self"),
                })),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await
    .expect_err("a gateway is not its own backend");
    assert!(e.message().contains("this gateway itself"), "{}", e.message());

    // C down: B finds it so and stops serving it, and A's list follows.
    let c_port = c.proc.addr.port();
    let stopped = c.stop().await;
    listed(&a, "b-c-fx-echo", false).await;
    let c = stopped.start(&[]).await;
    assert_eq!(c.proc.addr.port(), c_port);
    // C back: listed again, and callable.
    listed(&a, "b-c-fx-echo", true).await;
    let r = client
        .call_tool(clients::tool_call("b-c-fx-echo", json!({"text": "back"})))
        .await
        .expect("call C's tool again");
    assert_eq!(clients::first_text(&r), "back");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn the_chain_goes_upstream_in_a_header_too_and_a_header_alone_stops_a_loop() {
    let fx = Fixture::start(Default::default()).await;
    let gw = Served::start(&[]).await.with_backends(&[("fx", fx.url())]).await;
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("pat")));
    let (sid, init) = raw.initialize("2025-06-18").await;
    let own = init["result"]["capabilities"]["experimental"]["io.mcpgw/gateway"]["id"]
        .as_str()
        .expect("the gateway names itself")
        .to_owned();
    let session = [("mcp-session-id", sid.as_str()), ("mcp-protocol-version", "2025-06-18")];
    // Calls fx's echo with `meta` in its _meta and `via` as the header;
    // the answer, and how often fx saw `seen` as a header since.
    let call = |meta: Value, via: Option<String>, seen: String| {
        let (raw, fx) = (&raw, &fx);
        async move {
            let before = fx.seen_headers().iter().filter(|h| **h == seen).count();
            let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
                "name": "fx-echo", "arguments": {"text": "hop"}, "_meta": meta}});
            let mut headers = session.to_vec();
            if let Some(v) = &via {
                headers.push(("mcpgw-via", v.as_str()));
            }
            let answer = message(raw.post(body.to_string(), &headers).await).await;
            let after = fx.seen_headers().iter().filter(|h| **h == seen).count();
            (answer, after - before)
        }
    };

    // Sent on with this gateway as the chain, in the header as in _meta.
    let (answer, seen) = call(json!({}), None, format!("mcpgw-via: {own}")).await;
    assert_eq!(answer["result"]["content"][0]["text"], "hop", "{answer}");
    assert_eq!(seen, 1);
    // A chain that came in the header alone is read and carried on.
    let (answer, seen) = call(json!({}), Some("gw-x".into()), format!("mcpgw-via: gw-x, {own}")).await;
    assert!(answer["result"].is_object(), "{answer}");
    assert_eq!(seen, 1);
    // Both carriers: the gateways of either, in order, each once.
    let (answer, seen) = call(
        json!({"io.mcpgw/via": ["gw-y", "gw-x"]}),
        Some("gw-x, gw-z".into()),
        format!("mcpgw-via: gw-y, gw-x, gw-z, {own}"),
    )
    .await;
    assert!(answer["result"].is_object(), "{answer}");
    assert_eq!(seen, 1);
    // A request whose header says it already passed this gateway (its
    // _meta says nothing): refused at once, and fx never asked.
    let calls = fx.calls("echo");
    let (answer, _) = call(json!({}), Some(format!("gw-x, {own}")), String::new()).await;
    assert_eq!(answer["error"]["code"], -32013, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains(&own), "{answer}");
    assert_eq!(fx.calls("echo"), calls, "the looping request was not sent on");
    // An id a header could not carry is refused, naming the rule.
    let (answer, _) = call(json!({"io.mcpgw/via": ["a,b"]}), None, String::new()).await;
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    assert!(
        answer["error"]["message"].as_str().unwrap().contains("without a comma"),
        "{answer}"
    );
}

/// What `gw` is offered (FEDERATION_DISCOVERY), by gRPC.
async fn offers(gw: &Served) -> Result<Vec<pb::PeerOffer>, tonic::Status> {
    let res = gw.admin.clone().list_peer_offers(pb::ListPeerOffersRequest {}).await?;
    Ok(res.into_inner().offers)
}

/// The peers `gw` names in its initialize result (`Null` when it does not).
async fn named_peers(gw: &Served) -> Value {
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("pat")));
    let (_, init) = raw.initialize("2025-06-18").await;
    init["result"]["capabilities"]["experimental"]["io.mcpgw/gateway"]["peers"].clone()
}

#[tokio::test]
async fn with_federation_discovery_a_peers_own_peers_are_offered_for_registration() {
    let discovery = [("FEDERATION_DISCOVERY", "true")];
    let fx = Fixture::start(Default::default()).await;
    let c = Served::start(&[]).await.with_backends(&[("fx", fx.url())]).await;
    let d = Served::start(&[]).await;
    let a = Served::start(&discovery).await;
    let b = Served::start(&discovery).await;
    // B federates with A, C and D, and shares them; C shares nothing.
    peer(&b, "a", a.proc.url("/mcp")).await;
    let c_on_b = peer(&b, "c", c.proc.url("/mcp")).await;
    let d_on_b = peer(&b, "d", d.proc.url("/mcp")).await;
    let shared = named_peers(&b).await;
    let names: Vec<&str> = shared
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "c", "d"], "{shared}");
    assert_eq!(shared[1]["url"], c.proc.url("/mcp"));
    assert_eq!(shared[1]["id"], c_on_b.peer_gateway_id.as_str());
    assert!(named_peers(&c).await.is_null(), "C does not share its peers");

    // A registers B: offered C and D, not itself, not B (registered).
    let before = offers(&a).await.unwrap();
    assert!(before.is_empty(), "{before:?}");
    peer(&a, "b", b.proc.url("/mcp")).await;
    let offered = offers(&a).await.unwrap();
    let names: Vec<&str> = offered.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["c", "d"], "{offered:?}");
    assert_eq!(offered[0].url, c.proc.url("/mcp"));
    assert_eq!(offered[0].gateway_id, c_on_b.peer_gateway_id);
    assert_eq!(offered[1].gateway_id, d_on_b.peer_gateway_id);
    assert_eq!(offered[0].offered_by, ["b"]);
    // Over REST and the CLI too.
    let rest: Value = reqwest::Client::new()
        .get(a.proc.url("/federation/peers"))
        .basic_auth("admin", Some("changeme"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rest[1]["url"], d.proc.url("/mcp"), "{rest}");
    assert_eq!(rest[1]["offeredBy"], json!(["b"]), "{rest}");
    let cli = a.cli(&["backend", "offers"], &[]).await;
    assert!(cli.ok, "{}", cli.stderr);
    assert!(
        cli.stdout
            .lines()
            .any(|l| l.starts_with("c ") && l.ends_with(&c.proc.url("/mcp"))),
        "{}",
        cli.stdout
    );

    // Registered from its offer: C is offered no more, and its tools are A's.
    peer(&a, "c", offered[0].url.clone()).await;
    let left: Vec<String> = offers(&a).await.unwrap().into_iter().map(|o| o.name).collect();
    assert_eq!(left, ["d"]);
    listed(&a, "c-fx-echo", true).await;

    // Without FEDERATION_DISCOVERY, nothing is offered, and the answer says why.
    let e = offers(&c).await.expect_err("C has no FEDERATION_DISCOVERY");
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    assert!(e.message().contains("FEDERATION_DISCOVERY"), "{}", e.message());
}
