//! Assembling and running servers: the control plane alone, or `serve` (both
//! planes in one process on one port).

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{Router, extract::Request, http::header};
use mcpgw_data_plane::{
    auth::AuthArgs,
    cli::{NodeArgs, announce, announce_ready, check_bind, serve},
    listen::rooted,
    transport,
    upstream::{McpHttpClient, link::Connector},
};
use mcpgw_proto::v1::{
    FILE_DESCRIPTOR_SET, config_service_server::ConfigServiceServer, registry_service_server::RegistryServiceServer,
};
use tower::{ServiceExt, service_fn};

use crate::{
    admin::{auth::AdminAuth, grpc::RegistryApi},
    distribute::{ConfigServer, Distributor},
    registry::Registry,
};

/// Settings of the registry and admin API.
#[derive(Clone, Debug, clap::Args)]
pub struct RegistryArgs {
    /// `sqlite:PATH` (created if missing) or `postgres://USER@HOST/DB`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite:mcpgw.db")]
    pub database_url: String,
    /// Between backend slug and tool name in the tool names clients see. A
    /// fleet-wide setting kept in the registry (default `-`): given, it is
    /// stored; left out, the stored one stays, so a restart never renames tools.
    #[arg(long, env = "GATEWAY_TOOL_NAME_SEPARATOR")]
    pub tool_name_separator: Option<String>,
    /// Admin API username (HTTP Basic).
    #[arg(long, env = "BASIC_AUTH_USER", default_value = "admin")]
    pub basic_auth_user: String,
    /// Admin API password (HTTP Basic).
    #[arg(
        long,
        env = "BASIC_AUTH_PASSWORD",
        default_value = "changeme",
        hide_env_values = true
    )]
    pub basic_auth_password: String,
    /// How long registration may take to reach a backend and list its tools
    /// (default: FEDERATION_TIMEOUT, else 15).
    #[arg(long, env = "MCPGW_DISCOVERY_TIMEOUT_SECS")]
    pub discovery_timeout_secs: Option<u64>,
    /// Seconds between re-listings of every backend (what changed is
    /// published; an unchanged catalog writes nothing); 0 turns it off
    /// (default: FEDERATION_SYNC_INTERVAL, else 300).
    #[arg(long, env = "MCPGW_RELIST_INTERVAL_SECS")]
    pub relist_interval_secs: Option<u64>,
    /// Seconds between reads of the registry's version, which catch writes
    /// of other control-plane replicas this one was not told of (default:
    /// 10 on Postgres, where replicas hear each other's writes at once
    /// through LISTEN/NOTIFY and this is only a safety net; 1 on SQLite).
    #[arg(long, env = "MCPGW_REGISTRY_POLL_SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub registry_poll_secs: Option<u64>,
    /// Seconds between health checks of every backend (run by one replica
    /// of the control plane at a time); 0 turns them off (default:
    /// FEDERATION_SYNC_INTERVAL, else 60).
    #[arg(long, env = "HEALTH_CHECK_INTERVAL")]
    pub health_check_interval_secs: Option<u64>,
    /// Federation with peer gateways: when off, FEDERATION_PEERS are not
    /// registered (peers registered by hand still work).
    #[arg(long, env = "FEDERATION_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub federation_enabled: bool,
    /// Peer gateways registered at start (and retried until they are): a
    /// JSON list of URLs of their MCP endpoints, or of objects
    /// `{"name", "url", "token"}` (a bearer token for the peer).
    #[arg(long, env = "FEDERATION_PEERS", default_value = "[]")]
    pub federation_peers: String,
    /// Peer exchange: this gateway names its peers to the gateways that
    /// register it, and is offered its own peers' peers for registration
    /// (ListPeerOffers, GET /federation/peers, `mcpgw backend offers`).
    /// Off by default: a peer's URL is the operator's to share.
    #[arg(long, env = "FEDERATION_DISCOVERY", default_value_t = false, action = clap::ArgAction::Set)]
    pub federation_discovery: bool,
    /// Seconds between health checks and re-listings of every backend,
    /// peers included, unless HEALTH_CHECK_INTERVAL or
    /// MCPGW_RELIST_INTERVAL_SECS say otherwise.
    #[arg(long, env = "FEDERATION_SYNC_INTERVAL")]
    pub federation_sync_interval: Option<u64>,
    /// Seconds registering a backend (a peer) may take, unless
    /// MCPGW_DISCOVERY_TIMEOUT_SECS says otherwise.
    #[arg(long, env = "FEDERATION_TIMEOUT")]
    pub federation_timeout: Option<u64>,
    /// Seconds one endpoint's health probe may take.
    #[arg(long, env = "HEALTH_CHECK_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub health_check_timeout_secs: u64,
    /// Checks in a row with no endpoint answering before a backend is shown
    /// unhealthy.
    #[arg(long, env = "UNHEALTHY_THRESHOLD", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub unhealthy_threshold: u32,
    #[command(flatten)]
    pub auth: AuthArgs,
}

