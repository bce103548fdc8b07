//! Items the registry holds itself, through a real gateway and the official
//! Rust SDK's client: a prompt template rendered with its arguments (a
//! missing one named), a resource with its content, a resource template
//! rendered with the URI's variables, and a REST endpoint as a tool, all
//! under their own names beside a backend's; changed, disabled, removed and
//! made members of a virtual server like any item. Bad items are refused
//! with what is wrong and nothing is written.

use mcpgw_proto::v1::{self as pb, owned_item::Item as O, owned_resource::Content};
use mcpgw_tests::{
    clients,
    fixture::rest::RestFixture,
    harness::{Served, config_version, nodes_at},
};
use rmcp::model::{GetPromptRequestParams, ReadResourceRequestParams, ResourceContents};
use serde_json::json;

fn prompt(name: &str, template: &str) -> pb::OwnedItem {
    pb::OwnedItem {
        item: Some(O::Prompt(pb::OwnedPrompt {
            name: name.into(),
            description: "Greets someone".into(),
            template: template.into(),
            ..Default::default()
        })),
    }
}

async fn create(gw: &Served, item: pb::OwnedItem) -> Result<pb::Item, tonic::Status> {
    let res = gw
        .admin
        .clone()
        .create_item(pb::CreateItemRequest {
            item: Some(item),
            enabled: None,
        })
        .await?;
    Ok(res.into_inner().item.expect("an item"))
}

fn text_of(contents: &[ResourceContents]) -> String {
    match &contents[0] {
        ResourceContents::TextResourceContents { text, .. } => text.clone(),
        other => panic!("text contents, not {other:?}"),
    }
}

fn args(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().cloned().expect("an object")
}

