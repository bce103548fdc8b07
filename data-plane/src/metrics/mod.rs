//! The node's Prometheus metrics, served at `/metrics` in the OpenMetrics
//! text format.
//!
//! Every label value comes from a closed set (the MCP methods this gateway
//! knows, error kinds, protocol revisions) or from the registry (backend
//! slugs, the names of tools and prompts on their backends), never from
//! what a client sends: a client cannot grow the series. Resources are
//! counted per backend, not per URI, since a template's URIs are the
//! client's to choose. Principals are in traces, not here, for the same
//! reason.
//!
//! What the snapshot says (catalog sizes, open breakers, the version) is
//! read when the metrics are scraped, costing a request nothing.

use std::sync::{Arc, OnceLock, atomic::AtomicU64};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

use crate::config::Snapshot;

/// Which of a node's long-lived streams.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum StreamKind {
    /// A legacy HTTP+SSE session's stream.
    Sse,
    /// A Streamable HTTP session's standalone GET stream.
    Standalone,
    /// A WebSocket connection.
    WebSocket,
    /// A 2026-07-28 `subscriptions/listen` stream.
    Listen,
}

impl StreamKind {
    fn label(self) -> &'static str {
        match self {
            Self::Sse => "sse",
            Self::Standalone => "standalone",
            Self::WebSocket => "websocket",
            Self::Listen => "listen",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    /// `session` (2024-11-05 … 2025-11-25) or `stateless` (2026-07-28).
    era: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: &'static str,
}

/// A request routed to a backend: the backend's slug and, for tools and
/// prompts, the item's name on it (empty for resources).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ItemLabels {
    method: &'static str,
    backend: Arc<str>,
    item: Option<Arc<str>>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ItemOutcome {
    #[prometheus(flatten)]
    item: ItemLabels,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    backend: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    protocol_version: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// Registers `metric` in `registry` as `name`, described by `help`, and
/// hands it back for counting.
pub fn register<M: prometheus_client::registry::Metric + Clone>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    metric: M,
) -> M {
    registry.register(name, help, metric.clone());
    metric
}

/// Latency buckets from 100 µs to about 26 s, doubling.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 19))
}

