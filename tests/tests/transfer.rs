//! Export and import of the whole registry (`GET /export`, `POST /import`,
//! `mcpgw export`, `mcpgw import FILE`): a Context Forge export file, built
//! from Context Forge's documented format and sealed as Context Forge seals
//! credentials, recreates its gateways, tools, prompts, resources and
//! servers, which then work through MCP; a file with one bad entry changes
//! nothing and names the entry; an mcpgw export imported into another
//! gateway gives the same registry back, credentials included, under each
//! conflict strategy.

use aes_gcm::{Aes256Gcm, KeyInit, Nonce, aead::Aead};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use mcpgw_proto::v1::{self as pb, backend_credentials::Auth, server_member::Naming};
use mcpgw_tests::{
    clients,
    fixture::{Fixture, FixtureAuth, FixtureConfig, rest::RestFixture},
    harness::{Served, config_version, nodes_at},
};
use rmcp::model::GetPromptRequestParams;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Seals `headers` as Context Forge's `encode_auth` does: AES-256-GCM under
/// SHA-256 of the secret, base64url(nonce ‖ ciphertext).
fn seal_like_context_forge(headers: &Value, secret: &str) -> String {
    let key = Sha256::digest(secret.as_bytes());
    let nonce: [u8; 12] = *b"cf-nonce-012";
    let mut out = nonce.to_vec();
    out.extend(
        Aes256Gcm::new(&key)
            .encrypt(Nonce::from_slice(&nonce), headers.to_string().as_bytes())
            .expect("AES-GCM seals"),
    );
    URL_SAFE_NO_PAD.encode(out)
}

async fn post_json(gw: &Served, path: &str, body: &Value) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(gw.proc.url(path))
        .basic_auth("admin", Some("changeme"))
        .json(body)
        .send()
        .await
        .expect("POST");
    let status = res.status().as_u16();
    (status, res.json().await.expect("a JSON body"))
}

async fn get_json(gw: &Server<'_>, path: &str) -> Value {
    let res = reqwest::Client::new()
        .get(gw.0.proc.url(path))
        .basic_auth("admin", Some("changeme"))
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), 200, "GET {path}");
    res.json().await.expect("a JSON body")
}

/// A gateway, for reads.
struct Server<'a>(&'a Served);

fn guarded(token: &str) -> FixtureConfig {
    FixtureConfig {
        auth: FixtureAuth::Header("authorization".into(), format!("Bearer {token}")),
        ..Default::default()
    }
}

fn tool_names(list: &[rmcp::model::Tool]) -> Vec<String> {
    let mut names: Vec<String> = list.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    names
}

const CF_SECRET: &str = "the-context-forge-auth-encryption-secret";

