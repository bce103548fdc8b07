//! An OTLP trace receiver for tests: the collector's gRPC service
//! (`opentelemetry.proto.collector.trace.v1.TraceService/Export`) and its
//! HTTP form (`POST /v1/traces`, protobuf) on one loopback port, built on
//! the `opentelemetry-proto` types, keeping every span it is sent.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::{Router, body::Bytes, extract::State, routing::post};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::any_value::Value as AnyValue,
};
use prost::Message;
use tokio::{sync::watch, task::JoinHandle};

/// One span as received, its ids in hex.
#[derive(Clone, Debug)]
pub struct Span {
    pub service: String,
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    /// String, integer and boolean attributes, as text.
    pub attributes: HashMap<String, String>,
    /// The status code: 0 unset, 1 ok, 2 error.
    pub status: i32,
}

impl Span {
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

#[derive(Clone)]
struct Received {
    spans: Arc<watch::Sender<Vec<Span>>>,
    /// Every span received, kept or not.
    count: Arc<AtomicU64>,
    /// Whether spans are kept (a benchmark only counts them).
    keep: bool,
}

impl Received {
    fn take(&self, req: ExportTraceServiceRequest) {
        let n: usize = req
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .map(|ss| ss.spans.len())
            .sum();
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        if !self.keep {
            return;
        }
        let mut spans = Vec::new();
        for rs in req.resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| text(kv.value.as_ref()?.value.as_ref()?))
                .unwrap_or_default();
            for span in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
                spans.push(Span {
                    service: service.clone(),
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    attributes: span
                        .attributes
                        .iter()
                        .filter_map(|kv| Some((kv.key.clone(), text(kv.value.as_ref()?.value.as_ref()?)?)))
                        .collect(),
                    status: span.status.map_or(0, |s| s.code),
                });
            }
        }
        self.spans.send_modify(|all| all.extend(spans));
    }
}

fn text(v: &AnyValue) -> Option<String> {
    match v {
        AnyValue::StringValue(s) => Some(s.clone()),
        AnyValue::IntValue(i) => Some(i.to_string()),
        AnyValue::BoolValue(b) => Some(b.to_string()),
        AnyValue::DoubleValue(d) => Some(d.to_string()),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tonic::async_trait]
impl TraceService for Received {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.take(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

async fn over_http(State(received): State<Received>, body: Bytes) -> Result<Vec<u8>, axum::http::StatusCode> {
    let req = ExportTraceServiceRequest::decode(body).map_err(|_| axum::http::StatusCode::BAD_REQUEST)?;
    received.take(req);
    Ok(ExportTraceServiceResponse { partial_success: None }.encode_to_vec())
}

/// A running receiver; stops when dropped.
pub struct Collector {
    pub addr: SocketAddr,
    spans: watch::Receiver<Vec<Span>>,
    count: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Collector {
    /// A receiver that keeps every span.
    pub async fn start() -> Self {
        Self::start_keeping(true).await
    }

    /// A receiver that only counts the spans it is sent ([`Collector::received`]).
    pub async fn counting() -> Self {
        Self::start_keeping(false).await
    }

    async fn start_keeping(keep: bool) -> Self {
        let (tx, spans) = watch::channel(Vec::new());
        let count = Arc::new(AtomicU64::new(0));
        let received = Received {
            spans: Arc::new(tx),
            count: count.clone(),
            keep,
        };
        let grpc = tonic::service::Routes::new(TraceServiceServer::new(received.clone())).into_axum_router();
        let app = Router::new()
            .route("/v1/traces", post(over_http))
            .with_state(received)
            .merge(grpc);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            spans,
            count,
            task,
        }
    }

    /// How many spans it was sent so far.
    pub fn received(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The endpoint to give an exporter (`OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits until the spans received so far satisfy `done`; them all.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&[Span]) -> bool) -> Vec<Span> {
        let mut spans = self.spans.clone();
        match tokio::time::timeout(crate::harness::PATIENCE, spans.wait_for(|s| done(s))).await {
            Ok(Ok(all)) => all.clone(),
            _ => panic!("no {what} among the spans received: {:#?}", *self.spans.borrow()),
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}
