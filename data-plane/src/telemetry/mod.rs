//! Logs and traces of a process (either plane, or both in `serve`).
//!
//! Logs go to stderr, filtered by `RUST_LOG`, as text or JSON lines. Traces
//! go to an OTLP collector when the standard `OTEL_*` variables name one
//! ([`export`]), and nowhere otherwise: with tracing off the request path
//! makes no span at all ([`on`] is one relaxed load), and the trace context
//! a client sends in `params._meta` passes through to the backend untouched,
//! like every other member. With tracing on, every MCP request gets a span
//! ([`spans::request`]) that is a child of the context its client sent, and
//! every call to a backend a child span ([`spans::upstream`]) whose context
//! goes on to the backend ([`context::outgoing`]); a log line inside a
//! request names its `trace_id`.

pub mod context;
mod export;
pub mod spans;

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_subscriber::{
    EnvFilter, Layer,
    filter::{self, FilterExt, Targets},
    layer::SubscriberExt,
    util::SubscriberInitExt,
};

static ON: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported: only then are they made on the request path.
pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// What must outlive the process's work: the trace exporter, flushed by
/// [`Telemetry::shutdown`].
#[must_use = "shut it down when the process stops, or the last spans are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still buffered and stops the exporter. The export
    /// blocks, off the runtime's workers (a gRPC exporter needs them).
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        let done = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(e)) = done {
            eprintln!("mcpgw: the last spans may not have been exported: {e}");
        }
    }
}

/// Installs the process's logging and, where configured, tracing;
/// `service` is the trace's `service.name` unless `OTEL_SERVICE_NAME` says
/// otherwise.
///
/// Logs: `RUST_LOG` (default `info`); as text, in colour only when stderr
/// is a terminal, or with `MCPGW_LOG_FORMAT=json` one JSON object per line
/// (with the current request's span fields, its `trace_id` among them). An
/// unknown format is said once and text is used. A bad tracing
/// configuration is said once too, and the process runs untraced: tracing
/// never stops a gateway from serving.
pub fn init(service: &'static str) -> Telemetry {
    use std::io::IsTerminal;
    // The gateway's own spans are always known to the log, whatever level
    // `RUST_LOG` lets through: a warning inside a request names its trace.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info".into())
        .or(filter::filter_fn(|m| {
            m.is_span() && m.target().starts_with("mcpgw_") && *m.level() <= Level::INFO
        }));
    let format = std::env::var("MCPGW_LOG_FORMAT").unwrap_or_default();
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match format.as_str() {
        "json" => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_filter(filter)
            .boxed(),
        _ => logs
            .with_ansi(std::io::stderr().is_terminal())
            .with_filter(filter)
            .boxed(),
    };
    let (provider, problem) = match export::provider(service) {
        Ok(provider) => (provider, None),
        Err(e) => (None, Some(e)),
    };
    // The gateway's own spans (and the log events inside them, as span
    // events); never a dependency's.
    let traces = provider.as_ref().map(|p| {
        use opentelemetry::trace::TracerProvider;
        // No per-span thread, source location or busy/idle timing: each
        // costs every span attributes or clock reads on every poll.
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("mcpgw"))
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_filter(
                Targets::new()
                    .with_target("mcpgw_data_plane", Level::INFO)
                    .with_target("mcpgw_control_plane", Level::INFO),
            )
    });
    let installed = tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init()
        .is_ok();
    if !matches!(format.as_str(), "" | "text" | "json") {
        tracing::warn!(format, "MCPGW_LOG_FORMAT is json or text; logging as text");
    }
    if let Some(e) = problem {
        tracing::warn!(error = %e, "tracing is off: its OTEL_* configuration was not understood");
    }
    if provider.is_some() && installed {
        ON.store(true, Ordering::Relaxed);
    }
    Telemetry { provider }
}
