//! Backends over TLS: an `https://` MCP server whose certificate a CA made
//! in the test signed. The gateway trusts it through `SSL_CERT_FILE`, as
//! OpenSSL-based tools do, and is listed and called through it with rmcp;
//! without that CA, registering the backend fails with a clear error and
//! registers nothing.

use mcpgw_tests::{
    clients::{self, first_text, tool_call},
    fixture::{Fixture, FixtureConfig},
    harness::Served,
    tls::TestCa,
};
use serde_json::json;

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
    let gw = Served::start(&[("SSL_CERT_FILE", ca_file)])
        .await
        .with_backends(&[("secure", fx.url())])
        .await;
    let token = clients::token("pat");
    let names = clients::tool_names(&gw.proc.url("/mcp"), &token).await;
    assert!(names.iter().any(|n| n == "secure-echo"), "{names:?}");
    let client = clients::mcp(&gw.proc.url("/mcp"), Some(&token)).await;
    for text in ["over", "tls"] {
        let echoed = client
            .call_tool(tool_call("secure-echo", json!({"text": text})))
            .await
            .unwrap();
        assert_eq!(first_text(&echoed), text);
    }
    client.cancel().await.unwrap();
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
    };
    let refused = gw
        .admin
        .clone()
        .create_backend(req)
        .await
        .expect_err("an untrusted backend");
    let said = refused.message().to_lowercase();
    assert!(said.contains("certificate"), "the error names the certificate: {said}");
    let listed = gw
        .admin
        .clone()
        .list_backends(mcpgw_proto::v1::ListBackendsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.backends.is_empty(), "nothing registered: {listed:?}");
}
