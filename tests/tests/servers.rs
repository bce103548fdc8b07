//! Virtual servers: a chosen set of tools, prompts and resources, each
//! exposed under the usual name, its original name or a rename, served at
//! `/servers/{id or name}/…`. A session there sees only the members.

#![allow(deprecated)]

use mcpgw_proto::v1::{self as pb, server_member::Naming};
use mcpgw_tests::{
    clients::{self, RawMcp},
    fixture::{FixtureConfig, tool_definitions},
    harness::{Served, config_version, mcpgw_cli, nodes_at, server_served},
};
use rmcp::model::{CallToolRequestParams, SubscribeRequestParams};
use serde_json::{Value, json};

fn member(item_id: String, naming: Option<Naming>) -> pb::ServerMember {
    pb::ServerMember { item_id, naming }
}

#[tokio::test]
async fn a_session_on_a_virtual_server_sees_and_calls_only_its_members() {
    let (fixtures, gw) = Served::with_fixtures(&["alpha", "bravo"]).await;
    let (a, b) = (&fixtures[0], &fixtures[1]);
    let admin = gw.admin.clone();
    let members = vec![
        member(
            clients::item_id(&admin, pb::ItemKind::Tool, "alpha-echo").await,
            Some(Naming::KeepOriginalName(true)),
        ),
        member(
            clients::item_id(&admin, pb::ItemKind::Tool, "bravo-echo").await,
            Some(Naming::Rename("echo2".into())),
        ),
        member(
            clients::item_id(&admin, pb::ItemKind::Prompt, "alpha-test_simple_prompt").await,
            None,
        ),
        // Both backends offer this URI; alpha's is the bare one gateway-wide.
        member(
            clients::item_id(&admin, pb::ItemKind::Resource, "test://watched-resource").await,
            None,
        ),
    ];
    let req = pb::CreateServerRequest {
        name: "picked".into(),
        description: "a few things".into(),
        members,
        backends: Vec::new(),
    };
    let server = server_served(&admin, req).await;

    let token = clients::token("pat");
    let client = clients::mcp(&gw.proc.url("/servers/picked/mcp"), Some(&token)).await;
    let mut tools: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    tools.sort();
    assert_eq!(tools, ["echo", "echo2"]);
    let prompts = client.list_all_prompts().await.unwrap();
    assert_eq!(prompts.len(), 1);
    assert_eq!(prompts[0].name, "alpha-test_simple_prompt");
    let resources = client.list_all_resources().await.unwrap();
    assert_eq!(resources.len(), 1);

    let echoed = client
        .call_tool(clients::tool_call("echo2", json!({"text": "hi"})))
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(&echoed.content).unwrap()[0]["text"], "hi");
    // The resource reaches the backend that owns it, alpha.
    client
        .subscribe(SubscribeRequestParams::new("test://watched-resource"))
        .await
        .unwrap();
    assert!(a.subscriptions().contains("test://watched-resource") && b.subscriptions().is_empty());
    // Nor can a resource outside the server be reached by a qualified URI.
    let err = client
        .read_resource(rmcp::model::ReadResourceRequestParams::new(
            "mcpgw://bravo/test://static-text",
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Resource not found"), "{err}");
    // A non-member is not there, by any of its names.
    for name in ["alpha-echo", "bravo-fail", "fail"] {
        let err = client
            .call_tool(CallToolRequestParams::new(name.to_owned()))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("Unknown tool"), "{name}: {err}");
    }
    client.cancel().await.unwrap();

    // The same server by id, over /rpc.
    let rpc = RawMcp::new(gw.proc.url(&format!("/servers/{}/rpc", server.id)), Some(token.clone()));
    let list = rpc
        .post(json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}).to_string(), &[])
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(list["result"]["tools"].as_array().unwrap().len(), 2, "{list}");

    // Sessions stay on their endpoint; unknown servers are 404.
    let raw = RawMcp::new(gw.proc.url("/servers/picked/mcp"), Some(token.clone()));
    let (sid, _) = raw.initialize("2025-11-25").await;
    let elsewhere = RawMcp::new(gw.proc.url("/mcp"), Some(token.clone()));
    let ping = json!({"jsonrpc":"2.0","id":2,"method":"ping"}).to_string();
    assert_eq!(
        elsewhere.post(ping.clone(), &[("mcp-session-id", &sid)]).await.status(),
        404
    );
    let nowhere = RawMcp::new(gw.proc.url("/servers/nope/mcp"), Some(token.clone()));
    let res = nowhere.post(ping.clone(), &[("mcp-session-id", &sid)]).await;
    assert_eq!(res.status(), 404);
    assert!(res.text().await.unwrap().contains("Unknown virtual server"));

    // Deleting the server ends its sessions.
    admin
        .clone()
        .delete_server(pb::DeleteServerRequest {
            server: "picked".into(),
        })
        .await
        .unwrap();
    let v = config_version(&admin).await;
    nodes_at(&admin, &[], v).await;
    assert_eq!(raw.post(ping, &[("mcp-session-id", &sid)]).await.status(), 404);
}