/// Writes more OpenMetrics families into a scrape.
type MoreMetrics = dyn Fn(&mut String) + Send + Sync;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<MethodLabels, Histogram, fn() -> Histogram>,
    routed: Family<ItemOutcome, Counter>,
    routed_seconds: Family<ItemLabels, Histogram, fn() -> Histogram>,
    sessions: Family<VersionLabels, Counter>,
    streams: Family<KindLabels, Gauge>,
    config_version: Gauge<u64, AtomicU64>,
    config_updates: Family<OutcomeLabels, Counter>,
    catalog: Family<KindLabels, Gauge>,
    breakers_open: Family<BackendLabels, Gauge>,
    /// What else this process shows at `/metrics` (in `mcpgw serve`, the
    /// control plane's).
    more: OnceLock<Box<MoreMetrics>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mcpgw");
        let requests = register(
            &mut registry,
            "requests",
            "MCP requests answered, by method, protocol era and outcome (ok, or the gateway's error kind)",
            Family::default(),
        );
        let request_seconds = register(
            &mut registry,
            "request_duration_seconds",
            "Time to answer an MCP request (to the end of its stream, for a streamed answer)",
            Family::new_with_constructor(latency as fn() -> Histogram),
        );
        let routed = register(
            &mut registry,
            "backend_requests",
            "Requests routed to a backend, by method, backend, item (tool or prompt name on the backend) and outcome; the backend_* outcomes are the backend's failures (unreachable, timed out, not MCP)",
            Family::default(),
        );
        let routed_seconds = register(
            &mut registry,
            "backend_request_duration_seconds",
            "Time to answer a request routed to a backend, by method, backend and item",
            Family::new_with_constructor(latency as fn() -> Histogram),
        );
        let sessions = register(
            &mut registry,
            "sessions_started",
            "Client sessions started with initialize, by negotiated protocol version",
            Family::default(),
        );
        let streams: Family<KindLabels, Gauge> = Family::default();
        // Each kind shows from the start, at 0 while none is open.
        for kind in [
            StreamKind::Sse,
            StreamKind::Standalone,
            StreamKind::WebSocket,
            StreamKind::Listen,
        ] {
            streams.get_or_create(&KindLabels { kind: kind.label() }).set(0);
        }
        registry.register(
            "open_streams",
            "Long-lived client streams open on this node, by kind",
            streams.clone(),
        );
        let config_version = register(
            &mut registry,
            "config_version",
            "The config version this node serves",
            Gauge::<u64, AtomicU64>::default(),
        );
        let config_updates = register(
            &mut registry,
            "config_updates",
            "Config updates from the control plane, applied or rejected",
            Family::default(),
        );
        let catalog = register(
            &mut registry,
            "catalog_items",
            "What this node serves, by kind (backends, tools, prompts, resources, templates)",
            Family::default(),
        );
        let breakers_open = register(
            &mut registry,
            "breaker_open_endpoints",
            "Endpoints of a backend this node's circuit breakers keep calls away from",
            Family::default(),
        );
        Self {
            registry,
            requests,
            request_seconds,
            routed,
            routed_seconds,
            sessions,
            streams,
            config_version,
            config_updates,
            catalog,
            breakers_open,
            more: OnceLock::new(),
        }
    }

    /// Shows what `more` writes (OpenMetrics families, no `# EOF`) at
    /// `/metrics` too; the first one given stays.
    pub fn also(&self, more: impl Fn(&mut String) + Send + Sync + 'static) {
        let _ = self.more.set(Box::new(more));
    }

    /// A request was answered.
    pub fn answered(&self, a: Answered<'_>) {
        let Answered {
            method, era, outcome, ..
        } = a;
        self.requests
            .get_or_create(&RequestLabels { method, era, outcome })
            .inc();
        self.request_seconds
            .get_or_create(&MethodLabels { method })
            .observe(a.seconds);
        let Some((backend, item)) = a.routed else {
            return;
        };
        let item = ItemLabels {
            method,
            backend: backend.clone(),
            item: item.clone(),
        };
        self.routed_seconds.get_or_create(&item).observe(a.seconds);
        self.routed.get_or_create(&ItemOutcome { item, outcome }).inc();
    }

    /// A session started at `version`.
    pub fn session_started(&self, version: crate::protocol::ProtocolVersion) {
        let labels = VersionLabels {
            protocol_version: version.as_str(),
        };
        self.sessions.get_or_create(&labels).inc();
    }

    /// A stream of `kind` opened: counted until the guard drops.
    pub fn stream(&self, kind: StreamKind) -> StreamGuard {
        let gauge = self.streams.get_or_create_owned(&KindLabels { kind: kind.label() });
        StreamGuard::new(gauge)
    }

    /// A config update was applied (now serving `version`) or rejected.
    pub fn config_update(&self, applied: Option<u64>) {
        let outcome = match applied {
            Some(version) => {
                self.config_version.set(version);
                "applied"
            }
            None => "rejected",
        };
        self.config_updates.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// The metrics as OpenMetrics text, with what `snapshot` serves.
    pub fn encode(&self, snapshot: &Snapshot) -> String {
        let routes = &snapshot.routes;
        for (kind, n) in [
            ("backends", routes.backends().len()),
            ("tools", routes.tools.len()),
            ("prompts", routes.prompts.len()),
            ("resources", routes.resources.len()),
            ("templates", routes.templates.len()),
        ] {
            self.catalog.get_or_create(&KindLabels { kind }).set(n as i64);
        }
        // Backends gone from the config leave no series behind.
        self.breakers_open.clear();
        for backend in routes.backends() {
            // A backend of one endpoint has no breaker: always 0.
            let open = backend.endpoints.all().iter().filter(|e| e.is_open()).count();
            let labels = BackendLabels {
                backend: backend.slug.clone(),
            };
            self.breakers_open.get_or_create(&labels).set(open as i64);
        }
        use prometheus_client::encoding::text;
        let mut out = String::with_capacity(4096);
        text::encode_registry(&mut out, &self.registry).expect("writing to a String");
        if let Some(more) = self.more.get() {
            more(&mut out);
        }
        text::encode_eof(&mut out).expect("writing to a String");
        out
    }
}

/// One answered request, as [`Metrics::answered`] counts it.
pub struct Answered<'a> {
    /// One of the methods counted by name, or `other`.
    pub method: &'static str,
    /// `session` (2024-11-05 … 2025-11-25) or `stateless` (2026-07-28).
    pub era: &'static str,
    /// `ok`, `disconnected`, or the error kind's label.
    pub outcome: &'static str,
    /// The backend's slug and the item's name on it (none for resources).
    pub routed: Option<&'a (Arc<str>, Option<Arc<str>>)>,
    pub seconds: f64,
}

/// Counts one open stream while it lives.
pub struct StreamGuard(Gauge);

impl StreamGuard {
    fn new(gauge: Gauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
