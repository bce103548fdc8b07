//! Certificates made in the test: a CA of its own, and server certificates
//! it signs for backends served over TLS. Nothing here is trusted by the
//! machine; a process trusts the CA only when told (`SSL_CERT_FILE`).

use std::{path::PathBuf, sync::Arc};

use rcgen::{BasicConstraints, Certificate, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tokio_rustls::rustls::{
    self, ServerConfig,
    pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer},
};

pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// The CA certificate as a PEM file, removed with the CA.
    pub pem_file: PathBuf,
    issued: std::sync::atomic::AtomicUsize,
}

impl TestCa {
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "mcpgw test CA");
        let issuer =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA certificate");
        let pem_file = std::env::temp_dir().join(format!("mcpgw-test-ca-{}.pem", uuid::Uuid::new_v4().simple()));
        std::fs::write(&pem_file, issuer.pem()).expect("write the CA certificate");
        Self {
            issuer,
            pem_file,
            issued: Default::default(),
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses) that
    /// this CA signed, and its key.
    pub fn issue(&self, names: &[&str]) -> (Certificate, KeyPair) {
        let key = KeyPair::generate().expect("server key");
        let params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).expect("names");
        let cert = params.signed_by(&key, &self.issuer).expect("server certificate");
        (cert, key)
    }

    /// The CA certificate, DER.
    pub fn der(&self) -> &tokio_rustls::rustls::pki_types::CertificateDer<'static> {
        self.issuer.der()
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// [`TestCa::issue`] written to PEM files (certificate, key), removed
    /// with the CA.
    pub fn issue_files(&self, names: &[&str]) -> (PathBuf, PathBuf) {
        let (cert, key) = self.issue(names);
        let stem = self.pem_file.with_extension("");
        let n = self.issued.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (cert_file, key_file) = (
            PathBuf::from(format!("{}-{n}.crt", stem.display())),
            PathBuf::from(format!("{}-{n}.key", stem.display())),
        );
        std::fs::write(&cert_file, cert.pem()).expect("write a certificate");
        std::fs::write(&key_file, key.serialize_pem()).expect("write a key");
        (cert_file, key_file)
    }

    /// A TLS server config for `names` (see [`TestCa::issue`]), offering
    /// HTTP/2 and HTTP/1.1.
    pub fn server_config(&self, names: &[&str]) -> Arc<ServerConfig> {
        self.server_config_with(names, false)
    }

    /// [`TestCa::server_config`] that also requires a client certificate
    /// this CA signed (mTLS).
    pub fn server_config_requiring_clients(&self, names: &[&str]) -> Arc<ServerConfig> {
        self.server_config_with(names, true)
    }

    fn server_config_with(&self, names: &[&str], clients: bool) -> Arc<ServerConfig> {
        let (cert, key) = self.issue(names);
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("TLS versions");
        let builder = if clients {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(self.der().clone()).expect("the CA certificate");
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("a client verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let mut config = builder
            .with_single_cert(vec![cert.der().clone(), self.issuer.der().clone()], key)
            .expect("server certificate and key");
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.pem_file);
        let stem = self.pem_file.with_extension("");
        for n in 0..*self.issued.get_mut() {
            for ext in ["crt", "key"] {
                let _ = std::fs::remove_file(format!("{}-{n}.{ext}", stem.display()));
            }
        }
    }
}

/// Serves one accepted connection of a test server with `svc`, HTTP/1.1 or
/// HTTP/2, over TLS when `tls` is set (a client that fails the handshake
/// gets nothing).
pub async fn serve_connection<S, B>(sock: tokio::net::TcpStream, tls: Option<tokio_rustls::TlsAcceptor>, svc: S)
where
    S: hyper::service::Service<hyper::Request<hyper::body::Incoming>, Response = hyper::Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use hyper_util::{
        rt::{TokioExecutor, TokioIo},
        server::conn::auto,
    };
    let server = auto::Builder::new(TokioExecutor::new());
    match tls {
        Some(tls) => match tls.accept(sock).await {
            Ok(sock) => {
                let _ = server.serve_connection_with_upgrades(TokioIo::new(sock), svc).await;
            }
            Err(e) => tracing::debug!(error = %e, "a test server's TLS handshake failed"),
        },
        None => {
            let _ = server.serve_connection_with_upgrades(TokioIo::new(sock), svc).await;
        }
    }
}
