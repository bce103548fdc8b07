//! The config stream to the control plane: one task per data plane that owns
//! it. It says hello with the version held, applies each update into a new
//! snapshot, stores it with one `ArcSwap::store`, and ACKs, or NACKs with
//! per-resource errors and keeps serving the old snapshot. When the control
//! plane goes away the node keeps serving and reconnects with backoff.

use std::{sync::Arc, time::Duration};

use mcpgw_proto::v1::{
    ConfigAck, ConfigNack, NodeHello, StreamConfigRequest, config_service_client::ConfigServiceClient,
    stream_config_request::Message,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, metadata::MetadataValue, transport::Endpoint};

use crate::Gateway;

const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
const MAX_UPDATE_BYTES: usize = 512 << 20;

/// Runs forever: connect, stream, reconnect.
pub async fn run(gw: Arc<Gateway>, endpoint: String, node_id: String) {
    let mut backoff = MIN_BACKOFF;
    loop {
        match stream_once(&gw, &endpoint, &node_id).await {
            Ok(()) => {
                tracing::warn!(%endpoint, "control plane closed the config stream");
                backoff = MIN_BACKOFF;
            }
            Err(e) => {
                tracing::warn!(%endpoint, error = %e, "config stream failed; serving the last applied config")
            }
        }
        let jitter = Duration::from_millis(rand::random_range(0..=backoff.as_millis() as u64 / 2));
        tokio::time::sleep(backoff + jitter).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn stream_once(gw: &Gateway, endpoint: &str, node_id: &str) -> anyhow::Result<()> {
    let mut channel = Endpoint::from_shared(endpoint.to_owned())?;
    if endpoint.starts_with("https://") {
        // The platform's roots, or SSL_CERT_FILE / SSL_CERT_DIR.
        channel = channel.tls_config(tonic::transport::ClientTlsConfig::new().with_native_roots())?;
    }
    let channel = channel
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(5))
        .connect()
        .await?;
    let token = gw.node_token(node_id);
    let mut client = ConfigServiceClient::with_interceptor(channel, move |mut req: Request<()>| {
        if let Some(t) = &token {
            let v = MetadataValue::try_from(format!("Bearer {t}")).expect("a JWT is a valid header value");
            req.metadata_mut().insert("authorization", v);
        }
        Ok(req)
    })
    // A full snapshot of a large registry is one message.
    .max_decoding_message_size(MAX_UPDATE_BYTES);
    let (tx, rx) = mpsc::channel(4);
    let held = gw.snapshot.load();
    let hello = NodeHello {
        node_id: node_id.to_owned(),
        epoch: held.epoch.clone(),
        version: held.version,
    };
    tx.send(StreamConfigRequest {
        message: Some(Message::Hello(hello)),
    })
    .await?;
    let mut updates = client.stream_config(ReceiverStream::new(rx)).await?.into_inner();
    tracing::info!(%endpoint, held = held.version, "config stream open");
    drop(held);
    while let Some(msg) = updates.message().await? {
        let Some(update) = msg.update else { continue };
        let current = gw.snapshot.load_full();
        let reply = match current.apply(&update) {
            Ok(next) => {
                tracing::info!(
                    version = next.version,
                    tools = next.routes.tool_count(),
                    "applied config"
                );
                gw.install(next);
                Message::Ack(ConfigAck {
                    version: update.version,
                })
            }
            Err(errors) => {
                tracing::error!(version = update.version, ?errors, "refused config update");
                Message::Nack(ConfigNack {
                    version: update.version,
                    errors,
                })
            }
        };
        tx.send(StreamConfigRequest { message: Some(reply) }).await?;
    }
    Ok(())
}