impl RegistryArgs {
    fn default_secrets(&self) -> Vec<&'static str> {
        let mut v = self.auth.default_secrets();
        if self.basic_auth_password == "changeme" {
            v.push("BASIC_AUTH_PASSWORD");
        }
        v
    }
}

#[derive(Clone, Debug, clap::Args)]
pub struct ControlPlaneArgs {
    /// Address to serve the gRPC admin and config APIs on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Port (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 4445)]
    pub port: u16,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub tls: mcpgw_data_plane::listen::TlsArgs,
    #[command(flatten)]
    pub root: mcpgw_data_plane::listen::RootArgs,
}

#[derive(Clone, Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to serve MCP and the gRPC admin API on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Port (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 4444)]
    pub port: u16,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub node: NodeArgs,
    #[command(flatten)]
    pub tls: mcpgw_data_plane::listen::TlsArgs,
    #[command(flatten)]
    pub root: mcpgw_data_plane::listen::RootArgs,
}

/// The control plane's APIs: the gRPC services as one router (admin and
/// config streams authenticated, health and reflection open), the REST admin
/// API beside it (authenticated), both over one registry implementation.
pub struct Apis {
    pub grpc: Router,
    pub rest: Router,
    pub dist: Arc<Distributor>,
    /// For readiness: the registry's database answering.
    pub registry: Registry,
}

/// The control plane's gRPC services as one router: admin (authenticated),
/// config streams (authenticated), health and reflection (open).
/// `allow_stdio`: whether stdio backends' commands may run here (for
/// discovery).
pub async fn grpc_router(args: &RegistryArgs, allow_stdio: bool) -> anyhow::Result<Apis> {
    let registry = Registry::connect(&args.database_url)
        .await
        .with_context(|| format!("cannot open the registry at {}", args.database_url))?;
    if let Some(sep) = &args.tool_name_separator {
        registry.set_separator(sep).await?;
    }
    let dist = Distributor::load(registry.clone(), args.federation_discovery).await?;
    let listening = dist.spawn_listener();
    let poll = args.registry_poll_secs.unwrap_or(if listening { 10 } else { 1 });
    dist.spawn_poller(Duration::from_secs(poll));
    let auth = AdminAuth::new(
        args.auth.auth_required,
        &args.basic_auth_user,
        &args.basic_auth_password,
        &args.auth.jwt_secret_key,
    );
    let discovery_timeout = args.discovery_timeout_secs.or(args.federation_timeout).unwrap_or(15);
    let relist_every = args
        .relist_interval_secs
        .or(args.federation_sync_interval)
        .unwrap_or(300);
    let health_every = args
        .health_check_interval_secs
        .or(args.federation_sync_interval)
        .unwrap_or(60);
    let peers = crate::admin::peers::parse(&args.federation_peers)?;
    // Discovery lists for this gateway, so a peer leaves out what it got
    // from here.
    let own = registry.epoch().await?;
    let connector = Arc::new(Connector::new(
        McpHttpClient::new(Duration::from_secs(discovery_timeout), false).listing_for(&own),
        &args.auth.auth_encryption_secret,
        allow_stdio,
    ));
    crate::discovery::watch::spawn(registry.clone(), dist.clone(), connector.clone());
    let every = (relist_every > 0).then(|| Duration::from_secs(relist_every));
    crate::discovery::relist::spawn(registry.clone(), dist.clone(), connector.clone(), every);
    if health_every > 0 {
        let policy = crate::discovery::health::HealthPolicy {
            every: Duration::from_secs(health_every),
            timeout: Duration::from_secs(args.health_check_timeout_secs),
            unhealthy_after: args.unhealthy_threshold,
        };
        crate::discovery::health::spawn(registry.clone(), connector.clone(), policy);
    }
    let api = Arc::new(RegistryApi::new(
        registry.clone(),
        dist.clone(),
        connector,
        &args.auth.auth_encryption_secret,
    ));
    let rest = crate::admin::rest::router(api.clone(), auth.clone());
    if args.federation_enabled && !peers.is_empty() {
        let retry = Duration::from_secs(args.federation_sync_interval.unwrap_or(60).max(1));
        crate::admin::peers::spawn(api.clone(), peers, retry);
    }
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<RegistryServiceServer<RegistryApi>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let routes = tonic::service::Routes::new(health_service)
        .add_service(reflection)
        .add_service(tonic::service::interceptor::InterceptedService::new(
            RegistryServiceServer::from_arc(api)
                .max_decoding_message_size(crate::admin::transfer::MAX_DOCUMENT)
                .max_encoding_message_size(crate::admin::transfer::MAX_DOCUMENT),
            auth.clone(),
        ))
        .add_service(ConfigServiceServer::with_interceptor(
            ConfigServer::new(dist.clone()),
            auth,
        ));
    Ok(Apis {
        grpc: routes
            .into_axum_router()
            .layer(axum::middleware::from_fn(crate::admin::traced::admin_span)),
        rest,
        dist,
        registry,
    })
}

