//! Running a data plane (the `mcpgw-data-plane` binary and `mcpgw data-plane`).

use std::{
    io::Write,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use anyhow::Context;

use crate::{Gateway, Limits, auth::AuthArgs, node, transport};

/// Settings of a data-plane node.
#[derive(Clone, Debug, clap::Args)]
pub struct DataPlaneArgs {
    /// Address to serve MCP on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to serve MCP on (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 4444)]
    pub port: u16,
    /// The control plane's gRPC URL, or its replicas' (comma-separated),
    /// tried in turn.
    #[arg(long, env = "MCPGW_CONTROL_PLANE", default_value = "http://127.0.0.1:4445")]
    pub control_plane: String,
    #[command(flatten)]
    pub node: NodeArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    /// This node's PEM certificate (and key) toward a control plane that
    /// asks for client certificates (`MCPGW_TLS_CLIENT_CA` there).
    #[arg(long, env = "MCPGW_CONTROL_PLANE_CERT", requires = "control_plane_key")]
    pub control_plane_cert: Option<std::path::PathBuf>,
    #[arg(long, env = "MCPGW_CONTROL_PLANE_KEY", requires = "control_plane_cert")]
    pub control_plane_key: Option<std::path::PathBuf>,
    /// Where the last applied config is kept, so the node starts serving it
    /// while no control plane answers.
    #[arg(long, env = "MCPGW_SNAPSHOT_DIR")]
    pub snapshot_dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub tls: crate::listen::TlsArgs,
    #[command(flatten)]
    pub root: crate::listen::RootArgs,
}

impl DataPlaneArgs {
    /// The control plane to take config from; an error naming a
    /// certificate or key file that cannot be read.
    fn control_plane_link(&self) -> anyhow::Result<node::config_stream::ControlPlane> {
        let read = |what: &str, p: &std::path::Path| {
            std::fs::read(p).with_context(|| format!("{what} {}: cannot be read", p.display()))
        };
        let identity = match (&self.control_plane_cert, &self.control_plane_key) {
            (Some(cert), Some(key)) => Some(tonic::transport::Identity::from_pem(
                read("MCPGW_CONTROL_PLANE_CERT", cert)?,
                read("MCPGW_CONTROL_PLANE_KEY", key)?,
            )),
            _ => None,
        };
        Ok(node::config_stream::ControlPlane {
            urls: node::config_stream::ControlPlane::replicas(&self.control_plane)?,
            identity,
        })
    }
}

/// Settings of the data-plane part of any process that serves MCP.
#[derive(Clone, Debug, clap::Args)]
pub struct NodeArgs {
    /// This node's id as reported to the control plane (default: random).
    #[arg(long, env = "MCPGW_NODE_ID")]
    pub node_id: Option<String>,
    /// How long a client session lasts.
    #[arg(long, env = "MCPGW_SESSION_TTL_SECS", default_value_t = 86_400)]
    pub session_ttl_secs: u64,
    /// How long to wait for a backend to connect and start answering.
    #[arg(long, env = "MCPGW_UPSTREAM_TIMEOUT_SECS", default_value_t = 60)]
    pub upstream_timeout_secs: u64,
    /// Largest accepted request body.
    #[arg(long, env = "MCPGW_MAX_BODY_BYTES", default_value_t = 4 << 20)]
    pub max_body_bytes: usize,
    /// Browser origins allowed to call MCP endpoints besides loopback ones,
    /// comma-separated (`*` allows any).
    #[arg(long, env = "ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Calls in flight to one backend from this node; more are refused at
    /// once (-32010) so a slow backend cannot take the node down with it.
    #[arg(long, env = "MCPGW_BACKEND_MAX_IN_FLIGHT", default_value_t = 256)]
    pub backend_max_in_flight: usize,
    /// Tools per `tools/list` page (clients follow nextCursor); 0 lists all at once.
    #[arg(long, env = "MCPGW_LIST_PAGE_SIZE", default_value_t = 0)]
    pub list_page_size: usize,
    /// How long (ms) a call whose client lost its stream keeps running for
    /// the client to resume it (`Last-Event-ID`) before it is cancelled,
    /// and how long an answered stream stays resumable.
    #[arg(long, env = "MCPGW_RESUME_WINDOW_MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(10..))]
    pub resume_window_ms: u64,
    /// How long (s) a client session's own backend sessions (opened for
    /// clients that declared sampling, elicitation or roots) stay open with
    /// no call through them before they are ended.
    #[arg(long, env = "MCPGW_CLIENT_UPSTREAM_IDLE_SECS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub client_upstream_idle_secs: u64,
    /// Most backend sessions of clients' own one node holds; past that the
    /// one idle longest is ended to make room, and with none idle the call
    /// is refused (-32010).
    #[arg(long, env = "MCPGW_CLIENT_UPSTREAM_MAX", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub client_upstream_max: u64,
    /// Seconds between keep-alive comments on event streams that are quiet
    /// (standalone streams, legacy SSE, calls waiting on a backend), so
    /// proxies and load balancers do not cut them.
    #[arg(long, env = "MCPGW_SSE_KEEPALIVE_SECS", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub sse_keepalive_secs: u64,
    /// Let calls to https:// backends use HTTP/2 where the backend offers
    /// it (ALPN); by default they use pooled HTTP/1.1 connections, which
    /// cost the gateway less CPU per call.
    #[arg(long, env = "MCPGW_UPSTREAM_HTTP2", default_value_t = false, action = clap::ArgAction::Set)]
    pub upstream_http2: bool,
    /// Consecutive failures (unreachable, 5xx, no answer in time) that take
    /// one endpoint of a backend with several out of rotation.
    #[arg(long, env = "MCPGW_BREAKER_FAILURES", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub breaker_failures: u32,
    /// Milliseconds before an endpoint out of rotation is probed; doubled
    /// after each failed probe, up to 30 s.
    #[arg(long, env = "MCPGW_BREAKER_COOLDOWN_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub breaker_cooldown_ms: u64,
    /// How long (s) a call of a 2026-07-28 client that its backend (of an
    /// earlier era) asked something is held for the client's retry with
    /// inputResponses; past it the call is cancelled at the backend.
    #[arg(long, env = "MCPGW_INPUT_TTL_SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub input_ttl_secs: u64,
    /// Most such calls one node holds at once; past that a call whose
    /// backend asks something fails (-32010) instead of growing memory.
    #[arg(long, env = "MCPGW_INPUT_MAX", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub input_max: u64,
    /// How long (ms) the gateway waits, after such a backend asked
    /// something, for more requests to ask in the same round (a backend
    /// asking several things at once sends them within moments).
    #[arg(long, env = "MCPGW_INPUT_GATHER_MS", default_value_t = 50)]
    pub input_gather_ms: u64,
    /// How long (ms) a tool call of a 2026-07-28 client that declares the
    /// Tasks extension runs on a backend of an earlier era (which runs no
    /// tasks) before the client gets a task the gateway holds instead of
    /// waiting; what ends sooner is answered as it is.
    #[arg(long, env = "MCPGW_TASK_AFTER_MS", default_value_t = 500)]
    pub task_after_ms: u64,
    /// How long (s) such a task stays readable with tasks/get.
    #[arg(long, env = "MCPGW_TASK_TTL_SECS", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub task_ttl_secs: u64,
    /// Most such tasks one node holds; past it a call is answered when it
    /// ends, as without the extension.
    #[arg(long, env = "MCPGW_TASK_MAX", default_value_t = 10_000)]
    pub task_max: u64,
    /// How long (s) a node told to stop (SIGTERM) lets the calls in flight
    /// finish before it exits; its long-lived streams end at once. Below
    /// the pod's termination grace period (30 s by default).
    #[arg(long, env = "MCPGW_DRAIN_TIMEOUT_SECS", default_value_t = 25)]
    pub drain_timeout_secs: u64,
    #[command(flatten)]
    pub fleet: crate::fleet::FleetArgs,
    #[command(flatten)]
    pub cache: crate::cache::CacheArgs,
}

impl NodeArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            session_ttl: Duration::from_secs(self.session_ttl_secs),
            upstream_timeout: Duration::from_secs(self.upstream_timeout_secs),
            max_body_bytes: self.max_body_bytes,
            allowed_origins: self.allowed_origins.clone(),
            backend_max_in_flight: self.backend_max_in_flight,
            list_page_size: self.list_page_size,
            resume_window: Duration::from_millis(self.resume_window_ms),
            client_upstream_idle: Duration::from_secs(self.client_upstream_idle_secs),
            client_upstream_max: self.client_upstream_max as usize,
            sse_keepalive: Duration::from_secs(self.sse_keepalive_secs),
            upstream_http2: self.upstream_http2,
            input_ttl: Duration::from_secs(self.input_ttl_secs),
            input_max: self.input_max as usize,
            input_gather: Duration::from_millis(self.input_gather_ms),
            task_after: Duration::from_millis(self.task_after_ms),
            task_ttl: Duration::from_secs(self.task_ttl_secs),
            task_max: self.task_max as usize,
            drain: Duration::from_secs(self.drain_timeout_secs),
            allow_stdio_backends: false,
            breaker: crate::upstream::BreakerPolicy {
                failures: self.breaker_failures,
                cooldown: Duration::from_millis(self.breaker_cooldown_ms),
                max_cooldown: Duration::from_millis(self.breaker_cooldown_ms).max(Duration::from_secs(30)),
            },
        }
    }

    /// The gateway of this node: its fleet joined (see [`crate::fleet`])
    /// and its response cache connected (see [`crate::cache`]).
    pub async fn gateway(&self, auth: &crate::auth::AuthArgs, limits: Limits) -> anyhow::Result<Arc<Gateway>> {
        let fleet = crate::fleet::Fleet::join(&self.fleet).await?;
        let redis = self
            .fleet
            .redis_url
            .as_deref()
            .map(|u| (u, self.fleet.redis_prefix.as_str()));
        let cache = crate::cache::ResponseCache::connect(&self.cache, redis).await?;
        Ok(Gateway::new(auth, limits, fleet, cache))
    }

    pub fn node_id(&self) -> String {
        self.node_id
            .clone()
            .unwrap_or_else(|| format!("dp-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]))
    }
}

/// Refuses a non-loopback address while any secret is at its published
/// default: such a server would accept tokens anyone can mint.
pub fn check_bind(addr: SocketAddr, defaults: &[&str]) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() && !defaults.is_empty() {
        anyhow::bail!(
            "refusing to listen on {addr}: {} still at the default value; set them to secrets of your own, or listen on 127.0.0.1",
            defaults.join(", ")
        );
    }
    Ok(())
}

