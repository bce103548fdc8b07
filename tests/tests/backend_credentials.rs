//! Per-backend credentials: a static header, a bearer token, basic auth and
//! OAuth 2.0 client credentials. The fixture records every header it gets:
//! it sees the credential the backend was registered with and never the
//! client's own token; no API response, CLI listing, log line, config
//! snapshot or registry file holds a secret in the clear.

use mcpgw_tests::{
    clients::{self, first_text, tool_call},
    fixture::{Fixture, FixtureAuth, FixtureConfig},
    harness::{Served, config_version, nodes_at},
};
use serde_json::json;

const BEARER: &str = "bearer-5ecret-9f2c";
const API_KEY: &str = "api-key-5ecret-71ab";
const PASSWORD: &str = "pa55-5ecret-c3d4";
const CLIENT_SECRET: &str = "client-5ecret-e5f6";

async fn guarded(auth: FixtureAuth) -> Fixture {
    Fixture::start(FixtureConfig {
        auth,
        ..FixtureConfig::default()
    })
    .await
}

/// Calls `<slug>-echo` through the gateway with a client token of its own;
/// returns that token.
async fn echo_through(gw: &Served, slug: &str, text: &str) -> String {
    let token = clients::token("pat");
    let client = clients::mcp(&gw.proc.url("/mcp"), Some(&token)).await;
    let echoed = client
        .call_tool(tool_call(&format!("{slug}-echo"), json!({"text": text})))
        .await
        .unwrap();
    assert_eq!(first_text(&echoed), text);
    client.cancel().await.unwrap();
    token
}

/// Registers through the CLI and waits until the gateway serves it.
async fn add(gw: &Served, args: &[&str], env: &[(&str, &str)]) {
    let out = gw.cli(args, env).await;
    assert!(out.ok, "backend add: {}", out.stderr);
    nodes_at(&gw.admin, &[], config_version(&gw.admin).await).await;
}

/// Everywhere a secret must not show: the CLI's listing, the admin API's
/// reads, the gateway's own log, the config snapshot a node gets, and the
/// registry's files.
async fn assert_nowhere(gw: &mut Served, secrets: &[&str]) {
    let listing = gw.cli(&["backend", "list"], &[]).await;
    assert!(listing.ok, "{}", listing.stderr);
    let listed = clients::backends(&gw.admin).await;
    let dump = clients::config_dump(gw.proc.addr).await;
    let log = gw.proc.lines_so_far().join("\n");
    assert!(log.contains("registered backend"), "the log was captured: {log}");
    let db = gw.database_bytes();
    let places: [(&str, &[u8]); 5] = [
        ("backend list", listing.stdout.as_bytes()),
        ("ListBackends", format!("{listed:?}").into_bytes().leak()),
        ("the config snapshot", &dump),
        ("the gateway's log", log.as_bytes()),
        ("the registry's files", &db),
    ];
    for secret in secrets {
        for (place, bytes) in places {
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "{secret:?} shows in {place}");
        }
    }
}

#[tokio::test]
async fn a_backend_gets_its_bearer_token_and_header_and_never_the_clients_token() {
    let fx = guarded(FixtureAuth::Header("authorization".into(), format!("Bearer {BEARER}"))).await;
    let mut gw = Served::start_logged(&[]).await;
    // The token from the environment, so it is not on a command line.
    let header = format!("X-Api-Key={API_KEY}");
    let args = [
        "backend",
        "add",
        "--name",
        "guarded",
        "--url",
        &fx.url(),
        "--header",
        &header,
    ];
    add(&gw, &args, &[("MCPGW_BACKEND_BEARER_TOKEN", BEARER)]).await;

    let client_token = echo_through(&gw, "guarded", "hello").await;
    let seen = fx.seen_headers();
    assert!(seen.contains(&format!("authorization: Bearer {BEARER}")), "{seen:?}");
    assert!(seen.contains(&format!("x-api-key: {API_KEY}")), "{seen:?}");
    assert!(
        !seen.iter().any(|h| h.contains(&client_token)),
        "the client's token reached the backend: {seen:?}"
    );

    let got = clients::backend(&gw.admin, "guarded").await;
    let info = got.credentials.expect("credentials info");
    assert_eq!(
        (info.auth_scheme.as_str(), info.header_names),
        ("bearer", vec!["X-Api-Key".to_owned()])
    );
    let listing = gw.cli(&["backend", "list"], &[]).await;
    assert!(listing.stdout.contains("bearer, 1 header(s)"), "{}", listing.stdout);
    assert_nowhere(&mut gw, &[BEARER, API_KEY]).await;
}

#[tokio::test]
async fn a_backend_behind_basic_auth_is_registered_and_called() {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("svc:{PASSWORD}"));
    let fx = guarded(FixtureAuth::Header("authorization".into(), format!("Basic {basic}"))).await;
    let mut gw = Served::start_logged(&[]).await;

    // Without the credential the backend refuses discovery, and nothing is registered.
    let refused = gw
        .cli(&["backend", "add", "--name", "basic", "--url", &fx.url()], &[])
        .await;
    assert!(!refused.ok);
    assert!(
        refused.stderr.contains("HTTP 401") && refused.stderr.contains("credentials"),
        "{}",
        refused.stderr
    );
    let listing = gw.cli(&["backend", "list"], &[]).await;
    assert_eq!(listing.stdout.lines().count(), 1, "only the header: {}", listing.stdout);

    let pair = format!("svc:{PASSWORD}");
    add(
        &gw,
        &["backend", "add", "--name", "basic", "--url", &fx.url()],
        &[("MCPGW_BACKEND_BASIC_AUTH", &pair)],
    )
    .await;
    echo_through(&gw, "basic", "over basic").await;
    assert!(fx.seen_headers().contains(&format!("authorization: Basic {basic}")));
    assert_nowhere(&mut gw, &[PASSWORD, &basic]).await;
}

/// OAuth client credentials: the gateway fetches a token, calls with it,
/// and once the token endpoint's clock has expired it, calls with a new one.
#[tokio::test]
async fn an_oauth_backend_gets_a_new_token_after_the_first_expires() {
    let fx = guarded(FixtureAuth::OAuth {
        client_id: "mcpgw".into(),
        client_secret: CLIENT_SECRET.into(),
        lifetime: std::time::Duration::from_secs(2),
    })
    .await;
    let mut gw = Served::start_logged(&[]).await;
    let token_url = fx.token_url();
    let args = [
        "backend",
        "add",
        "--name",
        "oauth",
        "--url",
        &fx.url(),
        "--oauth-token-url",
        &token_url,
        "--oauth-client-id",
        "mcpgw",
    ];
    add(&gw, &args, &[("MCPGW_BACKEND_OAUTH_CLIENT_SECRET", CLIENT_SECRET)]).await;
    echo_through(&gw, "oauth", "first").await;
    let issued = fx.issued_tokens();
    let first = issued.last().expect("a token was fetched").clone();
    // The fixture refuses `first` from its expiry on: waiting for that
    // moment is the point of the test, not a guess at another process.
    tokio::time::sleep_until(first.expires.into()).await;
    echo_through(&gw, "oauth", "second").await;
    let issued = fx.issued_tokens();
    let last = issued.last().unwrap();
    assert_ne!(last.token, first.token, "a new token after the first expired");
    let bearer = format!("authorization: Bearer {}", last.token);
    assert!(fx.seen_headers().contains(&bearer), "the call carried the new token");
    assert_nowhere(&mut gw, &[CLIENT_SECRET, &first.token, &last.token]).await;
}
