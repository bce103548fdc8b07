//! A backend's own TLS settings: a CA bundle trusted for it alone, a client
//! certificate for backends that require mTLS, and `insecure_skip_verify`
//! for development, which every node warns about. Settings that cannot work
//! are refused before anything is registered.

use mcpgw_tests::{
    clients::{self, first_text, tool_call},
    fixture::{Fixture, FixtureConfig},
    harness::{Served, config_version, nodes_at},
    tls::TestCa,
};
use serde_json::json;

async fn echo(gw: &Served, name: &str) {
    let client = clients::mcp(&gw.proc.url("/mcp"), Some(&clients::token("pat"))).await;
    let echoed = client
        .call_tool(tool_call(&format!("{name}-echo"), json!({"text": "over tls"})))
        .await
        .unwrap();
    assert_eq!(first_text(&echoed), "over tls");
    client.cancel().await.unwrap();
}

async fn backends(gw: &Served) -> usize {
    clients::backends(&gw.admin).await.len()
}

/// The backend's certificate is signed by a CA only this backend trusts,
/// and it takes only clients with a certificate that CA signed: the gateway
/// reaches it with both set, and with either missing is refused clearly.
#[tokio::test]
async fn a_backend_with_its_own_ca_that_requires_client_certificates_is_reached_with_both() {
    let ca = TestCa::new();
    let fx = Fixture::start(FixtureConfig {
        tls: Some(ca.server_config_requiring_clients(&["127.0.0.1"])),
        ..FixtureConfig::default()
    })
    .await;
    let (cert, key) = ca.issue_files(&["mcpgw-gateway"]);
    let (ca_file, cert, key) = (
        ca.pem_file.to_str().unwrap(),
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
    );
    // No SSL_CERT_FILE: the CA is trusted for this backend only.
    let gw = Served::start(&[]).await;
    let url = fx.url();
    let add = ["backend", "add", "--name", "mtls", "--url", url.as_str()];
    fn with<'a>(add: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        add.iter().chain(extra).copied().collect()
    }
    let cases: [(Vec<&str>, &str); 2] = [
        (with(&add, &["--ca-file", ca_file]), "certificate"),
        (with(&add, &["--client-cert", cert, "--client-key", key]), "certificate"),
    ];
    for (args, said) in &cases {
        let out = gw.cli(args, &[]).await;
        assert!(!out.ok, "{args:?} registered");
        assert!(out.stderr.to_lowercase().contains(said), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("nothing was registered"), "{}", out.stderr);
    }
    assert_eq!(backends(&gw).await, 0);

    let out = gw
        .cli(
            &with(
                &add,
                &["--ca-file", ca_file, "--client-cert", cert, "--client-key", key],
            ),
            &[],
        )
        .await;
    assert!(out.ok, "{}", out.stderr);
    nodes_at(&gw.admin, &[], config_version(&gw.admin).await).await;
    echo(&gw, "mtls").await;

    // Reads show the certificate and that a key is set, never the key.
    let got = clients::backend(&gw.admin, "mtls").await;
    let tls = got.tls.expect("TLS settings");
    assert_eq!(tls.ca_pem, ca.pem());
    assert!(tls.client_cert_pem.contains("BEGIN CERTIFICATE"));
    assert!(got.credentials.expect("credentials info").client_key_set);
    let key_pem = std::fs::read_to_string(key).unwrap();
    assert!(!format!("{:?}", tls).contains(key_pem.lines().nth(1).unwrap()));
}

#[tokio::test]
async fn insecure_skip_verify_reaches_an_untrusted_backend_and_every_apply_warns() {
    let ca = TestCa::new();
    let fx = Fixture::start(FixtureConfig {
        tls: Some(ca.server_config(&["127.0.0.1"])),
        ..FixtureConfig::default()
    })
    .await;
    let mut gw = Served::start_logged(&[]).await;
    let url = fx.url();
    let out = gw
        .cli(
            &[
                "backend",
                "add",
                "--name",
                "dev",
                "--url",
                &url,
                "--insecure-skip-verify",
            ],
            &[],
        )
        .await;
    assert!(out.ok, "{}", out.stderr);
    nodes_at(&gw.admin, &[], config_version(&gw.admin).await).await;
    echo(&gw, "dev").await;
    // The node that applied the config said so, not only the control plane.
    let warned = gw.proc.wait_for_line("config::snapshot").await;
    assert!(
        warned.contains("WARN") && warned.contains("insecure_skip_verify") && warned.contains("dev"),
        "{warned}"
    );
}

#[tokio::test]
async fn tls_settings_that_cannot_work_are_refused_and_nothing_is_registered() {
    let fx = Fixture::start(FixtureConfig::default()).await;
    let gw = Served::start(&[]).await;
    let not_pem = std::env::temp_dir().join(format!("mcpgw-not-pem-{}.pem", uuid::Uuid::new_v4().simple()));
    std::fs::write(&not_pem, "this is not a certificate").unwrap();
    let url = fx.url();
    let add = |extra: &[&str]| {
        let mut v = vec!["backend", "add", "--name", "bad", "--url", url.as_str()];
        v.extend_from_slice(extra);
        v.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let cases = [
        (
            add(&["--ca-file", "/nonexistent/ca.pem"]),
            "cannot read the CA file /nonexistent/ca.pem",
        ),
        (add(&["--ca-file", not_pem.to_str().unwrap()]), "CA bundle"),
        (add(&["--client-cert", not_pem.to_str().unwrap()]), "--client-key"),
    ];
    for (args, said) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = gw.cli(&args, &[]).await;
        assert!(!out.ok, "{args:?} registered");
        assert!(out.stderr.contains(said), "{args:?}: {}", out.stderr);
    }
    std::fs::remove_file(&not_pem).unwrap();
    assert_eq!(backends(&gw).await, 0);
}