#[tokio::test]
async fn the_registrys_own_items_are_served_beside_a_backends() {
    let api = RestFixture::start(None).await;
    let fx = mcpgw_tests::fixture::Fixture::start(Default::default()).await;
    let gw = Served::start(&[]).await.with_backends(&[("fx", fx.url())]).await;

    let greet = create(&gw, prompt("greet", "Hello, {{ user }}!"))
        .await
        .expect("a prompt");
    assert_eq!(greet.exposed_name, "greet", "no backend prefix");
    assert_eq!(greet.kind(), pb::ItemKind::Prompt);
    let readme = create(
        &gw,
        pb::OwnedItem {
            item: Some(O::Resource(pb::OwnedResource {
                uri: "docs://readme".into(),
                name: "readme".into(),
                content: Some(Content::Text("read me first".into())),
                ..Default::default()
            })),
        },
    )
    .await
    .expect("a resource");
    create(
        &gw,
        pb::OwnedItem {
            item: Some(O::ResourceTemplate(pb::OwnedResourceTemplate {
                uri_template: "notes://{id}".into(),
                name: "note".into(),
                text: "note number {{ id }}".into(),
                ..Default::default()
            })),
        },
    )
    .await
    .expect("a resource template");
    let weather = create(
        &gw,
        pb::OwnedItem {
            item: Some(O::Tool(pb::RestTool {
                name: "weather".into(),
                description: "Weather in a city".into(),
                method: "GET".into(),
                url: format!("{}weather/{{city}}", api.url()),
                input_schema_json: r#"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"#
                    .into(),
                ..Default::default()
            })),
        },
    )
    .await
    .expect("a REST tool");
    assert_eq!(weather.exposed_name, "weather");
    // The registry's own backend is no backend to list.
    let names: Vec<String> = clients::backends(&gw.admin).await.into_iter().map(|b| b.name).collect();
    assert_eq!(names, ["fx"]);

    nodes_at(&gw.admin, &[], config_version(&gw.admin).await).await;
    let client = clients::mcp(&gw.proc.url("/mcp"), Some(&clients::token("pat"))).await;
    let prompts = client.list_all_prompts().await.unwrap();
    let listed = prompts.iter().find(|p| p.name == "greet").expect("greet is listed");
    let arg = &listed.arguments.as_ref().expect("arguments")[0];
    assert_eq!((arg.name.as_str(), arg.required), ("user", Some(true)));
    assert!(
        prompts.iter().any(|p| p.name.starts_with("fx-")),
        "beside the backend's"
    );

    let got = client
        .get_prompt(GetPromptRequestParams::new("greet").with_arguments(args(json!({"user": "Ada"}))))
        .await
        .expect("render greet");
    let said = serde_json::to_value(&got.messages).unwrap();
    assert_eq!(said[0]["content"]["text"], "Hello, Ada!");
    let e = client
        .get_prompt(GetPromptRequestParams::new("greet").with_arguments(args(json!({}))))
        .await
        .expect_err("user is required");
    let rmcp::ServiceError::McpError(e) = e else {
        panic!("a JSON-RPC error, not {e}")
    };
    assert_eq!(e.code.0, -32602);
    assert!(
        e.message.contains("\"user\""),
        "the missing argument is named: {}",
        e.message
    );

    let r = client
        .read_resource(ReadResourceRequestParams::new("docs://readme"))
        .await
        .expect("read the resource");
    assert_eq!(text_of(&r.contents), "read me first");
    let r = client
        .read_resource(ReadResourceRequestParams::new("notes://42"))
        .await
        .expect("read through the template");
    assert_eq!(text_of(&r.contents), "note number 42");
    let templates = client.list_all_resource_templates().await.unwrap();
    assert!(templates.iter().any(|t| t.uri_template == "notes://{id}"));

    let r = client
        .call_tool(clients::tool_call("weather", json!({"city": "Paris"})))
        .await
        .expect("call the REST tool");
    assert_ne!(r.is_error, Some(true));
    assert!(clients::first_text(&r).contains("Paris"), "{}", clients::first_text(&r));
    assert!(api.seen().iter().any(|s| s.line == "GET /weather/Paris"));

    // Changed: the new template is what renders.
    gw.admin
        .clone()
        .update_item(pb::UpdateItemRequest {
            item: "greet".into(),
            owned: Some(prompt("greet", "Hi, {{ user }}.")),
        })
        .await
        .expect("update greet");
    // Disabled: the resource leaves the list and cannot be read.
    gw.admin
        .clone()
        .set_item_enabled(pb::SetItemEnabledRequest {
            item: readme.id.clone(),
            enabled: false,
        })
        .await
        .expect("disable the resource");
    nodes_at(&gw.admin, &[], config_version(&gw.admin).await).await;
    let got = client
        .get_prompt(GetPromptRequestParams::new("greet").with_arguments(args(json!({"user": "Bo"}))))
        .await
        .expect("render greet again");
    assert_eq!(
        serde_json::to_value(&got.messages).unwrap()[0]["content"]["text"],
        "Hi, Bo."
    );
    let resources = client.list_all_resources().await.unwrap();
    assert!(!resources.iter().any(|r| r.uri == "docs://readme"));
    assert!(
        client
            .read_resource(ReadResourceRequestParams::new("docs://readme"))
            .await
            .is_err()
    );

    // A member of a virtual server, under its own name there too.
    gw.admin
        .clone()
        .create_server(pb::CreateServerRequest {
            name: "greeter".into(),
            members: vec![pb::ServerMember {
                item_id: greet.id.clone(),
                naming: None,
            }],
            ..Default::default()
        })
        .await
        .expect("a virtual server");
    nodes_at(&gw.admin, &[], config_version(&gw.admin).await).await;
    let scoped = clients::mcp(&gw.proc.url("/servers/greeter/mcp"), Some(&clients::token("pat"))).await;
    let names: Vec<String> = scoped
        .list_all_prompts()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["greet"]);
    scoped.cancel().await.unwrap();

    // Removed: gone from the list.
    gw.admin
        .clone()
        .delete_item(pb::DeleteItemRequest { item: "weather".into() })
        .await
        .expect("remove the tool");
    nodes_at(&gw.admin, &[], config_version(&gw.admin).await).await;
    let tools = clients::tool_names(&gw.proc.url("/mcp"), &clients::token("pat")).await;
    assert!(
        !tools.contains(&"weather".to_string()) && tools.iter().any(|t| t == "fx-echo"),
        "{tools:?}"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn bad_items_are_refused_and_nothing_is_written() {
    let fx = mcpgw_tests::fixture::Fixture::start(Default::default()).await;
    let gw = Served::start(&[]).await.with_backends(&[("fx", fx.url())]).await;
    create(&gw, prompt("greet", "Hello, {{ user }}!"))
        .await
        .expect("a prompt");
    let before = config_version(&gw.admin).await;

    let e = create(&gw, prompt("broken", "Hello,\n  {{ user }!")).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(
        e.message().contains("line 2") && e.message().contains("column"),
        "{}",
        e.message()
    );
    let e = create(&gw, prompt("greet", "again")).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::AlreadyExists, "{}", e.message());
    // The name of a backend's prompt is taken.
    let e = create(&gw, prompt("fx-test_simple_prompt", "x")).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::AlreadyExists, "{}", e.message());
    assert!(e.message().contains("\"fx\""), "{}", e.message());
    let e = create(&gw, prompt("not a name", "x")).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{}", e.message());
    // A URI a backend serves is not taken from it.
    let e = create(
        &gw,
        pb::OwnedItem {
            item: Some(O::Resource(pb::OwnedResource {
                uri: "test://static-text".into(),
                content: Some(Content::Text("mine".into())),
                ..Default::default()
            })),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), tonic::Code::AlreadyExists, "{}", e.message());
    let e = create(
        &gw,
        pb::OwnedItem {
            item: Some(O::Tool(pb::RestTool {
                name: "relative".into(),
                url: "/no/host".into(),
                method: "GET".into(),
                ..Default::default()
            })),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{}", e.message());
    let e = create(&gw, pb::OwnedItem { item: None }).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{}", e.message());
    // A prompt cannot become a resource.
    let e = gw
        .admin
        .clone()
        .update_item(pb::UpdateItemRequest {
            item: "greet".into(),
            owned: Some(pb::OwnedItem {
                item: Some(O::Resource(pb::OwnedResource {
                    uri: "docs://x".into(),
                    content: Some(Content::Text("x".into())),
                    ..Default::default()
                })),
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{}", e.message());
    let e = gw
        .admin
        .clone()
        .delete_item(pb::DeleteItemRequest { item: "nope".into() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "{}", e.message());
    // A backend's item is not the registry's to remove.
    let e = gw
        .admin
        .clone()
        .delete_item(pb::DeleteItemRequest { item: "fx-echo".into() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "{}", e.message());
    assert_eq!(config_version(&gw.admin).await, before, "nothing was written");
}

#[tokio::test]
async fn the_cli_adds_lists_and_removes_the_registrys_own_items() {
    let api = RestFixture::start(None).await;
    let gw = Served::start(&[]).await;
    let out = gw
        .cli(
            &[
                "prompt",
                "add",
                "--name",
                "greet",
                "--template",
                "Hi {{ who }}",
                "--argument",
                "who:required",
            ],
            &[],
        )
        .await;
    assert!(out.ok && out.stdout.contains("added prompt greet"), "{}", out.stderr);
    let out = gw
        .cli(&["resource", "add", "--uri", "docs://a", "--text", "alpha"], &[])
        .await;
    assert!(out.ok, "{}", out.stderr);
    let url = format!("{}weather/{{city}}", api.url());
    let out = gw
        .cli(
            &["tool", "add", "--name", "weather", "--url", &url, "--method", "get"],
            &[],
        )
        .await;
    assert!(out.ok && out.stdout.contains("added tool weather"), "{}", out.stderr);
    let out = gw.cli(&["prompt", "list"], &[]).await;
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("greet ") && l.contains("(registry)")),
        "{}",
        out.stdout
    );
    // Bad input is refused with what is wrong, and nothing is added.
    let out = gw
        .cli(&["prompt", "add", "--name", "bad", "--template", "{{ x"], &[])
        .await;
    assert!(!out.ok && out.stderr.contains("line 1"), "{}", out.stderr);
    let out = gw.cli(&["resource", "add", "--uri", "docs://b"], &[]).await;
    assert!(!out.ok && out.stderr.contains("--text"), "{}", out.stderr);

    nodes_at(&gw.admin, &[], config_version(&gw.admin).await).await;
    let client = clients::mcp(&gw.proc.url("/mcp"), Some(&clients::token("pat"))).await;
    let r = client
        .call_tool(clients::tool_call("weather", json!({"city": "Rome"})))
        .await
        .expect("call the tool added from the CLI");
    assert!(clients::first_text(&r).contains("Rome"));
    client.cancel().await.unwrap();

    for (kind, key) in [("prompt", "greet"), ("resource", "docs://a"), ("tool", "weather")] {
        let out = gw.cli(&[kind, "remove", key], &[]).await;
        assert!(out.ok, "{kind} remove: {}", out.stderr);
    }
    let out = gw.cli(&["prompt", "list"], &[]).await;
    assert!(!out.stdout.contains("greet"), "{}", out.stdout);
}
