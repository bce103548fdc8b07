//! Backends over TLS: an `https://` MCP server whose certificate a CA made
//! in the test signed. The gateway trusts it through `SSL_CERT_FILE`, as
//! OpenSSL-based tools do, and is listed and called through it with rmcp;
//! without that CA, registering the backend fails with a clear error and
//! registers nothing. The gateway's own listeners terminate TLS, and split
//! planes talk over it.

use mcpgw_tests::{
    clients::{self, first_text, tool_call},
    fixture::{Fixture, FixtureConfig},
    harness::{Proc, Served, SqliteDb, eventually, mcpgw_cli, nodes_at},
    tls::TestCa,
};
use serde_json::json;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

async fn tls_fixture(ca: &TestCa) -> Fixture {
    Fixture::start(FixtureConfig {
        tls: Some(ca.server_config(&["localhost", "127.0.0.1"])),
        ..FixtureConfig::default()
    })
    .await
}

#[tokio::test]
async fn an_https_backend_trusted_through_ssl_cert_file_is_listed_and_called() {
    let ca = TestCa::new();
    let fx = tls_fixture(&ca).await;
    assert!(fx.url().starts_with("https://127.0.0.1:"), "{}", fx.url());
    let ca_file = ca.pem_file.to_str().expect("a UTF-8 path");
    // Pooled HTTP/1.1 by default; HTTP/2 by ALPN when allowed.
    for http2 in ["false", "true"] {
        let env = [("SSL_CERT_FILE", ca_file), ("MCPGW_UPSTREAM_HTTP2", http2)];
        let gw = Served::start(&env).await.with_backends(&[("secure", fx.url())]).await;
        let token = clients::token("pat");
        let names = clients::tool_names(&gw.proc.url("/mcp"), &token).await;
        assert!(names.iter().any(|n| n == "secure-echo"), "{names:?}");
        let client = clients::mcp(&gw.proc.url("/mcp"), Some(&token)).await;
        for text in ["over", "tls"] {
            let echoed = client
                .call_tool(tool_call("secure-echo", json!({"text": text})))
                .await
                .unwrap();
            assert_eq!(first_text(&echoed), text, "http2 {http2}");
        }
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn an_https_backend_signed_by_an_unknown_ca_is_refused_clearly() {
    let ca = TestCa::new();
    let fx = tls_fixture(&ca).await;
    let gw = Served::start(&[]).await;
    let req = mcpgw_proto::v1::CreateBackendRequest {
        name: "secure".into(),
        url: fx.url(),
        transport: 0,
        ..Default::default()
    };
    let refused = gw
        .admin
        .clone()
        .create_backend(req)
        .await
        .expect_err("an untrusted backend");
    let said = refused.message().to_lowercase();
    assert!(said.contains("certificate"), "the error names the certificate: {said}");
    let listed = clients::backends(&gw.admin).await;
    assert!(listed.is_empty(), "nothing registered: {listed:?}");
}

/// Split planes with both listeners terminating TLS: the data plane gets
/// its config from `https://` (trusting the CA through `SSL_CERT_FILE`),
/// the admin API is reached over TLS, and an MCP client calls a tool over
/// `https://` on the data plane.
#[tokio::test]
async fn split_planes_serve_and_talk_over_tls() {
    let ca = TestCa::new();
    let (cert, key) = ca.issue_files(&["localhost", "127.0.0.1"]);
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let ca_file = ca.pem_file.to_str().unwrap();
    let fx = Fixture::start(FixtureConfig::default()).await;
    let db = SqliteDb::new();
    let tls = [("MCPGW_TLS_CERT", cert), ("MCPGW_TLS_KEY", key)];
    let cp = Proc::start(
        &["control-plane", "--port", "0"],
        &[tls[0], tls[1], ("DATABASE_URL", db.url.as_str())],
    )
    .await;
    let control_plane = format!("https://127.0.0.1:{}", cp.addr.port());
    let mut dp = Proc::start(
        &["data-plane", "--port", "0", "--control-plane", &control_plane],
        &[tls[0], tls[1], ("SSL_CERT_FILE", ca_file)],
    )
    .await;
    // Ready means the first config arrived over the TLS config stream.
    dp.wait_for_line("ready").await;

    register_and_call_over_tls(cp.addr, dp.addr, &ca, &fx).await;
}

/// Registers `fx` through the admin API at `https://admin`, and calls one of
/// its tools through the MCP endpoint at `https://mcp`, which plain HTTP
/// does not reach.
async fn register_and_call_over_tls(admin: std::net::SocketAddr, mcp: std::net::SocketAddr, ca: &TestCa, fx: &Fixture) {
    let admin = clients::admin_tls(admin, &ca.pem()).await;
    let version = clients::register(&admin, "fx", fx.url()).await;
    nodes_at(&admin, &[], version).await;

    let http = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap()])
        .build()
        .unwrap();
    let url = format!("https://127.0.0.1:{}/mcp", mcp.port());
    let client = clients::mcp_over(http, &url, Some(&clients::token("pat"))).await;
    let echoed = client
        .call_tool(tool_call("fx-echo", json!({"text": "sealed"})))
        .await
        .unwrap();
    assert_eq!(first_text(&echoed), "sealed");
    client.cancel().await.unwrap();

    let plain = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{}/mcp", mcp.port()))
        .body("{}")
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP on a TLS listener: {plain:?}");
}

