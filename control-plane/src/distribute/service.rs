//! The `ConfigService` gRPC stream: one per data-plane node.

use std::sync::Arc;

use mcpgw_proto::v1::{
    StreamConfigRequest, StreamConfigResponse, config_service_server::ConfigService, stream_config_request::Message,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::Distributor;
use crate::admin::auth::Caller;

pub struct ConfigServer {
    dist: Arc<Distributor>,
}

impl ConfigServer {
    pub fn new(dist: Arc<Distributor>) -> Self {
        Self { dist }
    }
}

#[tonic::async_trait]
impl ConfigService for ConfigServer {
    type StreamConfigStream = ReceiverStream<Result<StreamConfigResponse, Status>>;

    async fn stream_config(
        &self,
        request: Request<Streaming<StreamConfigRequest>>,
    ) -> Result<Response<Self::StreamConfigStream>, Status> {
        let caller = request.extensions().get::<Caller>().cloned().unwrap_or(Caller::Anyone);
        let mut inbound = request.into_inner();
        let hello = match inbound.message().await? {
            Some(StreamConfigRequest {
                message: Some(Message::Hello(h)),
            }) if !h.node_id.is_empty() => h,
            _ => {
                return Err(Status::invalid_argument(
                    "the first message of a config stream must be a NodeHello with a node_id",
                ));
            }
        };
        // A node speaks only for itself: its JWT's subject names it. Client
        // tokens (any other subject) can neither read the config nor pose as
        // a node.
        if let Caller::Subject(sub) = &caller
            && sub.strip_prefix("node:") != Some(hello.node_id.as_str())
        {
            return Err(Status::permission_denied(format!(
                "a config stream for node {:?} needs a token whose subject is \"node:{}\"",
                hello.node_id, hello.node_id
            )));
        }
        // A node ahead of this control plane may have seen writes this
        // replica has not read yet: read them before answering.
        if hello.version > self.dist.current_version() {
            self.dist.refresh().await.map_err(Status::from)?;
        }
        let (tx, rx) = mpsc::channel(4);
        let dist = Arc::clone(&self.dist);
        tokio::spawn(async move {
            let conn = dist.nodes.connect(&hello.node_id, hello.version);
            tracing::info!(node = %hello.node_id, held = hello.version, "data plane connected");
            serve_node(&dist, &hello.node_id, conn, (hello.epoch, hello.version), inbound, tx).await;
            dist.nodes.disconnect(&hello.node_id, conn);
            tracing::info!(node = %hello.node_id, "data plane disconnected");
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// Sends the node what it lacks whenever the config moves, and records its
/// ACKs and NACKs, until either side goes away.
async fn serve_node(
    dist: &Distributor,
    node: &str,
    conn: u64,
    (mut epoch, mut held): (String, u64),
    mut inbound: Streaming<StreamConfigRequest>,
    tx: mpsc::Sender<Result<StreamConfigResponse, Status>>,
) {
    let mut versions = dist.subscribe();
    // After a NACK, nothing is resent until the config moves again.
    let mut refused: Option<u64> = None;
    // The last update sent, when, and its span (from sending to the
    // node's answer), until the node acknowledges it.
    let mut sent: Option<(u64, std::time::Instant, tracing::Span)> = None;
    loop {
        if refused != Some(dist.current_version())
            && let Some(update) = dist.update_for(&epoch, held)
        {
            epoch.clone_from(&update.epoch);
            held = update.version;
            let span = tracing::info_span!(
                "config.push",
                otel.kind = "producer",
                node,
                version = held,
                otel.status_code = tracing::field::Empty
            );
            sent = Some((held, std::time::Instant::now(), span));
            if tx
                .send(Ok(StreamConfigResponse { update: Some(update) }))
                .await
                .is_err()
            {
                return;
            }
        }
        tokio::select! {
            changed = versions.changed() => if changed.is_err() { return },
            msg = inbound.message() => match msg {
                Ok(Some(StreamConfigRequest { message: Some(Message::Ack(ack)) })) => {
                    dist.nodes.ack(node, conn, ack.version);
                    if let Some((version, at, _)) = &sent
                        && ack.version >= *version
                    {
                        dist.metrics.acked(at.elapsed());
                        sent = None;
                    }
                }
                Ok(Some(StreamConfigRequest { message: Some(Message::Nack(nack)) })) => {
                    tracing::warn!(node, version = nack.version, errors = ?nack.errors, "data plane refused config");
                    dist.nodes.nack(node, conn, &nack);
                    dist.metrics.refused();
                    if let Some((_, _, span)) = sent.take() {
                        span.record("otel.status_code", "error");
                    }
                    refused = Some(nack.version);
                    // The node still holds what it had; resend everything next time.
                    epoch.clear();
                }
                Ok(Some(StreamConfigRequest { message: Some(Message::BackendChanged(c)) })) => {
                    tracing::debug!(node, backend = %c.backend_id, "a node heard a backend's lists change");
                    dist.backend_changed(c.backend_id);
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return,
            },
        }
    }
}