/// One router for one port: gRPC requests (by content type) to `grpc`,
/// everything else to `http`.
pub fn multiplex(grpc: Router, http: Router) -> Router {
    Router::new().fallback_service(service_fn(move |req: Request| {
        let is_grpc = req
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|ct| ct.as_bytes().starts_with(b"application/grpc"));
        let target = if is_grpc { grpc.clone() } else { http.clone() };
        target.oneshot(req)
    }))
}

async fn bind(host: std::net::IpAddr, port: u16, defaults: &[&str]) -> anyhow::Result<tokio::net::TcpListener> {
    let addr = SocketAddr::new(host, port);
    check_bind(addr, defaults)?;
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}

pub async fn run_control_plane(args: ControlPlaneArgs) -> anyhow::Result<()> {
    let tls = args.tls.server_config()?;
    let listener = bind(args.host, args.port, &args.registry.default_secrets()).await?;
    let allow_stdio = args.registry.auth.allow_stdio_backends.unwrap_or(false);
    let root = args.root.root()?;
    let apis = grpc_router(&args.registry, allow_stdio).await?;
    let (registry, dist) = (apis.registry, apis.dist);
    let http = apis
        .rest
        .route("/health", axum::routing::get(health))
        .route("/ready", axum::routing::get(move || ready(registry.clone())))
        .route("/metrics", axum::routing::get(move || metrics(dist.clone())));
    announce("control-plane", listener.local_addr()?);
    serve(listener, tls, multiplex(apis.grpc, rooted(http, &root)), None).await
}

/// Both planes in one process: the data plane takes its config from the
/// control plane over the same loopback gRPC stream a remote node would use.
/// When the listener speaks TLS, that stream goes to a second listener of
/// the gRPC APIs alone, plain, on a free loopback port (the data plane
/// would otherwise have to trust its own certificate).
pub async fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    let tls = args.tls.server_config()?;
    let root = args.root.root()?;
    let listener = bind(args.host, args.port, &args.registry.default_secrets()).await?;
    let local = listener.local_addr()?;
    // On a laptop (loopback) `serve` runs stdio backends unless told not to.
    let allow_stdio = args
        .registry
        .auth
        .allow_stdio_backends
        .unwrap_or(local.ip().is_loopback());
    let Apis { grpc, rest, dist, .. } = grpc_router(&args.registry, allow_stdio).await?;
    // Where the in-process config stream connects.
    let config_addr = if tls.is_some() {
        let inner = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
            .await
            .context("cannot listen on a loopback port for the in-process config stream")?;
        let addr = inner.local_addr()?;
        tokio::spawn(serve(inner, None, grpc.clone(), None));
        addr
    } else if local.ip().is_unspecified() {
        SocketAddr::new([127, 0, 0, 1].into(), local.port())
    } else {
        local
    };
    let mut limits = args.node.limits();
    limits.allow_stdio_backends = allow_stdio;
    let gw = args.node.gateway(&args.registry.auth, limits).await?;
    // One `/metrics` for both planes.
    gw.metrics.also(move |out| dist.encode_metrics(out));
    let transport = transport::Transport::new(gw.clone()).with_root(&root);
    mcpgw_data_plane::node::run(&transport);
    tokio::spawn(mcpgw_data_plane::node::config_stream::run(
        Arc::clone(&gw),
        mcpgw_data_plane::node::config_stream::ControlPlane::plain(format!("http://{config_addr}")),
        args.node.node_id(),
        None,
    ));
    announce("serve", local);
    announce_ready("serve", &gw);
    let http = rooted(transport::router(transport).merge(rest), &root);
    serve(listener, tls, multiplex(grpc, http), Some(gw)).await
}

/// How long `/ready` waits for the database before it says not ready.
const READY_WITHIN: Duration = Duration::from_secs(2);

/// `GET /ready` of a control plane: its registry's database answers (the
/// migrations ran before it listened). Why it does not is logged, never
/// told to an unauthenticated caller.
async fn ready(registry: Registry) -> (axum::http::StatusCode, String) {
    use axum::http::StatusCode;
    let why = match tokio::time::timeout(READY_WITHIN, registry.version()).await {
        Ok(Ok(version)) => return (StatusCode::OK, format!("ready: registry at config version {version}")),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {READY_WITHIN:?}"),
    };
    tracing::warn!(error = %why, "not ready: the registry's database does not answer");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "not ready: the registry's database does not answer".into(),
    )
}

/// `GET /metrics` of a control plane: config distribution's metrics.
async fn metrics(dist: Arc<Distributor>) -> impl axum::response::IntoResponse {
    let mut out = String::with_capacity(2048);
    dist.encode_metrics(&mut out);
    prometheus_client::encoding::text::encode_eof(&mut out).expect("writing to a String");
    ([(header::CONTENT_TYPE, mcpgw_data_plane::metrics::CONTENT_TYPE)], out)
}

/// `GET /health`: the process is up (Context Forge's shape).
async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"status": "healthy"}))
}