/// `mcpgw serve` terminating TLS: its own data plane still gets config, and
/// the admin API and MCP are served over `https://` on its one port.
#[tokio::test]
async fn serve_terminates_tls_on_its_one_port() {
    let ca = TestCa::new();
    let (cert, key) = ca.issue_files(&["localhost", "127.0.0.1"]);
    let fx = Fixture::start(FixtureConfig::default()).await;
    let db = SqliteDb::new();
    let mut gw = Proc::start(
        &["serve", "--port", "0"],
        &[
            ("MCPGW_TLS_CERT", cert.to_str().unwrap()),
            ("MCPGW_TLS_KEY", key.to_str().unwrap()),
            ("DATABASE_URL", db.url.as_str()),
        ],
    )
    .await;
    gw.wait_for_line("ready").await;
    register_and_call_over_tls(gw.addr, gw.addr, &ca, &fx).await;
}

/// A certificate or key that cannot be used stops the listener from
/// starting, with an error that names the file.
#[tokio::test]
async fn an_unusable_certificate_or_key_is_refused_at_start() {
    let ca = TestCa::new();
    let (cert, _key) = ca.issue_files(&["localhost"]);
    let (_, other_key) = ca.issue_files(&["localhost"]);
    let (cert, other_key) = (cert.to_str().unwrap(), other_key.to_str().unwrap());
    let missing = "/nonexistent/mcpgw-cert.pem";
    for (cert, key, names) in [(missing, other_key, missing), (cert, other_key, "does not fit")] {
        let out = mcpgw_cli(
            &["data-plane", "--port", "0", "--tls-cert", cert, "--tls-key", key],
            &[],
        )
        .await;
        assert!(!out.ok, "refused");
        assert!(out.stderr.contains(names), "{}", out.stderr);
    }
}

/// The admin API over TLS with `identity` as the client's certificate:
/// whether a call went through.
async fn admin_call(addr: std::net::SocketAddr, ca: &TestCa, identity: Option<Identity>) -> Result<(), String> {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca.pem()));
    if let Some(identity) = identity {
        tls = tls.identity(identity);
    }
    let channel = Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut admin = mcpgw_proto::v1::registry_service_client::RegistryServiceClient::with_interceptor(
        channel,
        clients::basic as clients::Basic,
    );
    admin
        .list_backends(mcpgw_proto::v1::ListBackendsRequest::default())
        .await
        .map(drop)
        .map_err(|e| format!("call: {e}"))
}

fn identity(ca: &TestCa, name: &str) -> (Identity, std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = ca.issue_files(&[name]);
    let id = Identity::from_pem(std::fs::read(&cert).unwrap(), std::fs::read(&key).unwrap());
    (id, cert, key)
}