#[tokio::test]
async fn a_context_forge_export_is_recreated_and_works_through_mcp() {
    let fx = Fixture::start(guarded("cf-token-1")).await;
    let api = RestFixture::start(None).await;
    // The same AUTH_ENCRYPTION_SECRET as the Context Forge that wrote it.
    let gw = Served::start(&[("AUTH_ENCRYPTION_SECRET", CF_SECRET)]).await;
    let auth_value = seal_like_context_forge(&json!({"Authorization": "Bearer cf-token-1"}), CF_SECRET);
    // Context Forge's export, as its export service writes one.
    let file = json!({
        "version": "2025-03-26",
        "exported_at": "2025-01-15T10:30:00Z",
        "exported_by": "admin@example.com",
        "source_gateway": "http://0.0.0.0:4444",
        "encryption_method": "AES-256-GCM",
        "entities": {
            "tools": [
                {"name": "clock_tool", "displayName": "Clock", "url": format!("{}rpc", api.url()),
                 "integration_type": "REST", "request_type": "POST", "description": "Returns current time",
                 "original_description": "Returns current time", "headers": {},
                 "input_schema": {"type": "object", "properties": {"timezone": {"type": "string"}}, "required": []},
                 "output_schema": null, "annotations": {}, "jsonpath_filter": "", "tags": ["time"],
                 "rate_limit": null, "timeout": null, "is_active": true,
                 "created_at": "2025-01-10T09:00:00+00:00", "updated_at": "2025-01-10T09:00:00+00:00"},
            ],
            "gateways": [
                {"name": "weather", "url": fx.url(), "description": "Weather MCP server",
                 "transport": "STREAMABLEHTTP", "capabilities": {"tools": {"listChanged": true}},
                 "health_check": {"url": format!("{}/health", fx.url()), "interval": 30, "timeout": 10, "retries": 3},
                 "is_active": true, "tags": [], "passthrough_headers": [],
                 "auth_type": "bearer", "auth_value": auth_value},
            ],
            "servers": [
                {"name": "ai-tools", "description": "AI tools virtual server",
                 "tool_ids": ["weather-echo", "clock_tool"],
                 "sse_endpoint": "/servers/1f0e/sse", "websocket_endpoint": "/servers/1f0e/ws",
                 "jsonrpc_endpoint": "/servers/1f0e/jsonrpc",
                 "capabilities": {"tools": {"list_changed": true}, "prompts": {"list_changed": true}},
                 "is_active": true, "tags": []},
            ],
            "prompts": [
                {"name": "greet", "original_name": "greet", "custom_name": "greet", "display_name": "greet",
                 "template": "Hello, {{ user }}!", "description": "Greets someone",
                 "input_schema": {"type": "object", "properties": {"user": {"type": "string", "description": "who"}},
                                  "required": ["user"]},
                 "tags": [], "is_active": true},
            ],
            "resources": [
                {"name": "readme", "uri": "docs://readme", "description": "The readme", "mime_type": "text/plain",
                 "tags": [], "is_active": true, "last_modified": null},
            ],
            "roots": [{"uri": "file:///workspace", "name": "workspace"}],
        },
        "metadata": {
            "entity_counts": {"tools": 1, "gateways": 1, "servers": 1, "prompts": 1, "resources": 1, "roots": 1},
            "dependencies": {"servers_to_tools": {"ai-tools": ["weather-echo", "clock_tool"]}},
        },
    });
    let (status, done) = post_json(
        &gw,
        "/import",
        &json!({"import_data": file, "conflict_strategy": "update"}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["status"], "completed");
    assert_eq!(done["progress"]["created"], 5, "{done}");
    let warnings = done["warnings"].to_string();
    assert!(warnings.contains("roots"), "{warnings}");
    assert!(warnings.contains("docs://readme"), "{warnings}");
    nodes_at(&gw.admin, &[], done["config_version"].as_u64().expect("a version")).await;

    // The gateway was registered with the credentials Context Forge sealed.
    let gateways = get_json(&Server(&gw), "/gateways").await;
    assert_eq!(gateways[0]["name"], "weather");
    assert_eq!(gateways[0]["authType"], "bearer");

    let token = clients::token("pat");
    let client = clients::mcp(&gw.proc.url("/mcp"), Some(&token)).await;
    let tools = tool_names(&client.list_all_tools().await.expect("tools/list"));
    assert!(
        tools.contains(&"weather-echo".to_owned()) && tools.contains(&"clock_tool".to_owned()),
        "{tools:?}"
    );
    let r = client
        .call_tool(clients::tool_call(
            "weather-echo",
            json!({"text": "through the imported gateway"}),
        ))
        .await
        .expect("call weather-echo");
    assert_eq!(clients::first_text(&r), "through the imported gateway");
    let r = client
        .call_tool(clients::tool_call("clock_tool", json!({"timezone": "Europe/Paris"})))
        .await
        .expect("call clock_tool");
    assert_ne!(r.is_error, Some(true), "{r:?}");
    let mut args = serde_json::Map::new();
    args.insert("user".into(), json!("Ada"));
    let got = client
        .get_prompt(GetPromptRequestParams::new("greet").with_arguments(args))
        .await
        .expect("get greet");
    assert_eq!(
        serde_json::to_value(&got.messages[0].content).unwrap()["text"],
        "Hello, Ada!"
    );
    let resources = client.list_all_resources().await.expect("resources/list");
    assert!(resources.iter().any(|r| r.uri == "docs://readme"), "{resources:?}");

    // The server has the members the file names.
    let on_server = clients::mcp(&gw.proc.url("/servers/ai-tools/mcp"), Some(&token)).await;
    let tools = tool_names(&on_server.list_all_tools().await.expect("tools/list on the server"));
    assert_eq!(tools, ["clock_tool", "weather-echo"]);
}

/// A gateway entry of mcpgw's own and Context Forge's shapes alike.
fn gateway_entry(name: &str, url: &str) -> Value {
    json!({"name": name, "url": url, "transport": "STREAMABLEHTTP", "is_active": true})
}

fn prompt_entry(name: &str, template: &str) -> Value {
    json!({"name": name, "template": template, "input_schema": {"type": "object", "properties": {}}})
}

fn document(entities: Value) -> Value {
    json!({"version": "2025-03-26", "exported_at": "2025-01-15T10:30:00Z", "entities": entities})
}

#[tokio::test]
async fn a_file_with_one_bad_entry_changes_nothing_and_names_it() {
    let fx = Fixture::start(FixtureConfig::default()).await;
    let gw = Served::start(&[]).await;
    let (status, _) = post_json(&gw, "/prompts", &json!({"name": "taken", "template": "Hi"})).await;
    assert_eq!(status, 200);
    let before = config_version(&gw.admin).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let cases = [
        (
            "a template that does not compile",
            document(json!({
                "gateways": [gateway_entry("weather", &fx.url())],
                "prompts": [prompt_entry("hello", "Hello {{ user }}"), prompt_entry("broken", "Hi {{ user ")],
            })),
            "update",
            400,
            r#"prompts[1] \"broken\""#,
        ),
        (
            "a gateway that cannot be reached",
            document(json!({
                "gateways": [gateway_entry("weather", &fx.url()), gateway_entry("down", &format!("http://{closed}/mcp"))],
            })),
            "update",
            502,
            r#"gateways[1] \"down\""#,
        ),
        (
            "two entries of one name",
            document(json!({"prompts": [prompt_entry("twice", "a"), prompt_entry("twice", "b")]})),
            "update",
            400,
            r#"prompts[1] \"twice\""#,
        ),
        (
            "a name already taken, with conflict_strategy fail",
            document(json!({"prompts": [prompt_entry("fresh", "a"), prompt_entry("taken", "b")]})),
            "fail",
            409,
            r#"prompts[1] \"taken\""#,
        ),
        (
            "an entity type the format does not have",
            document(json!({"prompts": [prompt_entry("fresh", "a")], "agents": []})),
            "update",
            400,
            "agents",
        ),
    ];
    for (what, file, strategy, want, named) in cases {
        let (status, body) = post_json(
            &gw,
            "/import",
            &json!({"import_data": file, "conflict_strategy": strategy}),
        )
        .await;
        assert_eq!(status, want, "{what}: {body}");
        let detail = body.to_string();
        assert!(detail.contains(named), "{what}: {detail}");
        assert!(
            detail.contains("nothing was imported") || want == 400,
            "{what}: {detail}"
        );
        assert_eq!(config_version(&gw.admin).await, before, "{what} changed the registry");
    }
    let (status, body) = post_json(
        &gw,
        "/import",
        &json!({"import_data": document(json!({})), "conflict_strategy": "merge"}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "conflict_strategy"]));
    // Nothing of any of them is there.
    assert!(clients::backends(&gw.admin).await.is_empty());
    let prompts = get_json(&Server(&gw), "/prompts").await;
    let names: Vec<&str> = prompts
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["taken"]);
}

