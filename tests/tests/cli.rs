//! The `mcpgw` command line, run as a user would run it.

use mcpgw_data_plane::auth::{DEFAULT_JWT_SECRET, Jwt};
use mcpgw_tests::{
    fixture::{Fixture, FixtureConfig, tool_definitions},
    harness::{Proc, SqliteDb, mcpgw_cli as mcpgw},
};

#[tokio::test]
async fn every_verb_has_help() {
    for verb in [
        vec![],
        vec!["serve"],
        vec!["control-plane"],
        vec!["data-plane"],
        vec!["token"],
        vec!["backend"],
        vec!["backend", "add"],
        vec!["backend", "list"],
        vec!["backend", "remove"],
        vec!["tool"],
        vec!["tool", "list"],
        vec!["nodes"],
        vec!["server"],
        vec!["server", "create"],
        vec!["server", "update"],
        vec!["server", "list"],
        vec!["server", "delete"],
        vec!["stdio"],
    ] {
        let mut args = verb.clone();
        args.push("--help");
        let out = mcpgw(&args, &[]).await;
        assert!(
            out.ok && out.stdout.contains("Usage:"),
            "mcpgw {verb:?} --help: {}",
            out.stderr
        );
    }
}

#[tokio::test]
async fn token_prints_a_verifiable_jwt() {
    let out = mcpgw(&["token", "--username", "erin", "--exp-mins", "5"], &[]).await;
    assert!(out.ok, "{}", out.stderr);
    let claims = Jwt::new(DEFAULT_JWT_SECRET)
        .verify(out.stdout.trim())
        .expect("verifies with the default secret");
    assert_eq!(claims.sub, "erin");
    assert_eq!(claims.exp - claims.iat, 300);
    let out = mcpgw(&["token", "--username", "erin"], &[("JWT_SECRET_KEY", "s3")]).await;
    let claims = Jwt::new("s3")
        .verify(out.stdout.trim())
        .expect("verifies with its secret");
    // Context Forge's TOKEN_EXPIRY: 20 minutes unless set.
    assert_eq!(claims.exp - claims.iat, 20 * 60);
    let out = mcpgw(&["token", "--username", "erin"], &[("TOKEN_EXPIRY", "90")]).await;
    let claims = Jwt::new(DEFAULT_JWT_SECRET).verify(out.stdout.trim()).unwrap();
    assert_eq!(claims.exp - claims.iat, 90 * 60);
    let out = mcpgw(&["token", "--username", "erin", "--exp", "0"], &[]).await;
    assert!(!out.ok, "a token that never lives was minted");
}

#[tokio::test]
async fn admin_verbs_manage_the_registry() {
    let fx = Fixture::start(FixtureConfig::default()).await;
    let tools = tool_definitions(&FixtureConfig::default()).len();
    let db = SqliteDb::new();
    let mut gw = Proc::start(&["serve", "--port", "0"], &[("DATABASE_URL", &db.url)]).await;
    gw.wait_for_line("ready").await;
    let server = gw.url("");
    let with = |args: &[&str]| {
        let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        v.extend(["--server".to_string(), server.clone()]);
        v
    };
    let run = |args: Vec<String>| async move {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        mcpgw(&a, &[]).await
    };

    let out = run(with(&["backend", "add", "--name", "My Fixture", "--url", &fx.url()])).await;
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout.contains("registered backend My Fixture") && out.stdout.contains(&format!("with {tools} tools")),
        "{}",
        out.stdout
    );

    let out = run(with(&["backend", "list"])).await;
    assert!(
        out.stdout.contains("My Fixture") && out.stdout.contains(&fx.url()),
        "{}",
        out.stdout
    );
    let out = run(with(&["tool", "list"])).await;
    assert!(
        out.stdout.contains("my-fixture-echo") && out.stdout.contains("Echoes its text"),
        "{}",
        out.stdout
    );
    let out = run(with(&["tool", "list", "--backend", "My Fixture"])).await;
    assert_eq!(out.stdout.lines().count(), tools + 1, "header + tools: {}", out.stdout);
    let out = run(with(&["nodes"])).await;
    assert!(
        out.ok && out.stdout.contains("control plane at config version"),
        "{}",
        out.stderr
    );

    let out = run(with(&["backend", "add", "--name", "My Fixture", "--url", &fx.url()])).await;
    assert!(!out.ok && out.stderr.contains("already exists"), "{}", out.stderr);

    let out = run(with(&["backend", "remove", "My Fixture"])).await;
    assert!(out.ok, "{}", out.stderr);
    let out = run(with(&["tool", "list"])).await;
    assert!(!out.stdout.contains("my-fixture-echo"));

    let mut args = with(&["backend", "list"]);
    args.extend(["--password".into(), "wrong".into()]);
    let out = run(args).await;
    assert!(
        !out.ok && out.stderr.contains("wrong username or password"),
        "{}",
        out.stderr
    );
    let token = Jwt::new(DEFAULT_JWT_SECRET).mint("ops", 60);
    let mut args = with(&["backend", "list"]);
    args.extend(["--token".into(), token]);
    assert!(run(args).await.ok);
}

#[tokio::test]
async fn default_secrets_never_listen_beyond_loopback() {
    let db = SqliteDb::new();
    for verb in ["serve", "control-plane", "data-plane"] {
        let out = mcpgw(
            &[verb, "--host", "0.0.0.0", "--port", "0"],
            &[("DATABASE_URL", &db.url)],
        )
        .await;
        assert!(!out.ok, "{verb} must refuse");
        assert!(
            out.stderr.contains("refusing to listen on 0.0.0.0") && out.stderr.contains("JWT_SECRET_KEY"),
            "{}",
            out.stderr
        );
    }
}
