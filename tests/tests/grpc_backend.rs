//! A gRPC service as tools, through a real gateway and the official Rust
//! SDK's client: registered through the server's reflection (tonic) or an
//! uploaded descriptor set; unary methods called with JSON ↔ protobuf
//! transcoding, a server-streaming one streaming each reply as progress,
//! gRPC statuses as tool errors; a server without reflection and no
//! descriptors is refused with a clear error, and nothing is written. A
//! stream gone quiet ends at the backend timeout; health is what the
//! server's health service says; a backend moved to another server is
//! read again there.

use mcpgw_proto::v1 as pb;
use mcpgw_tests::{
    clients,
    fixture::grpc::{DESCRIPTOR_SET, GrpcFixture},
    harness::{Served, nodes_at},
};
use serde_json::{Value, json};

async fn register(gw: &Served, name: &str, url: String, grpc: pb::GrpcServices) -> Result<pb::Backend, tonic::Status> {
    let req = pb::CreateBackendRequest {
        name: name.into(),
        url,
        transport: pb::BackendTransport::Grpc.into(),
        grpc: Some(grpc),
        credentials: Some(pb::BackendCredentials {
            auth: Some(pb::backend_credentials::Auth::Bearer(pb::BearerAuth {
                token: "grpc-secret".into(),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    clients::create_backend(&gw.admin, req).await
}

#[tokio::test]
async fn a_reflected_grpc_service_is_listed_and_called_through_the_gateway() {
    let fx = GrpcFixture::start(true).await;
    let gw = Served::start(&[]).await;
    let b = register(&gw, "greet", fx.url(), pb::GrpcServices::default())
        .await
        .expect("register through reflection");
    assert_eq!(b.transport(), pb::BackendTransport::Grpc);
    assert_eq!(b.grpc_services, ["fixture.v1.Greeter"]);
    assert_eq!(
        b.tool_count, 3,
        "unary and server-streaming methods; not the client-streaming one"
    );

    let recorder = clients::Recorder::default();
    let client = clients::mcp_with(recorder.clone(), &gw.proc.url("/mcp"), Some(&clients::token("pat"))).await;
    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["greet-Greeter_CountTo", "greet-Greeter_Fail", "greet-Greeter_SayHello"]
    );
    let hello = tools.iter().find(|t| t.name == "greet-Greeter_SayHello").unwrap();
    let schema = Value::Object((*hello.input_schema).clone());
    assert_eq!(schema["properties"]["name"]["type"], "string");
    assert_eq!(schema["properties"]["times"]["type"], json!(["integer", "string"]));
    assert_eq!(
        schema["properties"]["mood"]["enum"],
        json!(["MOOD_UNSPECIFIED", "MOOD_HAPPY", "MOOD_GRUMPY"])
    );
    assert_eq!(schema["properties"]["tags"]["items"]["type"], "string");
    assert_eq!(schema["properties"]["address"]["properties"]["city"]["type"], "string");
    assert_eq!(schema["properties"]["labels"]["additionalProperties"]["type"], "string");

    // Unary: JSON in, protobuf on the wire, JSON out.
    let args = json!({"name": "Ada", "times": 3, "mood": "MOOD_HAPPY", "tags": ["a", "b"],
                      "address": {"city": "Paris"}, "labels": {"k": "v"}});
    let r = client
        .call_tool(clients::tool_call("greet-Greeter_SayHello", args))
        .await
        .expect("call SayHello");
    assert_ne!(r.is_error, Some(true));
    let out = r.structured_content.clone().expect("structured content");
    assert_eq!(out["message"], "Hello, Ada!");
    assert_eq!(out["times"], "3", "int64 is a string in the JSON mapping");
    assert_eq!(out["mood"], "MOOD_HAPPY");
    assert_eq!(out["tags"], json!(["a", "b"]));
    assert_eq!(out["city"], "Paris");
    assert_eq!(out["labels"], json!({"k": "v"}));
    let text: Value = serde_json::from_str(&clients::first_text(&r)).expect("the text is the reply's JSON");
    assert_eq!(text, out);
    // The backend got its configured credential as metadata.
    assert!(
        fx.seen_auth().iter().all(|a| a == "Bearer grpc-secret"),
        "{:?}",
        fx.seen_auth()
    );
    assert!(!fx.seen_auth().is_empty());

    // Server streaming: every reply as progress, all of them in the result.
    let r = client
        .call_tool(clients::tool_call("greet-Greeter_CountTo", json!({"to": 4})))
        .await
        .expect("call CountTo");
    let out = r.structured_content.clone().expect("structured content");
    assert_eq!(out["messages"], json!([{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]));
    let progress = recorder.progress.lock().unwrap().clone();
    let counts: Vec<f64> = progress.iter().map(|p| p.progress).collect();
    assert_eq!(counts, [1.0, 2.0, 3.0, 4.0]);
    let messages: Vec<Value> = progress
        .iter()
        .map(|p| serde_json::from_str(p.message.as_deref().unwrap_or("null")).unwrap())
        .collect();
    assert_eq!(
        messages,
        [json!({"n": 1}), json!({"n": 2}), json!({"n": 3}), json!({"n": 4})]
    );

    // A gRPC status is a tool error that names it.
    let r = client
        .call_tool(clients::tool_call("greet-Greeter_Fail", json!({"why": "testing"})))
        .await
        .expect("a tool error is a result");
    assert_eq!(r.is_error, Some(true));
    let text = clients::first_text(&r);
    assert!(
        text.contains("NotFound") && text.contains("no greeting for testing"),
        "{text}"
    );

    // Arguments that are not the request message: invalid params.
    let e = client
        .call_tool(clients::tool_call("greet-Greeter_SayHello", json!({"times": "many"})))
        .await
        .expect_err("bad arguments");
    assert!(e.to_string().contains("fixture.v1.HelloRequest"), "{e}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_server_without_reflection_needs_its_descriptors() {
    let fx = GrpcFixture::start(false).await;
    let gw = Served::start(&[]).await;
    let e = register(&gw, "bare", fx.url(), pb::GrpcServices::default())
        .await
        .expect_err("no reflection, no descriptors");
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{}", e.message());
    assert!(
        e.message().contains("does not offer server reflection"),
        "{}",
        e.message()
    );
    assert!(
        e.message().contains("descriptor_set_out"),
        "says what to give: {}",
        e.message()
    );
    assert!(clients::backends(&gw.admin).await.is_empty(), "nothing was registered");

    // Services that are not in the descriptors are named.
    let e = register(
        &gw,
        "bare",
        fx.url(),
        pb::GrpcServices {
            descriptor_set: DESCRIPTOR_SET.to_vec(),
            services: vec!["fixture.v1.Nope".into()],
            ..Default::default()
        },
    )
    .await
    .expect_err("unknown service");
    assert!(
        e.message().contains("fixture.v1.Nope") && e.message().contains("fixture.v1.Greeter"),
        "{}",
        e.message()
    );
    // Descriptors that do not parse are refused.
    let e = register(
        &gw,
        "bare",
        fx.url(),
        pb::GrpcServices {
            descriptor_set: b"not a descriptor set".to_vec(),
            ..Default::default()
        },
    )
    .await
    .expect_err("garbage descriptors");
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{}", e.message());
    assert!(clients::backends(&gw.admin).await.is_empty(), "nothing was registered");

    // With the descriptor set uploaded (from the command line), it works.
    let dir = std::env::temp_dir().join(format!("mcpgw-fds-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("greeter.binpb");
    std::fs::write(&file, DESCRIPTOR_SET).unwrap();
    let url = fx.url();
    let out = gw
        .cli(
            &[
                "backend",
                "add",
                "--name",
                "bare",
                "--transport",
                "grpc",
                "--url",
                &url,
                "--descriptor-set",
                file.to_str().unwrap(),
                "--grpc-service",
                "fixture.v1.Greeter",
            ],
            &[],
        )
        .await;
    std::fs::remove_dir_all(&dir).ok();
    assert!(out.ok, "{}", out.stderr);
    assert!(out.stdout.contains("with 3 tools"), "{}", out.stdout);
    let list = gw.cli(&["backend", "list"], &[]).await;
    let row = list.stdout.lines().find(|l| l.starts_with("bare ")).expect("a row");
    assert!(row.contains(" grpc "), "its kind is shown: {row}");
    nodes_at(&gw.admin, &[], mcpgw_tests::harness::config_version(&gw.admin).await).await;
    let client = clients::mcp(&gw.proc.url("/mcp"), Some(&clients::token("pat"))).await;
    let r = client
        .call_tool(clients::tool_call("bare-Greeter_SayHello", json!({"name": "Bo"})))
        .await
        .expect("call");
    assert_eq!(r.structured_content.unwrap()["message"], "Hello, Bo!");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_reflected_grpc_service_that_gains_methods_is_re_listed() {
    let fx = GrpcFixture::start(true).await;
    let addr = fx.addr;
    let gw = Served::start(&[("MCPGW_RELIST_INTERVAL_SECS", "1")]).await;
    let b = register(&gw, "greet", fx.url(), pb::GrpcServices::default())
        .await
        .expect("register");
    assert_eq!(b.tool_count, 3);
    // The server is replaced by one that also offers the Extra service.
    fx.stop().await;
    let _fx = GrpcFixture::start_on(addr, true, true).await;
    let token = clients::token("pat");
    let url = gw.proc.url("/mcp");
    mcpgw_tests::harness::eventually("the new method to be listed", || {
        let (url, token) = (url.clone(), token.clone());
        async move {
            let names = clients::tool_names(&url, &token).await;
            names.iter().any(|n| n == "greet-Extra_Ping").then_some(())
        }
    })
    .await;
    assert_eq!(
        clients::backend(&gw.admin, "greet").await.grpc_services,
        ["fixture.v1.Extra", "fixture.v1.Greeter"],
        "the services as the server lists them, in name order"
    );
    let client = clients::mcp(&url, Some(&token)).await;
    let r = client
        .call_tool(clients::tool_call("greet-Extra_Ping", json!({"why": "again"})))
        .await
        .expect("call the new method");
    assert_eq!(r.structured_content.unwrap()["message"], "pong: again");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_stream_that_goes_quiet_ends_at_the_backend_timeout() {
    let fx = GrpcFixture::start(true).await;
    let gw = Served::start(&[("MCPGW_UPSTREAM_TIMEOUT_SECS", "1")]).await;
    register(&gw, "greet", fx.url(), pb::GrpcServices::default())
        .await
        .expect("register");
    let recorder = clients::Recorder::default();
    let client = clients::mcp_with(recorder.clone(), &gw.proc.url("/mcp"), Some(&clients::token("pat"))).await;
    // Two replies, then the server keeps the stream open and says nothing.
    let r = client
        .call_tool(clients::tool_call(
            "greet-Greeter_CountTo",
            json!({"to": 2, "stall": true}),
        ))
        .await
        .expect("a deadline is a tool error, not a hung call");
    assert_eq!(r.is_error, Some(true));
    let text = clients::first_text(&r);
    assert!(text.contains("DeadlineExceeded"), "{text}");
    let counts: Vec<f64> = recorder.progress.lock().unwrap().iter().map(|p| p.progress).collect();
    assert_eq!(counts, [1.0, 2.0], "the replies before the silence were relayed");
    // The channel is still good for the next call.
    let r = client
        .call_tool(clients::tool_call("greet-Greeter_SayHello", json!({"name": "Cy"})))
        .await
        .expect("call");
    assert_eq!(r.structured_content.unwrap()["message"], "Hello, Cy!");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_grpc_backend_is_as_healthy_as_its_health_service_says() {
    let fx = GrpcFixture::start(true).await;
    let gw = Served::start(&[("HEALTH_CHECK_INTERVAL", "1"), ("UNHEALTHY_THRESHOLD", "1")]).await;
    register(&gw, "greet", fx.url(), pb::GrpcServices::default())
        .await
        .expect("register");
    let health_until = |want: pb::HealthStatus| {
        let admin = gw.admin.clone();
        mcpgw_tests::harness::eventually("the backend's health", move || {
            let admin = admin.clone();
            async move {
                let h = clients::backend(&admin, "greet").await.health.unwrap_or_default();
                (h.status() == want).then_some(h)
            }
        })
    };
    health_until(pb::HealthStatus::Healthy).await;
    // The server is up but says it cannot serve: the check asks it.
    fx.set_serving(false).await;
    let h = health_until(pb::HealthStatus::Unhealthy).await;
    assert!(h.last_error.contains("NOT_SERVING"), "{}", h.last_error);
    fx.set_serving(true).await;
    health_until(pb::HealthStatus::Healthy).await;
    // The checks carried the backend's credentials.
    let seen = fx.seen_auth();
    assert!(
        !seen.is_empty() && seen.iter().all(|a| a == "Bearer grpc-secret"),
        "{seen:?}"
    );
}

/// Gives backend `name` a new URL.
async fn move_to(gw: &Served, name: &str, url: String) -> Result<pb::Backend, tonic::Status> {
    let res = gw
        .admin
        .clone()
        .update_backend(pb::UpdateBackendRequest {
            backend: name.into(),
            url: Some(url),
            ..Default::default()
        })
        .await?;
    Ok(res.into_inner().backend.expect("the backend"))
}

#[tokio::test]
async fn a_grpc_backend_moved_to_another_server_is_read_again_there() {
    let old = GrpcFixture::start(true).await;
    let new = GrpcFixture::start_on("127.0.0.1:0".parse().unwrap(), true, true).await;
    let gw = Served::start(&[]).await;
    register(&gw, "greet", old.url(), pb::GrpcServices::default())
        .await
        .expect("register");
    // Reflected: the new server's services are read through its reflection.
    let moved = move_to(&gw, "greet", new.url()).await.expect("move it");
    assert_eq!(moved.url, new.url());
    assert_eq!(moved.grpc_services, ["fixture.v1.Extra", "fixture.v1.Greeter"]);
    assert_eq!(moved.tool_count, 4);
    nodes_at(&gw.admin, &[], mcpgw_tests::harness::config_version(&gw.admin).await).await;
    let client = clients::mcp(&gw.proc.url("/mcp"), Some(&clients::token("pat"))).await;
    let r = client
        .call_tool(clients::tool_call("greet-Extra_Ping", json!({"why": "moved"})))
        .await
        .expect("call the moved backend");
    assert_eq!(r.structured_content.unwrap()["message"], "pong: moved");
    client.cancel().await.unwrap();

    // Uploaded descriptors stay as given: moving it keeps its one service.
    register(
        &gw,
        "uploaded",
        old.url(),
        pb::GrpcServices {
            descriptor_set: DESCRIPTOR_SET.to_vec(),
            services: vec!["fixture.v1.Greeter".into()],
            ..Default::default()
        },
    )
    .await
    .expect("register with descriptors");
    let moved = move_to(&gw, "uploaded", new.url()).await.expect("move it");
    assert_eq!(moved.grpc_services, ["fixture.v1.Greeter"]);
    assert_eq!(moved.tool_count, 3);

    // A server that cannot be read is refused, and nothing changes.
    let gone = old.url();
    old.stop().await;
    let e = move_to(&gw, "greet", gone).await.expect_err("nothing listens there");
    assert_eq!(e.code(), tonic::Code::Unavailable, "{}", e.message());
    assert_eq!(clients::backend(&gw.admin, "greet").await.url, new.url());
}
