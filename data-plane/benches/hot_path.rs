//! Microbenchmarks of the data plane's hot path: what one forwarded
//! `tools/call` costs besides the network.

use std::{hint::black_box, sync::Arc, time::Duration};

use criterion::{Criterion, criterion_group, criterion_main};
use mcpgw_data_plane::{
    auth::{Jwt, Principal},
    dispatch::{
        Era, Forward,
        relay::{Relay, Relayed},
    },
    jsonrpc::{Envelope, Message},
    protocol::ProtocolVersion,
    routing::{BackendRoute, Item, Items, RouteTable},
    session::{ClientCaps, SessionCodec},
};

const CALL: &[u8] = br#"{"jsonrpc":"2.0","id":1234,"method":"tools/call","params":{"name":"fast-tool_0000","arguments":{"query":"where is the nearest coffee","limit":3},"_meta":{"progressToken":1234}}}"#;
const RESPONSE: &str = r#"{"jsonrpc":"2.0","id":77,"result":{"content":[{"type":"text","text":"The nearest coffee is 200 m north."}],"isError":false}}"#;

fn envelope(c: &mut Criterion) {
    c.bench_function("envelope: parse + classify a tools/call", |b| {
        b.iter(|| {
            let env = Envelope::parse(black_box(CALL)).unwrap();
            matches!(env.classify(), Ok(Message::Request { .. }))
        })
    });
    c.bench_function("tools/call: parse params + chain + build upstream request", |b| {
        let env = Envelope::parse(CALL).unwrap();
        b.iter(|| {
            let call = Forward::parse("tools/call", black_box(env.params), None).unwrap();
            call.str_param("name", "").unwrap();
            let chain = call.via("3f2a9c0d1e2b4c5d6e7f8091a2b3c4d5").unwrap();
            call.upstream_request(&[("name", r#""tool_0000""#)], 77, &chain, Era::Session)
        })
    });
    c.bench_function(
        "tools/call: build a stateless backend's request (_meta + headers)",
        |b| {
            let env = Envelope::parse(CALL).unwrap();
            let call = Forward::parse("tools/call", env.params, None).unwrap();
            let chain = call.via("3f2a9c0d1e2b4c5d6e7f8091a2b3c4d5").unwrap();
            let era = Era::Stateless {
                caps: r#"{"elicitation":{}}"#,
                state: None,
                responses: None,
            };
            b.iter(|| {
                let body = call.upstream_request(&[("name", r#""tool_0000""#)], 77, black_box(&chain), era);
                (body, call.mirror(&[("name", r#""tool_0000""#)]))
            })
        },
    );
    c.bench_function("relay: map a JSON response back (id)", |b| {
        let env = Envelope::parse(CALL).unwrap();
        let relay = Relay::new(77, env.id.unwrap(), None, Arc::from("fast"), Duration::from_secs(60));
        b.iter(|| matches!(relay.rewrite(black_box(RESPONSE)), Some(Relayed::Final(_))))
    });
    // What the stateless era adds to a call's answer (resultType, the
    // gateway's serverInfo): in one copy of the message, against the long
    // way (parse the result, write it again, write the envelope again).
    c.bench_function("stateless era: finish a call's answer (one copy)", |b| {
        b.iter(|| {
            mcpgw_data_plane::stateless::results::rewrite(black_box(RESPONSE.as_bytes().to_vec()), "tools/call", false)
        })
    });
    c.bench_function("stateless era: finish a call's answer (the long way)", |b| {
        let env = Envelope::parse(RESPONSE.as_bytes()).unwrap();
        let (id, result) = (env.id.unwrap(), env.result.unwrap());
        b.iter(|| {
            let msg = black_box(RESPONSE.as_bytes().to_vec());
            let _parsed = Envelope::parse(&msg).unwrap();
            mcpgw_data_plane::jsonrpc::result_response(
                id,
                &mcpgw_data_plane::stateless::results::complete(black_box(result.get()), "tools/call"),
            )
        })
    });
}

fn routes(c: &mut Criterion) {
    let backends: Vec<Arc<BackendRoute>> = (0..100)
        .map(|i| {
            Arc::new(BackendRoute {
                id: format!("b{i}").into(),
                name: format!("b{i}").into(),
                slug: format!("backend-{i:03}").into(),
                endpoints: Arc::new(mcpgw_data_plane::upstream::Endpoints::single(Arc::new(
                    mcpgw_data_plane::upstream::Link {
                        url: "http://x/".into(),
                        client: mcpgw_data_plane::upstream::McpHttpClient::new(
                            std::time::Duration::from_secs(1),
                            false,
                        ),
                        channel: None,
                        api: None,
                    },
                ))),
                dialect: mcpgw_data_plane::upstream::Dialect::Session,
                caching: Default::default(),
                peer: None,
                list_hints: Default::default(),
            })
        })
        .collect();
    let names: Vec<String> = (0..100).map(|i| format!("tool_{i:04}")).collect();
    let defs: Vec<String> = names
        .iter()
        .map(|n| format!(r#"{{"name":"{n}","inputSchema":{{"type":"object"}}}}"#))
        .collect();
    let entries = || Items {
        tools: (0..10_000)
            .map(|i| Item {
                backend: &backends[i / 100],
                name: &names[i % 100],
                definition_json: &defs[i % 100],
                rename: None,
                caching: Default::default(),
                owned: None,
            })
            .collect(),
        ..Default::default()
    };
    let build = || RouteTable::build("-", backends.clone(), entries(), |b| b.id.clone());
    let table = build();
    c.bench_function("route lookup among 10k tools", |b| {
        b.iter(|| table.tools.get(black_box("backend-057-tool_0042")).is_some())
    });
    let mut g = c.benchmark_group("index");
    g.sample_size(10);
    g.bench_function("build the routing index of 10k tools", |b| b.iter(build));
    g.finish();
}

fn sessions(c: &mut Criterion) {
    let codec = SessionCodec::new("secret", Duration::from_secs(3600));
    let (_, id) = codec.start(
        ProtocolVersion::V2025_06_18,
        Principal("alice".into()),
        ClientCaps::NONE,
        None,
    );
    c.bench_function("session id: mint", |b| {
        b.iter(|| {
            codec.start(
                ProtocolVersion::V2025_06_18,
                Principal(black_box("alice").into()),
                ClientCaps::NONE,
                None,
            )
        })
    });
    c.bench_function("session id: open + validate", |b| {
        b.iter(|| codec.open(black_box(&id)).unwrap())
    });
    let jwt = Jwt::new("secret");
    let token = jwt.mint("alice", 3600);
    c.bench_function("bearer JWT: verify (HS256)", |b| {
        b.iter(|| jwt.verify(black_box(&token)).unwrap())
    });
}

criterion_group!(benches, envelope, routes, sessions);
criterion_main!(benches);
