//! Bad input gets a clear error with the right JSON-RPC code and HTTP status,
//! and loses nothing: the registry is unchanged, sessions keep working.

use mcpgw_data_plane::auth::{DEFAULT_JWT_SECRET, Jwt};
use mcpgw_proto::v1::{CreateBackendRequest, ListBackendsRequest, ListNodesRequest};
use mcpgw_tests::{
    clients::{self, Admin, RawMcp},
    fixture::{Fixture, FixtureConfig},
    harness::{Proc, SqliteDb, eventually},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Gw {
    _db: SqliteDb,
    proc: Proc,
    admin: Admin,
    raw: RawMcp,
}

struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Reply {
    fn code(&self) -> i64 {
        self.body["error"]["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("no error code in {}", self.body))
    }
    fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap()
    }
}

impl Gw {
    async fn start() -> Self {
        let db = SqliteDb::new();
        let mut proc = Proc::start(
            &["serve", "--port", "0", "--max-body-bytes", "65536"],
            &[("DATABASE_URL", &db.url)],
        )
        .await;
        proc.wait_for_line("ready").await;
        let admin = clients::admin(proc.addr).await;
        let raw = RawMcp::new(proc.url("/mcp"), Some(clients::token("dave")));
        Self {
            _db: db,
            proc,
            admin,
            raw,
        }
    }

    async fn post_with(&self, body: impl Into<reqwest::Body>, headers: &[(&str, &str)]) -> Reply {
        let res = self.raw.post(body, headers).await;
        let (status, headers) = (res.status(), res.headers().clone());
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, headers, body }
    }

    async fn init(&self, version: &str) -> String {
        let (sid, body) = self.raw.initialize(version).await;
        assert_eq!(body["result"]["protocolVersion"], version);
        sid
    }

    async fn rpc(&self, sid: &str, msg: Value) -> Reply {
        self.post_with(msg.to_string(), &[("mcp-session-id", sid)]).await
    }

    async fn registry_state(&self) -> (u64, usize) {
        let mut a = self.admin.clone();
        let v = a
            .list_nodes(ListNodesRequest {})
            .await
            .unwrap()
            .into_inner()
            .current_version;
        let n = a
            .list_backends(ListBackendsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .backends
            .len();
        (v, n)
    }
}

fn call(id: i64, tool: &str) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":{"text":"x"}}})
}

#[tokio::test]
async fn malformed_messages_get_json_rpc_errors() {
    let gw = Gw::start().await;
    let sid = gw.init("2025-06-18").await;

    let r = gw.post_with("{not json", &[("mcp-session-id", &sid)]).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, -32700));
    assert!(r.message().contains("not valid JSON"), "{}", r.message());
    assert_eq!(r.body["id"], Value::Null);

    for body in ["\"hello\"", "42", "null"] {
        let r = gw.post_with(body, &[("mcp-session-id", &sid)]).await;
        assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, -32600), "{body}");
    }
    let r = gw.rpc(&sid, json!({"id": 1, "method": "ping"})).await;
    assert_eq!(
        (r.status, r.code(), r.body["id"].clone()),
        (StatusCode::BAD_REQUEST, -32600, json!(1))
    );
    assert!(r.message().contains("jsonrpc"), "{}", r.message());

    let r = gw.rpc(&sid, json!({"jsonrpc":"2.0","id":7,"method":"no/such"})).await;
    assert_eq!(
        (r.status, r.code(), r.body["id"].clone()),
        (StatusCode::OK, -32601, json!(7))
    );
    assert!(r.message().contains("no/such"));

    let r = gw.rpc(&sid, call(8, "nobody-echo")).await;
    assert_eq!(
        (r.status, r.code(), r.body["id"].clone()),
        (StatusCode::OK, -32602, json!(8))
    );
    assert_eq!(r.message(), "Unknown tool: nobody-echo");
    let r = gw
        .rpc(
            &sid,
            json!({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"arguments":{}}}),
        )
        .await;
    assert_eq!(r.code(), -32602);

    let r = gw
        .post_with(json!({"jsonrpc":"2.0","id":1,"method":"initialize"}).to_string(), &[])
        .await;
    assert_eq!(r.code(), -32602);
    assert!(r.message().contains("protocolVersion"));

    // Transport-level checks.
    let r = gw
        .post_with("{}", &[("content-type", "text/plain"), ("mcp-session-id", &sid)])
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, -32000));
    let r = gw
        .post_with("{}", &[("accept", "application/json"), ("mcp-session-id", &sid)])
        .await;
    assert_eq!(r.status, StatusCode::NOT_ACCEPTABLE);
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"pad":"{}"}}}}"#,
        "x".repeat(70_000)
    );
    let r = gw.post_with(big, &[("mcp-session-id", &sid)]).await;
    assert_eq!((r.status, r.code()), (StatusCode::PAYLOAD_TOO_LARGE, -32000));

    // The session survived all of it.
    assert_eq!(
        gw.rpc(&sid, json!({"jsonrpc":"2.0","id":10,"method":"ping"}))
            .await
            .body["result"],
        json!({})
    );
}