/// `entities` of an export, for comparing two registries.
fn entities(doc: &str) -> Value {
    let doc: Value = serde_json::from_str(doc).expect("an export document");
    doc["entities"].clone()
}

#[tokio::test]
async fn an_export_imported_elsewhere_gives_the_same_registry_back() {
    let fx = Fixture::start(guarded("tok-123")).await;
    let a = Served::start(&[]).await;
    let req = pb::CreateBackendRequest {
        name: "weather".into(),
        url: fx.url(),
        credentials: Some(pb::BackendCredentials {
            auth: Some(Auth::Bearer(pb::BearerAuth {
                token: "tok-123".into(),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    clients::create_backend(&a.admin, req).await.expect("register weather");
    let (status, _) = post_json(
        &a,
        "/prompts",
        &json!({"name": "greet", "template": "Hello, {{ user }}!",
        "arguments": [{"name": "user", "required": true}]}),
    )
    .await;
    assert_eq!(status, 200);
    let blob = pb::OwnedItem {
        item: Some(pb::owned_item::Item::Resource(pb::OwnedResource {
            uri: "data://logo".into(),
            name: "logo".into(),
            mime_type: "image/png".into(),
            content: Some(pb::owned_resource::Content::Blob(vec![0x89, b'P', b'N', b'G'])),
            ..Default::default()
        })),
    };
    a.admin
        .clone()
        .create_item(pb::CreateItemRequest {
            item: Some(blob),
            enabled: None,
        })
        .await
        .expect("a blob resource");
    let echo = clients::item_id(&a.admin, pb::ItemKind::Tool, "weather-echo").await;
    let members = vec![
        pb::ServerMember {
            item_id: echo,
            naming: Some(Naming::Rename("say".into())),
        },
        pb::ServerMember {
            item_id: clients::item_id(&a.admin, pb::ItemKind::Prompt, "greet").await,
            naming: None,
        },
    ];
    let req = pb::CreateServerRequest {
        name: "picked".into(),
        description: "a few".into(),
        members,
        backends: Vec::new(),
    };
    a.admin.clone().create_server(req).await.expect("a server");
    // And one of the whole backend, which goes by the backend's name.
    let req = pb::CreateServerRequest {
        name: "whole".into(),
        backends: vec![pb::ServerBackend {
            backend_id: "weather".into(),
            keep_original_names: true,
        }],
        ..Default::default()
    };
    a.admin
        .clone()
        .create_server(req)
        .await
        .expect("a whole-backend server");
    // An operator turned one of the backend's tools off.
    let off = clients::item_id(&a.admin, pb::ItemKind::Tool, "weather-fail").await;
    a.admin
        .clone()
        .set_item_enabled(pb::SetItemEnabledRequest {
            item: off,
            enabled: false,
        })
        .await
        .expect("disable weather-fail");

    let dir = tempfile_dir();
    let with_secrets = dir.join("with-secrets.json");
    let out = a
        .cli(
            &["export", "--include-secrets", "--out", with_secrets.to_str().unwrap()],
            &[],
        )
        .await;
    assert!(out.ok, "{}", out.stderr);
    let text = std::fs::read_to_string(&with_secrets).unwrap();
    assert!(text.contains("mcpgw_secrets"), "{text}");
    assert!(!text.contains("tok-123"), "the token shows in the export");
    let plain = a.cli(&["export"], &[]).await;
    assert!(plain.ok, "{}", plain.stderr);
    assert!(!plain.stdout.contains("mcpgw_secrets"));

    // Another gateway of the same fleet secret takes it whole.
    let b = Served::start(&[]).await;
    let out = b.cli(&["import", with_secrets.to_str().unwrap()], &[]).await;
    assert!(out.ok, "{}", out.stderr);
    assert!(out.stdout.contains("created   gateways   weather"), "{}", out.stdout);
    let v = config_version(&b.admin).await;
    nodes_at(&b.admin, &[], v).await;
    let again = b.cli(&["export"], &[]).await;
    assert!(again.ok, "{}", again.stderr);
    assert_eq!(entities(&again.stdout), entities(&plain.stdout));
    let token = clients::token("pat");
    let client = clients::mcp(&b.proc.url("/mcp"), Some(&token)).await;
    let tools = tool_names(&client.list_all_tools().await.unwrap());
    assert!(tools.contains(&"weather-echo".to_owned()), "{tools:?}");
    assert!(
        !tools.contains(&"weather-fail".to_owned()),
        "a disabled tool came back on: {tools:?}"
    );
    let r = client
        .call_tool(clients::tool_call(
            "weather-echo",
            json!({"text": "with the sealed token"}),
        ))
        .await
        .expect("call weather-echo");
    assert_eq!(clients::first_text(&r), "with the sealed token");
    let on_server = clients::mcp(&b.proc.url("/servers/picked/mcp"), Some(&token)).await;
    assert_eq!(tool_names(&on_server.list_all_tools().await.unwrap()), ["say"]);
    let whole = clients::mcp(&b.proc.url("/servers/whole/mcp"), Some(&token)).await;
    let whole_tools = tool_names(&whole.list_all_tools().await.unwrap());
    assert!(whole_tools.contains(&"echo".to_owned()), "{whole_tools:?}");
    assert!(!whole_tools.contains(&"fail".to_owned()), "{whole_tools:?}");

    // Each conflict strategy, on a registry that already has it all.
    let path = with_secrets.to_str().unwrap();
    let skip = b.cli(&["import", path, "--conflict-strategy", "skip"], &[]).await;
    assert!(skip.ok, "{}", skip.stderr);
    assert!(
        skip.stdout.contains("created 0, updated 0, skipped 5"),
        "{}",
        skip.stdout
    );
    assert_eq!(config_version(&b.admin).await, v, "skipping everything wrote something");
    let fail = b.cli(&["import", path, "--conflict-strategy", "fail"], &[]).await;
    assert!(!fail.ok);
    assert!(fail.stderr.contains(r#"gateways[0] "weather""#), "{}", fail.stderr);
    let dry = b
        .cli(&["import", path, "--conflict-strategy", "rename", "--dry-run"], &[])
        .await;
    assert!(dry.ok, "{}", dry.stderr);
    assert!(dry.stdout.contains("weather as weather-imported"), "{}", dry.stdout);
    // A resource is its URI: it cannot be imported under another.
    assert!(
        dry.stdout.contains("would create 4, updated 0, skipped 1"),
        "{}",
        dry.stdout
    );
    assert!(dry.stderr.contains("data://logo"), "{}", dry.stderr);
    assert_eq!(config_version(&b.admin).await, v, "a dry run wrote something");
    let update = b.cli(&["import", path], &[]).await;
    assert!(update.ok, "{}", update.stderr);
    assert!(update.stdout.contains("updated 5"), "{}", update.stdout);
    assert_eq!(
        clients::backends(&b.admin).await.len(),
        1,
        "an update registered a second backend"
    );

    // A fleet with another secret needs the one the file was sealed with.
    let c = Served::start(&[("AUTH_ENCRYPTION_SECRET", "another-fleet")]).await;
    let refused = c.cli(&["import", path], &[]).await;
    assert!(!refused.ok);
    assert!(refused.stderr.contains("source_secret"), "{}", refused.stderr);
    assert!(clients::backends(&c.admin).await.is_empty());
    let default_secret = mcpgw_data_plane::auth::DEFAULT_ENCRYPTION_SECRET;
    let taken = c
        .cli(&["import", path], &[("MCPGW_IMPORT_SOURCE_SECRET", default_secret)])
        .await;
    assert!(taken.ok, "{}", taken.stderr);
    let v = config_version(&c.admin).await;
    nodes_at(&c.admin, &[], v).await;
    let client = clients::mcp(&c.proc.url("/mcp"), Some(&token)).await;
    let r = client
        .call_tool(clients::tool_call("weather-echo", json!({"text": "resealed"})))
        .await
        .expect("call weather-echo on the other fleet");
    assert_eq!(clients::first_text(&r), "resealed");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A fresh directory for a test's files (the test removes it).
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mcpgw-transfer-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
