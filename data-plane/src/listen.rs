//! The gateway's own listeners, plain or terminating TLS. Given a
//! certificate chain and key (`MCPGW_TLS_CERT`, `MCPGW_TLS_KEY`, PEM files)
//! a listener speaks TLS (rustls; HTTP/2 and HTTP/1.1 by ALPN), for
//! deployments with no ingress in front. Plain stays the default.
//!
//! Handshakes run in tasks of their own, at most [`MAX_HANDSHAKES`] at once
//! and each within [`HANDSHAKE_TIMEOUT`], so a slow or silent client holds
//! up nobody else's connection.

use std::{
    io,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::Context;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{Semaphore, mpsc},
};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        RootCertStore, ServerConfig,
        crypto::CryptoProvider,
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
        server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier, danger::ClientCertVerifier},
        sign::CertifiedKey,
    },
    server::TlsStream,
};

/// TLS handshakes in progress at once on one listener.
pub const MAX_HANDSHAKES: usize = 1024;
/// The longest a handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The path prefix everything HTTP is served under (`APP_ROOT_PATH`), for
/// a gateway behind a proxy that forwards one path of its site.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct RootArgs {
    /// Serve MCP, the REST admin API and `/health` under this path (e.g.
    /// `/gateway`); empty: at the root. gRPC stays at the root.
    #[arg(long, env = "APP_ROOT_PATH", default_value = "")]
    pub app_root_path: String,
}

impl RootArgs {
    /// The prefix, `""` or `/a/b` (no trailing slash); an error for one
    /// that is not a path.
    pub fn root(&self) -> anyhow::Result<String> {
        let root = self.app_root_path.trim_end_matches('/');
        if root.is_empty() {
            return Ok(String::new());
        }
        let ok = root.starts_with('/')
            && root
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.' | '~'))
            && !root.contains("//");
        anyhow::ensure!(
            ok,
            "APP_ROOT_PATH {:?} must be a path such as /gateway (letters, digits, - _ . ~)",
            self.app_root_path
        );
        Ok(root.to_owned())
    }
}

/// `app` served under `root` (see [`RootArgs`]).
pub fn rooted(app: axum::Router, root: &str) -> axum::Router {
    if root.is_empty() {
        app
    } else {
        axum::Router::new().nest(root, app)
    }
}

/// Where a listener's certificate comes from; both or neither.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct TlsArgs {
    /// PEM certificate chain to serve TLS with (the listener's own first).
    #[arg(long, env = "MCPGW_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of that certificate.
    #[arg(long, env = "MCPGW_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificates: every client must then present a certificate
    /// one of them signed (mutual TLS), or the handshake fails.
    #[arg(long, env = "MCPGW_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// How often the certificate and key files are checked for a change.
    #[arg(long, env = "MCPGW_TLS_RELOAD_SECS", default_value_t = 10)]
    pub tls_reload_secs: u64,
}

impl TlsArgs {
    /// The TLS config to serve with, or `None` for plain; an error that
    /// names the file for a certificate or key that cannot be used.
    pub fn server_config(&self) -> anyhow::Result<Option<Arc<ServerConfig>>> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let files = CertFiles {
            cert: cert.clone(),
            key: key.clone(),
        };
        let resolver = Arc::new(Reloading {
            current: arc_swap::ArcSwap::new(files.load(&provider)?),
        });
        tokio::spawn(reload(files, provider.clone(), resolver.clone(), self.tls_reload()));
        let builder = ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
        let builder = match &self.tls_client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => builder.with_client_cert_verifier(client_verifier(ca, provider)?),
        };
        let mut config = builder.with_cert_resolver(resolver);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Some(Arc::new(config)))
    }

    fn tls_reload(&self) -> Duration {
        Duration::from_secs(self.tls_reload_secs.max(1))
    }
}

/// The files a listener's certificate and key are read from.
struct CertFiles {
    cert: PathBuf,
    key: PathBuf,
}

impl CertFiles {
    /// The certificate chain and its key; an error naming the file that
    /// cannot be used.
    fn load(&self, provider: &CryptoProvider) -> anyhow::Result<Arc<CertifiedKey>> {
        let (cert, key) = (&self.cert, &self.key);
        let certs = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .with_context(|| {
                format!(
                    "MCPGW_TLS_CERT {}: not a readable PEM certificate chain",
                    cert.display()
                )
            })?;
        anyhow::ensure!(
            !certs.is_empty(),
            "MCPGW_TLS_CERT {}: holds no certificate",
            cert.display()
        );
        let private = PrivateKeyDer::from_pem_file(key)
            .with_context(|| format!("MCPGW_TLS_KEY {}: not a readable PEM private key", key.display()))?;
        let certified = CertifiedKey::from_der(certs, private, provider).with_context(|| {
            format!(
                "MCPGW_TLS_KEY {} does not fit MCPGW_TLS_CERT {}",
                key.display(),
                cert.display()
            )
        })?;
        Ok(Arc::new(certified))
    }

    /// What changes when either file is replaced or rewritten.
    fn stamp(&self) -> Option<[(std::time::SystemTime, u64); 2]> {
        let of = |p: &PathBuf| {
            std::fs::metadata(p)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        };
        Some([of(&self.cert)?, of(&self.key)?])
    }
}

/// The certificate a listener serves now.
#[derive(Debug)]
struct Reloading {
    current: arc_swap::ArcSwap<CertifiedKey>,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// Reads the certificate and key again whenever their files change (a
/// renewed certificate is served without a restart). A pair that cannot
/// be used, as while a renewal is half written, is logged and the old one
/// kept until the next change.
async fn reload(files: CertFiles, provider: Arc<CryptoProvider>, resolver: Arc<Reloading>, every: Duration) {
    let mut seen = files.stamp();
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let now = files.stamp();
        if now == seen {
            continue;
        }
        match files.load(&provider) {
            Ok(certified) => {
                resolver.current.store(certified);
                seen = now;
                tracing::info!(cert = %files.cert.display(), "TLS certificate reloaded");
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "TLS certificate not reloaded; serving the previous one")
            }
        }
    }
}

/// Checks client certificates against the CA certificates in `ca`.
fn client_verifier(ca: &Path, provider: Arc<CryptoProvider>) -> anyhow::Result<Arc<dyn ClientCertVerifier>> {
    let what = || format!("MCPGW_TLS_CLIENT_CA {}", ca.display());
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).with_context(|| format!("{}: cannot be read", what()))? {
        let cert = cert.with_context(|| format!("{}: not a PEM certificate", what()))?;
        roots
            .add(cert)
            .with_context(|| format!("{}: not a usable CA certificate", what()))?;
    }
    anyhow::ensure!(!roots.is_empty(), "{}: holds no certificate", what());
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .with_context(what)
        .map(|v| v as Arc<dyn ClientCertVerifier>)
}

/// A listener whose connections have finished their TLS handshake.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(config);
        let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        tokio::spawn(async move {
            while !tx.is_closed() {
                let (sock, peer) = match tcp.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: try again shortly.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // See `cli::serve`: small, latency-bound messages.
                let _ = sock.set_nodelay(true);
                let Ok(permit) = handshakes.clone().acquire_owned().await else {
                    return;
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(sock)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self { ready, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accepting task ended: nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}