#[tokio::test]
async fn batches_follow_the_negotiated_version() {
    let gw = Gw::start().await;
    let sid = gw.init("2025-06-18").await;
    let batch = json!([{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"ping"}]);
    let r = gw.rpc(&sid, batch.clone()).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, -32600));
    assert!(r.message().contains("2025-06-18"), "{}", r.message());

    // 2025-03-26 has batches: each member answered, notifications not.
    let sid = gw.init("2025-03-26").await;
    let batch = json!([
        {"jsonrpc":"2.0","id":1,"method":"ping"},
        {"jsonrpc":"2.0","method":"notifications/initialized"},
        {"jsonrpc":"2.0","id":"two","method":"no/such"}
    ]);
    let r = gw.rpc(&sid, batch).await;
    assert_eq!(r.status, StatusCode::OK);
    let answers = r.body.as_array().unwrap();
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[0], json!({"jsonrpc":"2.0","id":1,"result":{}}));
    assert_eq!(answers[1]["error"]["code"], -32601);
    assert_eq!(gw.rpc(&sid, json!([])).await.code(), -32600);
}

#[tokio::test]
async fn credentials_and_sessions_are_checked() {
    let gw = Gw::start().await;
    let ping = json!({"jsonrpc":"2.0","id":1,"method":"ping"}).to_string();

    let r = gw.post_with(ping.clone(), &[("authorization", "")]).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, -32003));
    assert!(r.headers.contains_key("www-authenticate"));
    let r = gw
        .post_with(ping.clone(), &[("authorization", "Bearer not.a.jwt")])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let forged = Jwt::new("another-secret").mint("eve", 600);
    let r = gw
        .post_with(ping.clone(), &[("authorization", &format!("Bearer {forged}"))])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.message().contains("JWT_SECRET_KEY"), "{}", r.message());
    let claims = mcpgw_data_plane::auth::Claims {
        sub: "dave".into(),
        iat: 1,
        exp: 2,
        iss: None,
    };
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(DEFAULT_JWT_SECRET.as_bytes()),
    )
    .unwrap();
    let r = gw
        .post_with(ping.clone(), &[("authorization", &format!("Bearer {expired}"))])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.message().contains("expired"), "{}", r.message());

    let r = gw.post_with(ping.clone(), &[]).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, -32000));
    assert!(r.message().contains("Mcp-Session-Id"));
    let r = gw.post_with(ping.clone(), &[("mcp-session-id", "made-up")]).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, -32001));

    let sid = gw.init("2025-11-25").await;
    // Another user cannot ride on this session.
    let other = clients::token("mallory");
    let r = gw
        .post_with(
            ping.clone(),
            &[("mcp-session-id", &sid), ("authorization", &format!("Bearer {other}"))],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let r = gw
        .post_with(
            ping.clone(),
            &[("mcp-session-id", &sid), ("mcp-protocol-version", "1999-01-01")],
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, -32000));
    assert!(
        r.message().contains("2025-11-25"),
        "lists what is supported: {}",
        r.message()
    );
    // Any supported version is accepted, as the official SDKs do.
    for v in ["2025-06-18", "2025-11-25"] {
        let r = gw
            .post_with(ping.clone(), &[("mcp-session-id", &sid), ("mcp-protocol-version", v)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{v}");
    }

    let del = gw
        .raw
        .http
        .delete(&gw.raw.url)
        .bearer_auth(clients::token("dave"))
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), StatusCode::OK);
    let r = gw.post_with(ping, &[("mcp-session-id", &sid)]).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, -32001));
    assert!(r.message().contains("DELETE"), "{}", r.message());
}

#[tokio::test]
async fn a_backend_that_goes_down_fails_its_calls_cleanly_and_heals() {
    let gw = Gw::start().await;
    let fx = Fixture::start(FixtureConfig::default()).await;
    let addr = fx.addr;
    let req = CreateBackendRequest {
        name: "fx".into(),
        url: fx.url(),
        transport: 0,
        ..Default::default()
    };
    gw.admin.clone().create_backend(req).await.unwrap();
    let sid = gw.init("2025-06-18").await;
    eventually("the tool to be routable", || async {
        (gw.rpc(&sid, call(1, "fx-echo")).await.body["result"].is_object()).then_some(())
    })
    .await;

    fx.stop().await;
    let r = gw.rpc(&sid, call(2, "fx-echo")).await;
    assert_eq!(
        (r.status, r.code(), r.body["id"].clone()),
        (StatusCode::OK, -32010, json!(2))
    );
    assert!(
        r.message().contains("'fx'") && r.message().contains("fx-echo"),
        "{}",
        r.message()
    );

    // The backend comes back (with none of its old sessions): the same client
    // session goes on, the gateway re-initializes upstream by itself.
    let _fx = Fixture::start_on(addr, FixtureConfig::default())
        .await
        .expect("rebind the fixture's port");
    let r = gw.rpc(&sid, call(3, "fx-echo")).await;
    assert_eq!(r.body["result"]["content"][0]["text"], "x", "{}", r.body);
}