/// With `MCPGW_TLS_CLIENT_CA` the control plane takes only clients whose
/// certificate that CA signed: a data plane with one gets its config; a
/// client with none, or with one another CA signed, is refused.
#[tokio::test]
async fn a_control_plane_asking_for_client_certificates_takes_only_signed_nodes() {
    let ca = TestCa::new();
    let (cert, key) = ca.issue_files(&["localhost", "127.0.0.1"]);
    let db = SqliteDb::new();
    let (cert, key, ca_file) = (
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
        ca.pem_file.to_str().unwrap(),
    );
    let cp = Proc::start(
        &["control-plane", "--port", "0"],
        &[
            ("MCPGW_TLS_CERT", cert),
            ("MCPGW_TLS_KEY", key),
            ("MCPGW_TLS_CLIENT_CA", ca_file),
            ("DATABASE_URL", db.url.as_str()),
        ],
    )
    .await;

    let (node, node_cert, node_key) = identity(&ca, "dp-a");
    let stranger_ca = TestCa::new();
    let (stranger, _, _) = identity(&stranger_ca, "dp-b");
    // Refused by the handshake, before the API sees (and checks) the call.
    for (client, why) in [
        (None, "no client certificate"),
        (Some(stranger), "another CA's certificate"),
    ] {
        let refused = admin_call(cp.addr, &ca, client).await.expect_err(why);
        assert!(
            !refused.contains("credentials"),
            "{why}: refused by TLS, not by the API: {refused}"
        );
    }
    admin_call(cp.addr, &ca, Some(node))
        .await
        .expect("a certificate the CA signed");

    let control_plane = format!("https://127.0.0.1:{}", cp.addr.port());
    let mut dp = Proc::start(
        &["data-plane", "--port", "0", "--control-plane", &control_plane],
        &[
            ("SSL_CERT_FILE", ca_file),
            ("MCPGW_CONTROL_PLANE_CERT", node_cert.to_str().unwrap()),
            ("MCPGW_CONTROL_PLANE_KEY", node_key.to_str().unwrap()),
        ],
    )
    .await;
    // Ready means the first config arrived over the mutual-TLS stream.
    dp.wait_for_line("ready").await;
}

/// The certificate the listener at `addr` presents, checked against `ca`.
async fn served_certificate(addr: std::net::SocketAddr, ca: &TestCa) -> Vec<u8> {
    use tokio_rustls::rustls::{self, pki_types::ServerName};
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("a handshake the CA vouches for");
    tls.get_ref().1.peer_certificates().expect("a certificate")[0].to_vec()
}

/// A renewed certificate written over the files (as cert-manager does) is
/// served without a restart.
#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_restart() {
    use tokio_rustls::rustls::pki_types::{CertificateDer, pem::PemObject};
    let ca = TestCa::new();
    let (cert, key) = ca.issue_files(&["localhost", "127.0.0.1"]);
    let der = |p: &std::path::Path| CertificateDer::from_pem_file(p).unwrap().to_vec();
    let dp = Proc::start(
        &["data-plane", "--port", "0", "--control-plane", "http://127.0.0.1:9"],
        &[
            ("MCPGW_TLS_CERT", cert.to_str().unwrap()),
            ("MCPGW_TLS_KEY", key.to_str().unwrap()),
            ("MCPGW_TLS_RELOAD_SECS", "1"),
        ],
    )
    .await;
    assert_eq!(served_certificate(dp.addr, &ca).await, der(&cert));

    let (renewed, renewed_key) = ca.issue_files(&["localhost", "127.0.0.1"]);
    let expected = der(&renewed);
    std::fs::rename(&renewed_key, &key).unwrap();
    std::fs::rename(&renewed, &cert).unwrap();
    let addr = dp.addr;
    let ca = std::sync::Arc::new(ca);
    eventually("the renewed certificate to be served", move || {
        let (ca, expected) = (ca.clone(), expected.clone());
        async move { (served_certificate(addr, &ca).await == expected).then_some(()) }
    })
    .await;
}
