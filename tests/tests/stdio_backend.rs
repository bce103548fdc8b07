//! Backends that are commands speaking MCP on stdio (the stdio fixture):
//! registered from the command line, listed and called through the gateway
//! with rmcp, asking the client for a completion in the middle of a call,
//! restarted after they exit, and refused clearly when they cannot start.

#![allow(deprecated)]

use mcpgw_tests::{
    clients::{self, first_text, tool_call},
    harness::{Served, config_version, eventually, nodes_at, stdio_fixture_bin},
};
use serde_json::json;

const ENV_SECRET: &str = "env-5ecret-a1b2";

async fn with_stdio_backend(gw_env: &[(&str, &str)], extra: &[&str]) -> Served {
    let gw = Served::start(gw_env).await;
    let fixture = stdio_fixture_bin();
    let mut args = vec!["backend", "add", "--name", "local", "--transport", "stdio"];
    args.extend(["--command", fixture.to_str().unwrap()]);
    args.extend(extra);
    let out = gw.cli(&args, &[]).await;
    assert!(out.ok, "backend add: {}", out.stderr);
    assert!(out.stdout.contains("registered backend local"), "{}", out.stdout);
    nodes_at(&gw.admin, &[], config_version(&gw.admin).await).await;
    gw
}

async fn call(client: &clients::McpClient, tool: &str, args: serde_json::Value) -> String {
    let r = client.call_tool(tool_call(tool, args)).await.unwrap();
    first_text(&r)
}

#[tokio::test]
async fn a_stdio_backend_is_listed_called_and_asks_the_client_mid_call() {
    let env = format!("FIXTURE_KEY={ENV_SECRET}");
    let gw = with_stdio_backend(&[], &["--env", &env]).await;
    let token = clients::token("pat");
    let names = clients::tool_names(&gw.proc.url("/mcp"), &token).await;
    for tool in ["local-echo", "local-sample", "local-whoami"] {
        assert!(names.iter().any(|n| n == tool), "{tool} in {names:?}");
    }
    let client = clients::mcp(&gw.proc.url("/mcp"), Some(&token)).await;
    assert_eq!(
        call(&client, "local-echo", json!({"text": "over stdio"})).await,
        "over stdio"
    );
    // The child's request reaches this client, and its answer the child.
    let sampled = call(&client, "local-sample", json!({"prompt": "hello"})).await;
    assert_eq!(sampled, "the client said: sampled: hello");
    // Its environment is what it was registered with, and none of the gateway's.
    assert_eq!(
        call(&client, "local-getenv", json!({"name": "FIXTURE_KEY"})).await,
        ENV_SECRET
    );
    assert_eq!(
        call(&client, "local-getenv", json!({"name": "DATABASE_URL"})).await,
        "(unset)"
    );
    // Concurrent calls share the one child, each answered under its own id.
    let texts: Vec<String> = (0..8).map(|i| format!("call {i}")).collect();
    let calls = texts.iter().map(|t| call(&client, "local-echo", json!({"text": t})));
    assert_eq!(futures::future::join_all(calls).await, texts);
    client.cancel().await.unwrap();

    // Listed with its kind and command; the env value is shown nowhere.
    let listing = gw.cli(&["backend", "list"], &[]).await;
    assert!(
        listing.stdout.contains("local") && listing.stdout.contains("stdio:"),
        "{}",
        listing.stdout
    );
    let got = clients::backend(&gw.admin, "local").await;
    let stdio = got.stdio.clone().expect("the command");
    assert_eq!(stdio.env_names, ["FIXTURE_KEY"]);
    assert!(stdio.env.is_empty());
    assert!(!format!("{got:?}").contains(ENV_SECRET) && !listing.stdout.contains(ENV_SECRET));
    assert!(
        !gw.database_bytes()
            .windows(ENV_SECRET.len())
            .any(|w| w == ENV_SECRET.as_bytes())
    );
}