/// Says where a server listens, on stdout, for people and for tests.
pub fn announce(role: &str, addr: SocketAddr) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "mcpgw {role} listening on {addr}");
    let _ = out.flush();
}

/// Says on stdout when the first config has been applied, i.e. when the node
/// serves what the registry holds.
pub fn announce_ready(role: &'static str, gw: &Arc<Gateway>) {
    let gw = Arc::clone(gw);
    let mut applied = gw.applied();
    tokio::spawn(async move {
        loop {
            let snap = gw.snapshot.load();
            if snap.applied {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "mcpgw {role} ready: config version {}", snap.version);
                let _ = out.flush();
                return;
            }
            drop(snap);
            if applied.changed().await.is_err() {
                return;
            }
        }
    });
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

/// Serves MCP, kept current by the control plane, until shut down.
pub async fn run(args: DataPlaneArgs) -> anyhow::Result<()> {
    let addr = SocketAddr::new(args.host, args.port);
    check_bind(addr, &args.auth.default_secrets())?;
    let tls = args.tls.server_config()?;
    let control_plane = args.control_plane_link()?;
    let mut limits = args.node.limits();
    limits.allow_stdio_backends = args.auth.allow_stdio_backends.unwrap_or(false);
    let gw = args.node.gateway(&args.auth, limits).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let root = args.root.root()?;
    let transport = transport::Transport::new(gw.clone()).with_root(&root);
    node::run(&transport);
    let saved = args.snapshot_dir.as_ref().map(node::saved::Saved::new);
    if let Some(saved) = &saved {
        saved.restore(&gw);
    }
    tokio::spawn(node::config_stream::run(
        Arc::clone(&gw),
        control_plane,
        args.node.node_id(),
        saved,
    ));
    announce("data-plane", local);
    announce_ready("data-plane", &gw);
    serve(
        listener,
        tls,
        crate::listen::rooted(transport::router(transport), &root),
        Some(gw),
    )
    .await
}

