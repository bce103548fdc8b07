//! The core a data-plane node serves from: its config snapshot, auth,
//! sessions, backend sessions, limits, the fleet bus, and what the node keeps
//! about its client sessions (calls, subscriptions, standalone streams).
//! Everything above (dispatch, transports, the
//! node's wiring) takes it; it uses nothing above it.

use std::{sync::Arc, time::Duration};

use arc_swap::ArcSwap;
use tokio::sync::{broadcast, watch};

use crate::{
    auth::{AuthArgs, Authenticator},
    cache::ResponseCache,
    config::{
        Snapshot,
        changes::{self, ListsChanged},
    },
    fleet::Fleet,
    inputs::Inputs,
    metrics::Metrics,
    session::{SessionCodec, calls::Calls, listeners::Listeners, subscriptions::Subscriptions},
    upstream::{BreakerPolicy, McpHttpClient, UpstreamPool, link::Connector},
};

/// Tunables of a data plane.
#[derive(Clone, Debug)]
pub struct Limits {
    pub session_ttl: Duration,
    pub upstream_timeout: Duration,
    pub max_body_bytes: usize,
    /// Browser origins allowed besides loopback (`*` for any).
    pub allowed_origins: Vec<String>,
    /// Calls in flight to one backend from one node before more are refused.
    pub backend_max_in_flight: usize,
    /// Tools per `tools/list` page; 0 lists everything at once.
    pub list_page_size: usize,
    /// How long a call whose client lost its stream runs on awaiting a
    /// resume, and how long answered streams stay resumable.
    pub resume_window: Duration,
    /// How long a client's own backend sessions stay open with no call,
    /// and how many a node holds at most.
    pub client_upstream_idle: Duration,
    pub client_upstream_max: usize,
    /// The longest an event stream stays silent: past it, a keep-alive
    /// comment goes out.
    pub sse_keepalive: Duration,
    /// Whether calls to `https://` backends may use HTTP/2 (see
    /// `McpHttpClient::new`).
    pub upstream_http2: bool,
    /// How long a stateless client's call awaiting its input is held, how
    /// many a node holds, and how long a round gathers the backend's
    /// requests (see `inputs`).
    pub input_ttl: Duration,
    pub input_max: usize,
    pub input_gather: Duration,
    /// How long a call of a 2026-07-28 client that declares the Tasks
    /// extension runs on a backend of an earlier era before it becomes a
    /// task the gateway holds, how long such a task is kept, and how many
    /// a node holds (see `tasks::held`).
    pub task_after: Duration,
    pub task_ttl: Duration,
    pub task_max: usize,
    /// How long a node told to stop lets its calls in flight finish.
    pub drain: Duration,
    /// Whether this node runs stdio backends' children.
    pub allow_stdio_backends: bool,
    /// When an endpoint of a backend with several is taken out of rotation.
    pub breaker: BreakerPolicy,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(24 * 3600),
            upstream_timeout: Duration::from_secs(60),
            max_body_bytes: 4 << 20,
            allowed_origins: Vec::new(),
            backend_max_in_flight: 256,
            list_page_size: 0,
            resume_window: Duration::from_secs(30),
            client_upstream_idle: Duration::from_secs(600),
            client_upstream_max: 10_000,
            sse_keepalive: Duration::from_secs(15),
            upstream_http2: false,
            input_ttl: Duration::from_secs(300),
            input_max: 10_000,
            input_gather: Duration::from_millis(50),
            task_after: Duration::from_millis(500),
            task_ttl: Duration::from_secs(3600),
            task_max: 10_000,
            drain: Duration::from_secs(25),
            allow_stdio_backends: false,
            breaker: BreakerPolicy::default(),
        }
    }
}

pub struct Gateway {
    /// The config being served. Requests `load` it once; only the config
    /// stream task stores.
    pub snapshot: ArcSwap<Snapshot>,
    applied: watch::Sender<u64>,
    pub auth: Authenticator,
    pub sessions: SessionCodec,
    pub upstream: UpstreamPool,
    /// Builds each backend's client (TLS settings, credentials) when a
    /// config brings a new or changed backend.
    pub connector: Connector,
    pub limits: Limits,
    /// What each new config changed in the lists clients see, for their
    /// open streams.
    pub list_changes: broadcast::Sender<Arc<ListsChanged>>,
    /// Resource subscriptions relayed by this node.
    pub subscriptions: Subscriptions,
    /// Calls relayed by this node, for cancellation.
    pub calls: Calls,
    /// Open standalone streams on this node, by session.
    pub listeners: Listeners,
    /// The other nodes: cancels, resource updates and deleted sessions
    /// that concern them.
    pub fleet: Fleet,
    /// Results of resource reads and opted-in tools, for their TTL.
    pub cache: ResponseCache,
    /// Stateless clients' calls held for their input (see `inputs`).
    pub inputs: Inputs,
    /// The ids clients know backends' tasks by (see `tasks`).
    pub tasks: crate::tasks::TaskIds,
    /// The tasks this node holds for backends of an earlier era.
    pub held: crate::tasks::held::HeldTasks,
    /// What this node counts, for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Channel backends that said their lists changed, for the config
    /// stream to tell the control plane.
    backend_changes: std::sync::Mutex<Option<tokio::sync::mpsc::Receiver<Arc<str>>>>,
    auth_required: bool,
    /// Set once the node is told to stop: its long-lived streams end.
    draining: watch::Sender<bool>,
}