#[tokio::test]
async fn refused_registrations_write_nothing() {
    let gw = Gw::start().await;
    let fx = Fixture::start(FixtureConfig::default()).await;
    let mut admin = gw.admin.clone();
    admin
        .create_backend(CreateBackendRequest {
            name: "fx".into(),
            url: fx.url(),
            transport: 0,
            ..Default::default()
        })
        .await
        .unwrap();
    let before = gw.registry_state().await;

    let dup = admin
        .create_backend(CreateBackendRequest {
            name: "fx".into(),
            url: fx.url(),
            transport: 0,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(dup.code(), tonic::Code::AlreadyExists, "{dup:?}");
    assert!(dup.message().contains("\"fx\""), "{}", dup.message());

    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/mcp", closed.local_addr().unwrap());
    drop(closed);
    let down = admin
        .create_backend(CreateBackendRequest {
            name: "down".into(),
            url,
            transport: 0,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(down.code(), tonic::Code::Unavailable, "{down:?}");
    assert!(down.message().contains("nothing was registered"), "{}", down.message());

    // Something that answers HTTP but not MCP.
    let not_mcp = admin
        .create_backend(CreateBackendRequest {
            name: "web".into(),
            url: gw.proc.url("/health"),
            transport: 0,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(not_mcp.code(), tonic::Code::InvalidArgument, "{not_mcp:?}");
    assert!(not_mcp.message().contains("not an MCP server"), "{}", not_mcp.message());

    let bad_url = admin
        .create_backend(CreateBackendRequest {
            name: "bad".into(),
            url: "ftp://x".into(),
            transport: 0,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_url.code(), tonic::Code::InvalidArgument);

    assert_eq!(gw.registry_state().await, before, "no version bump, no backend");

    let channel = tonic::transport::Channel::from_shared(gw.proc.url(""))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut anon = mcpgw_proto::v1::registry_service_client::RegistryServiceClient::new(channel);
    let denied = anon.list_backends(ListBackendsRequest::default()).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::Unauthenticated);
}

#[tokio::test]
async fn name_clashes_and_client_tokens_on_the_config_stream_are_refused() {
    let gw = Gw::start().await;
    let mut admin = gw.admin.clone();
    // Backend "x" offers "y-echo" (exposed "x-y-echo"); backend "x-y" would
    // expose its "echo" under the same name.
    let prefixed = Fixture::start(FixtureConfig {
        tool_prefix: "y-".into(),
        ..Default::default()
    })
    .await;
    let plain = Fixture::start(FixtureConfig::default()).await;
    admin
        .create_backend(CreateBackendRequest {
            name: "x".into(),
            url: prefixed.url(),
            transport: 0,
            ..Default::default()
        })
        .await
        .unwrap();
    let before = gw.registry_state().await;
    let clash = admin
        .create_backend(CreateBackendRequest {
            name: "x-y".into(),
            url: plain.url(),
            transport: 0,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(clash.code(), tonic::Code::AlreadyExists, "{clash:?}");
    assert!(clash.message().contains("\"x-y-echo\""), "{}", clash.message());
    assert_eq!(gw.registry_state().await, before);

    // A client's token cannot open a node's config stream.
    let (_hello, opened) = clients::config_stream(gw.proc.addr, &clients::token("dave"), "dp-x").await;
    let denied = opened.expect_err("a client's token is refused");
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied:?}");
    assert!(denied.message().contains("node:dp-x"), "{}", denied.message());
}

#[tokio::test]
async fn foreign_origins_are_refused_before_anything_else() {
    let gw = Gw::start().await;
    let sid = gw.init("2025-11-25").await;
    let ping = json!({"jsonrpc":"2.0","id":1,"method":"ping"}).to_string();
    let r = gw
        .post_with(
            ping.clone(),
            &[("mcp-session-id", &sid), ("origin", "http://evil.example")],
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, -32004));
    assert!(r.message().contains("ALLOWED_ORIGINS"), "{}", r.message());
    // Checked before auth and sessions: no token, no session, still 403.
    let r = gw
        .post_with(
            ping.clone(),
            &[("origin", "http://evil.example"), ("authorization", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let del = gw
        .raw
        .http
        .delete(&gw.raw.url)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), StatusCode::FORBIDDEN);
    for origin in ["http://localhost:6274", "http://127.0.0.1:3000"] {
        let r = gw
            .post_with(ping.clone(), &[("mcp-session-id", &sid), ("origin", origin)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{origin}");
    }

    // An operator can allow a browser origin.
    let db = SqliteDb::new();
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("ALLOWED_ORIGINS", "https://app.example.com,https://other.example"),
    ];
    let mut open = Proc::start(&["serve", "--port", "0"], &env).await;
    open.wait_for_line("ready").await;
    let raw = RawMcp::new(open.url("/mcp"), Some(clients::token("dave")));
    let (sid, _) = raw.initialize("2025-11-25").await;
    let r = raw
        .post(
            ping.clone(),
            &[("mcp-session-id", &sid), ("origin", "https://app.example.com")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = raw
        .post(
            ping,
            &[
                ("mcp-session-id", &sid),
                ("origin", "https://app.example.com.evil.example"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