#[tokio::test]
async fn a_stdio_backend_that_exits_is_started_again() {
    let gw = with_stdio_backend(&[], &[]).await;
    let client = clients::mcp(&gw.proc.url("/mcp"), Some(&clients::token("pat"))).await;
    let first = call(&client, "local-whoami", json!({})).await;
    let crashed = client.call_tool(tool_call("local-crash", json!({}))).await;
    assert!(crashed.is_err(), "the call the child died in fails: {crashed:?}");
    let second = eventually("the child started again", || async {
        client
            .call_tool(tool_call("local-whoami", json!({})))
            .await
            .ok()
            .map(|r| first_text(&r))
    })
    .await;
    assert_ne!(first, second, "a new process");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_stdio_command_that_cannot_start_is_refused_and_nothing_is_registered() {
    let gw = Served::start(&[]).await;
    let fixture = stdio_fixture_bin();
    let add = |command: &str, extra: &[&str]| {
        let mut v = vec!["backend", "add", "--name", "bad", "--transport", "stdio", "--command"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        v.push(command.into());
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let cases = [
        (
            add("/nonexistent/mcp-server", &[]),
            "cannot run \"/nonexistent/mcp-server\"",
        ),
        (
            add(fixture.to_str().unwrap(), &["--arg", "--exit-at-once"]),
            "missing configuration",
        ),
    ];
    for (args, said) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = gw.cli(&args, &[]).await;
        assert!(!out.ok, "{args:?} registered");
        assert!(out.stderr.contains(said), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("nothing was registered"), "{}", out.stderr);
    }
    // A gateway told not to run commands says so.
    let locked = Served::start(&[("MCPGW_ALLOW_STDIO_BACKENDS", "false")]).await;
    let args = add(fixture.to_str().unwrap(), &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = locked.cli(&args, &[]).await;
    assert!(
        !out.ok && out.stderr.contains("MCPGW_ALLOW_STDIO_BACKENDS"),
        "{}",
        out.stderr
    );
    for gw in [&gw, &locked] {
        let listed = clients::backends(&gw.admin).await;
        assert!(listed.is_empty(), "{listed:?}");
    }
}

/// Split planes: the control plane may run the command (to discover it),
/// a data plane not told it may refuses calls to it, and its log says how
/// to allow it.
#[tokio::test]
async fn a_data_plane_that_may_not_run_commands_refuses_stdio_calls_and_says_why() {
    use mcpgw_tests::harness::{Proc, SqliteDb, mcpgw_cli};
    let db = SqliteDb::new();
    let cp = Proc::start(
        &["control-plane", "--port", "0"],
        &[
            ("DATABASE_URL", db.url.as_str()),
            ("MCPGW_ALLOW_STDIO_BACKENDS", "true"),
        ],
    )
    .await;
    let server = cp.url("");
    let mut dp = Proc::start_logged(
        &["data-plane", "--port", "0", "--control-plane", &server],
        &[("RUST_LOG", "warn")],
    )
    .await;
    dp.wait_for_line("ready").await;
    let fixture = stdio_fixture_bin();
    let args = [
        "backend",
        "add",
        "--name",
        "local",
        "--transport",
        "stdio",
        "--command",
        fixture.to_str().unwrap(),
        "--server",
        &server,
    ];
    let out = mcpgw_cli(&args, &[]).await;
    assert!(out.ok, "{}", out.stderr);
    let admin = clients::admin(cp.addr).await;
    nodes_at(&admin, &[], config_version(&admin).await).await;
    let client = clients::mcp(&dp.url("/mcp"), Some(&clients::token("pat"))).await;
    let refused = client.call_tool(tool_call("local-echo", json!({"text": "x"}))).await;
    let said = format!("{:?}", refused.expect_err("the node may not run it"));
    assert!(said.contains("unavailable"), "{said}");
    let logged = dp.wait_for_line("MCPGW_ALLOW_STDIO_BACKENDS").await;
    assert!(logged.contains("WARN"), "{logged}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_stdio_backend_that_says_its_tools_changed_is_re_listed_at_once() {
    let dir = std::env::temp_dir().join(format!("mcpgw-grow-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tools");
    std::fs::write(&file, "").unwrap();
    // No interval re-listing: only the backend's own notice can bring the tool.
    let env = format!("FIXTURE_TOOLS_FILE={}", file.display());
    let gw = with_stdio_backend(&[("MCPGW_RELIST_INTERVAL_SECS", "0")], &["--env", &env]).await;
    let token = clients::token("pat");
    let url = gw.proc.url("/mcp");
    assert!(
        !clients::tool_names(&url, &token)
            .await
            .iter()
            .any(|n| n == "local-sprouted")
    );

    // The data plane's child adds a tool and says so on its stdout; the
    // control plane re-lists the backend and every node serves the tool.
    let client = clients::mcp(&url, Some(&token)).await;
    assert_eq!(call(&client, "local-grow", json!({"name": "sprouted"})).await, "grown");
    let names = eventually("the grown tool to be listed", || {
        let (url, token) = (url.clone(), token.clone());
        async move {
            let names = clients::tool_names(&url, &token).await;
            names.iter().any(|n| n == "local-sprouted").then_some(names)
        }
    })
    .await;
    assert!(names.iter().any(|n| n == "local-echo"), "{names:?}");
    client.cancel().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_stdio_backends_resource_update_reaches_subscribers_and_the_cache() {
    let dir = std::env::temp_dir().join(format!("mcpgw-note-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("note");
    std::fs::write(&file, "one").unwrap();
    let env = format!("FIXTURE_RESOURCE_FILE={}", file.display());
    let gw = with_stdio_backend(&[], &["--env", &env]).await;
    let recorder = clients::Recorder::plain();
    let client = clients::mcp_with(recorder.clone(), &gw.proc.url("/mcp"), Some(&clients::token("pat"))).await;
    let read = || async {
        let r = client
            .read_resource(rmcp::model::ReadResourceRequestParams::new("file://note"))
            .await
            .expect("read the note");
        match &r.contents[0] {
            rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
            other => panic!("text contents, not {other:?}"),
        }
    };
    client
        .subscribe(rmcp::model::SubscribeRequestParams::new("file://note"))
        .await
        .expect("subscribe");
    assert_eq!(read().await, "one");
    // Changed behind the gateway's back: the cached read stands (the
    // client declares nothing, so it shares the backend session whose
    // answers are cached).
    std::fs::write(&file, "quietly").unwrap();
    assert_eq!(read().await, "one", "read from the cache");
    // Changed and said: the subscriber hears it, and reads the new text.
    assert_eq!(call(&client, "local-touch", json!({"text": "two"})).await, "touched");
    let updated = recorder.updated.clone();
    eventually("the update to reach the subscriber", || {
        let updated = updated.clone();
        async move { updated.lock().unwrap().first().cloned() }
    })
    .await;
    assert_eq!(recorder.updated.lock().unwrap()[0], "file://note");
    assert_eq!(read().await, "two");
    client.cancel().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}