impl Gateway {
    /// A node of `fleet` caching in `cache` (its tasks start with the
    /// node's wiring).
    pub fn new(auth: &AuthArgs, limits: Limits, fleet: Fleet, cache: ResponseCache) -> Arc<Self> {
        let (changes, backend_changes) = tokio::sync::mpsc::channel(64);
        let upstream = UpstreamPool::new(limits.backend_max_in_flight, limits.client_upstream_max);
        let updates = upstream.updates_sender();
        Arc::new(Self {
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            applied: watch::Sender::new(0),
            auth: Authenticator::new(auth),
            sessions: SessionCodec::new(&auth.auth_encryption_secret, limits.session_ttl),
            inputs: Inputs::new(&auth.auth_encryption_secret, limits.input_ttl, limits.input_max),
            tasks: crate::tasks::TaskIds::new(&auth.auth_encryption_secret),
            held: crate::tasks::held::HeldTasks::new(limits.task_after, limits.task_ttl, limits.task_max),
            upstream,
            connector: Connector::new(
                McpHttpClient::new(limits.upstream_timeout, limits.upstream_http2),
                &auth.auth_encryption_secret,
                limits.allow_stdio_backends,
            )
            .with_breaker(limits.breaker)
            .with_changes(changes)
            .with_updates(updates),
            list_changes: broadcast::Sender::new(64),
            calls: Default::default(),
            subscriptions: Default::default(),
            listeners: Default::default(),
            fleet,
            cache,
            backend_changes: std::sync::Mutex::new(Some(backend_changes)),
            metrics: Default::default(),
            auth_required: auth.auth_required,
            draining: watch::Sender::new(false),
            limits,
        })
    }

    /// Applies `update` on top of what is served and serves the result:
    /// the new snapshot, or every reason it cannot be applied (the one
    /// served stays).
    pub fn apply(
        &self,
        update: &mcpgw_proto::v1::ConfigUpdate,
    ) -> Result<Arc<Snapshot>, Vec<mcpgw_proto::v1::ResourceError>> {
        let next = self.snapshot.load().apply(update, &self.connector);
        let served = next.map(|next| self.install(next));
        self.metrics.config_update(served.as_ref().ok().map(|s| s.version));
        served
    }

    /// Serves `snapshot` from now on.
    fn install(&self, snapshot: Snapshot) -> Arc<Snapshot> {
        let version = snapshot.version;
        let snapshot = Arc::new(snapshot);
        let old = self.snapshot.swap(snapshot.clone());
        self.upstream.retain(|id, link| snapshot.serves(id, link));
        for change in changes::between(&old, &snapshot) {
            // No receivers (no open client streams) is fine.
            let _ = self.list_changes.send(Arc::new(change));
        }
        self.applied.send_replace(version);
        snapshot
    }

    /// The ids of channel backends that said their lists changed, for the
    /// one task that tells the control plane (`None` after the first call).
    pub fn take_backend_changes(&self) -> Option<tokio::sync::mpsc::Receiver<Arc<str>>> {
        self.backend_changes.lock().expect("poisoned").take()
    }

    /// Ends every long-lived stream of this node ([`Gateway::drained`]):
    /// the node is stopping, and their clients reconnect elsewhere.
    pub fn drain(&self) {
        self.draining.send_replace(true);
    }

    /// Resolves once the node drains: what a long-lived stream ends with.
    pub fn drained(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut draining = self.draining.subscribe();
        async move {
            let _ = draining.wait_for(|d| *d).await;
        }
    }

    /// Watches the applied config version.
    pub fn applied(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }

    /// The credential this node presents to its control plane: a short-lived
    /// JWT signed with the fleet's shared secret.
    pub fn node_token(&self, node_id: &str) -> Option<String> {
        self.auth_required
            .then(|| self.auth.jwt().mint(&format!("node:{node_id}"), 3600))
    }
}