#[tokio::test]
async fn bad_members_are_refused_and_write_nothing() {
    let (_fixtures, gw) = Served::with_fixtures(&["alpha", "bravo"]).await;
    let admin = gw.admin.clone();
    let a_echo = clients::item_id(&admin, pb::ItemKind::Tool, "alpha-echo").await;
    let b_echo = clients::item_id(&admin, pb::ItemKind::Tool, "bravo-echo").await;
    let resource = clients::item_id(&admin, pb::ItemKind::Resource, "test://static-text").await;
    let whole = |id: &str| {
        vec![pb::ServerBackend {
            backend_id: id.into(),
            keep_original_names: false,
        }]
    };
    let cases = [
        (
            "clash",
            vec![
                member(a_echo.clone(), Some(Naming::KeepOriginalName(true))),
                member(b_echo.clone(), Some(Naming::KeepOriginalName(true))),
            ],
            "both be served as",
            vec![],
        ),
        (
            "missing",
            vec![member("no-such-item".into(), None)],
            "no catalog item",
            vec![],
        ),
        ("no-backend", vec![], "no backend has the id or name", whole("nope")),
        (
            "twice",
            vec![],
            "a member twice",
            [whole("alpha"), whole("alpha")].concat(),
        ),
        (
            "bad-rename",
            vec![member(a_echo.clone(), Some(Naming::Rename("no spaces".into())))],
            "not a valid MCP name",
            vec![],
        ),
        (
            "uri-rename",
            vec![member(resource, Some(Naming::Rename("x".into())))],
            "keeps its URI",
            vec![],
        ),
        ("bad name!", vec![], "appears in URLs", vec![]),
    ];
    let before = config_version(&admin).await;
    for (name, members, says, backends) in cases {
        let req = pb::CreateServerRequest {
            name: name.into(),
            description: String::new(),
            members,
            backends,
        };
        let err = admin.clone().create_server(req).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{name}: {err}");
        assert!(err.message().contains(says), "{name}: {}", err.message());
    }
    let servers = admin
        .clone()
        .list_servers(pb::ListServersRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(servers.servers.is_empty());
    let after = config_version(&admin).await;
    assert_eq!(before, after, "no config version was spent");
}

#[tokio::test]
async fn the_cli_makes_a_server_of_a_whole_backend_that_follows_its_catalog() {
    let (fixtures, gw) = Served::with_fixtures(&["alpha"]).await;
    let server = format!("http://{}", gw.proc.addr);
    let out = mcpgw_cli(
        &[
            "server",
            "create",
            "whole",
            "--backend",
            "alpha",
            "--keep-original-names",
            "--server",
            &server,
        ],
        &[],
    )
    .await;
    assert!(out.ok, "{}", out.stderr);
    assert!(out.stdout.contains("/servers/whole/mcp"), "{}", out.stdout);
    let v = config_version(&gw.admin).await;
    nodes_at(&gw.admin, &[], v).await;

    let names = clients::tool_names(&gw.proc.url("/servers/whole/mcp"), &clients::token("pat")).await;
    let expected: Vec<String> = tool_definitions(&FixtureConfig::default())
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names, expected,
        "every tool, under its own name, in the backend's order"
    );
    let stored = gw
        .admin
        .clone()
        .get_server(pb::GetServerRequest { server: "whole".into() })
        .await
        .unwrap()
        .into_inner()
        .server
        .unwrap();
    assert_eq!((stored.members.len(), stored.backends.len()), (0, 1), "{stored:?}");

    // What the backend adds later is the server's too, with no update.
    fixtures[0].add_tool("late_tool").await;
    let url = gw.proc.url("/servers/whole/mcp");
    mcpgw_tests::harness::eventually("the added tool to be served on the server", || {
        let url = url.clone();
        async move {
            let names = clients::tool_names(&url, &clients::token("pat")).await;
            names.contains(&"late_tool".to_owned()).then_some(())
        }
    })
    .await;

    let out = mcpgw_cli(&["server", "list", "--server", &server], &[]).await;
    assert!(out.ok && out.stdout.contains("whole"), "{}", out.stderr);
    let out = mcpgw_cli(&["server", "delete", "whole", "--server", &server], &[]).await;
    assert!(out.ok, "{}", out.stderr);
    let out = mcpgw_cli(&["server", "delete", "whole", "--server", &server], &[]).await;
    assert!(!out.ok && out.stderr.contains("no virtual server"), "{}", out.stderr);
}

#[tokio::test]
async fn a_disabled_server_is_not_served_and_comes_back_with_its_members() {
    let (_fixtures, gw) = Served::with_fixtures(&["alpha"]).await;
    let admin = gw.admin.clone();
    let echo = clients::item_id(&admin, pb::ItemKind::Tool, "alpha-echo").await;
    let req = pb::CreateServerRequest {
        name: "picked".into(),
        description: String::new(),
        members: vec![member(echo, None)],
        backends: Vec::new(),
    };
    admin.clone().create_server(req).await.unwrap();
    let token = clients::token("pat");
    let raw = RawMcp::new(gw.proc.url("/servers/picked/mcp"), Some(token.clone()));
    let (sid, _) = raw.initialize("2025-11-25").await;
    let ping = json!({"jsonrpc":"2.0","id":2,"method":"ping"}).to_string();

    // Context Forge's toggle, on the REST API.
    let toggle = |activate: bool| {
        let url = gw.proc.url(&format!("/servers/picked/state?activate={activate}"));
        async move {
            let res = reqwest::Client::new()
                .post(url)
                .basic_auth("admin", Some("changeme"))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        }
    };
    let off = toggle(false).await;
    assert_eq!(off["status"], "success");
    assert_eq!(off["server"]["enabled"], false, "{off}");
    nodes_at(&admin, &[], config_version(&admin).await).await;
    let res = raw.post(ping.clone(), &[("mcp-session-id", &sid)]).await;
    assert_eq!(res.status(), 404, "a disabled server still answers");
    let kept = admin
        .clone()
        .get_server(pb::GetServerRequest {
            server: "picked".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .server
        .unwrap();
    assert!(!kept.enabled);
    assert_eq!(kept.members.len(), 1, "disabling lost the members");

    let on = toggle(true).await;
    assert_eq!(on["server"]["enabled"], true);
    nodes_at(&admin, &[], config_version(&admin).await).await;
    let client = clients::mcp(&gw.proc.url("/servers/picked/mcp"), Some(&token)).await;
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, ["alpha-echo"]);
}
