//! Recording one request in the node's metrics and, while tracing is on,
//! its span: its method and era when it starts, the backend and item once
//! routing knows them, its outcome when its answer is done (for a streamed
//! answer, when the stream ends; the span ends then too).

use std::{
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll},
    time::Instant,
};

use futures::{Stream, stream::BoxStream};

use tracing::Span;

use super::Reply;
use crate::{
    error::McpError,
    jsonrpc::Envelope,
    metrics::{Answered, Metrics},
    session::Session,
    telemetry::{context::Carried, spans},
};

/// The methods counted by name; any other is counted as `other`, so a
/// client cannot add series by inventing methods.
const METHODS: &[&str] = &[
    "ping",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "completion/complete",
    "logging/setLevel",
    "subscriptions/listen",
    "tasks/get",
    "tasks/update",
    "tasks/cancel",
    "server/discover",
    "initialize",
];

fn method_label(method: &str) -> &'static str {
    METHODS.iter().find(|m| **m == method).copied().unwrap_or("other")
}

/// One request being answered.
pub struct Recorder {
    metrics: Arc<Metrics>,
    started: Instant,
    method: &'static str,
    era: &'static str,
    /// The backend's slug and the item's name on it (none for resources).
    routed: OnceLock<(Arc<str>, Option<Arc<str>>)>,
    /// The request's span ([`Span::none`] while tracing is off).
    span: Span,
}

impl Recorder {
    /// Starts recording request `method` of `env`, from a client of `session`.
    pub fn start(metrics: &Arc<Metrics>, method: &str, session: &Session, env: &Envelope<'_>) -> Self {
        let version = session.protocol_version;
        let span = spans::request(
            method,
            env.params,
            Carried {
                traceparent: env.traceparent,
                tracestate: env.tracestate,
            },
            &spans::Caller {
                protocol_version: version.as_str(),
                server: session.server.as_deref(),
                principal: &session.principal.0,
            },
        );
        Self {
            metrics: metrics.clone(),
            started: Instant::now(),
            method: method_label(method),
            era: if version.is_stateless() { "stateless" } else { "session" },
            routed: OnceLock::new(),
            span,
        }
    }

    /// A part of a stateless request done as a request of its own (the
    /// subscriptions a listen makes), in the request's span.
    pub fn part(metrics: &Arc<Metrics>, method: &str) -> Self {
        Self {
            metrics: metrics.clone(),
            started: Instant::now(),
            method: method_label(method),
            era: "stateless",
            routed: OnceLock::new(),
            span: Span::none(),
        }
    }

    /// The span the request's work runs in.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// The request goes to backend `slug`, for its item `name` (a tool or
    /// prompt; `None` for a resource, whose URI a client may choose), which
    /// the client named `target` (`kind` is `tool`, `prompt` or `resource`).
    pub fn routed(&self, slug: &Arc<str>, name: Option<&Arc<str>>, kind: &str, target: &str) {
        spans::routed(&self.span, slug, kind, target);
        let _ = self.routed.set((slug.clone(), name.cloned()));
    }

    /// Records `reply` (a stream's when it ends) and hands it back.
    pub fn finish(self, reply: Result<Reply, McpError>) -> Result<Reply, McpError> {
        match reply {
            Ok(Reply::Stream(stream)) => Ok(Reply::Stream(Box::pin(Finishing {
                stream,
                recorder: Some(self),
            }))),
            Ok(reply) => {
                self.record("ok");
                Ok(reply)
            }
            Err(e) => {
                self.record(e.kind.label());
                Err(e)
            }
        }
    }

    fn record(&self, outcome: &'static str) {
        spans::finished(&self.span, outcome);
        self.metrics.answered(Answered {
            method: self.method,
            era: self.era,
            outcome,
            routed: self.routed.get(),
            seconds: self.started.elapsed().as_secs_f64(),
        });
    }
}

/// A streamed answer, recorded when it ends: `ok`, or `disconnected` when
/// it is dropped before its end (the client went away).
struct Finishing {
    stream: BoxStream<'static, Vec<u8>>,
    recorder: Option<Recorder>,
}

impl Stream for Finishing {
    type Item = Vec<u8>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Vec<u8>>> {
        let this = self.get_mut();
        let next = this.stream.as_mut().poll_next(cx);
        if let Poll::Ready(None) = next
            && let Some(recorder) = this.recorder.take()
        {
            recorder.record("ok");
        }
        next
    }
}

impl Drop for Finishing {
    fn drop(&mut self) {
        if let Some(recorder) = self.recorder.take() {
            recorder.record("disconnected");
        }
    }
}