/// Serves `app` until Ctrl-C/SIGTERM, then stops taking connections and
/// gives open requests time to finish: a data plane's `gw` its drain
/// timeout, after ending its long-lived streams at once (their clients
/// reconnect, to another node); a control plane a few seconds.
///
/// Accepted connections get TCP_NODELAY: MCP messages are small and
/// latency-bound, and streamed events must not wait out Nagle's algorithm
/// against the client's delayed ACK (a 40 ms stall per event).
///
/// With `tls`, connections are TLS ([`crate::listen`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    app: axum::Router,
    gw: Option<Arc<Gateway>>,
) -> anyhow::Result<()> {
    use axum::serve::ListenerExt;
    let within = gw.as_ref().map_or(Duration::from_secs(5), |gw| gw.limits.drain);
    let (stop, stopping) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!(within_secs = within.as_secs(), "stopping: draining open requests");
        if let Some(gw) = gw {
            gw.drain();
        }
        stop.send_replace(true);
    });
    let stopped = move || {
        let mut stopping = stopping.clone();
        async move {
            let _ = stopping.wait_for(|s| *s).await;
        }
    };
    match tls {
        Some(config) => serve_on(crate::listen::TlsListener::new(listener, config)?, app, stopped, within).await,
        None => {
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            serve_on(listener, app, stopped, within).await
        }
    }
}

async fn serve_on<L, S, F>(listener: L, app: axum::Router, stopped: S, within: Duration) -> anyhow::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
    S: Fn() -> F,
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let server = axum::serve(listener, app).with_graceful_shutdown(stopped());
    let deadline = stopped();
    tokio::select! {
        r = server => r?,
        () = async { deadline.await; tokio::time::sleep(within).await } => {
            tracing::warn!(within_secs = within.as_secs(), "stopped with requests still open");
        }
    }
    Ok(())
}
