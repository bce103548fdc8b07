//! The config stream to the control plane: one task per data plane that owns
//! it. It says hello with the version held, applies each update into a new
//! snapshot, stores it with one `ArcSwap::store`, and ACKs, or NACKs with
//! per-resource errors and keeps serving the old snapshot. When the control
//! plane goes away the node keeps serving and reconnects with backoff, to
//! the next of the control plane's replicas when it knows several.

use std::{sync::Arc, time::Duration};

use mcpgw_proto::v1::{
    BackendChanged, ConfigAck, ConfigNack, NodeHello, StreamConfigRequest, config_service_client::ConfigServiceClient,
    stream_config_request::Message,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, metadata::MetadataValue, transport::Endpoint};

use super::saved::Saved;
use crate::Gateway;

const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
const MAX_UPDATE_BYTES: usize = 512 << 20;

/// Where the control plane is, and how this node proves who it is there
/// over TLS when the control plane asks for client certificates.
#[derive(Clone)]
pub struct ControlPlane {
    /// Its replicas' URLs (at least one), tried in turn: the stream stays
    /// on one while it holds and moves to the next when it fails or ends
    /// (behind a Service, one URL that balances is enough).
    pub urls: Vec<String>,
    pub identity: Option<tonic::transport::Identity>,
}

impl ControlPlane {
    pub fn plain(url: String) -> Self {
        Self {
            urls: vec![url],
            identity: None,
        }
    }

    /// The replicas named by `list` (comma-separated URLs); an error
    /// naming the first that is not one.
    pub fn replicas(list: &str) -> anyhow::Result<Vec<String>> {
        let urls: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect();
        anyhow::ensure!(!urls.is_empty(), "MCPGW_CONTROL_PLANE names no control plane URL");
        for url in &urls {
            Endpoint::from_shared(url.clone())
                .map_err(|e| anyhow::anyhow!("MCPGW_CONTROL_PLANE: {url:?} is not a URL ({e})"))?;
        }
        Ok(urls)
    }

    /// The gRPC endpoint at `url`: over `https://` trusting the platform's
    /// roots or `SSL_CERT_FILE` / `SSL_CERT_DIR`, with this node's
    /// certificate if it has one.
    fn endpoint(&self, url: &str) -> anyhow::Result<Endpoint> {
        let mut endpoint = Endpoint::from_shared(url.to_owned())?;
        if url.starts_with("https://") {
            let mut tls = tonic::transport::ClientTlsConfig::new().with_native_roots();
            if let Some(identity) = &self.identity {
                tls = tls.identity(identity.clone());
            }
            endpoint = endpoint.tls_config(tls)?;
        }
        Ok(endpoint)
    }
}

/// Runs forever: connect, stream, reconnect (to the next replica, if
/// several are known; the hello says the version held, so the one taking
/// over sends only what the node missed). Backends that said their lists
/// changed are told to the control plane on the stream. With `saved`, each
/// applied config is kept on disk too.
pub async fn run(gw: Arc<Gateway>, control_plane: ControlPlane, node_id: String, saved: Option<Saved>) {
    let mut backoff = MIN_BACKOFF;
    let (_none, unused) = mpsc::channel(1);
    let mut changes = gw.take_backend_changes().unwrap_or(unused);
    let mut at = 0;
    loop {
        let endpoint = &control_plane.urls[at];
        match stream_once(&gw, &control_plane, endpoint, &node_id, &mut changes, saved.as_ref()).await {
            Ok(()) => {
                tracing::warn!(%endpoint, "control plane closed the config stream");
                backoff = MIN_BACKOFF;
            }
            Err(e) => {
                tracing::warn!(%endpoint, error = %e, "config stream failed; serving the last applied config")
            }
        }
        // The next replica is tried at once; a whole round that failed
        // waits, longer each time.
        at = (at + 1) % control_plane.urls.len();
        if at != 0 {
            continue;
        }
        let jitter = Duration::from_millis(rand::random_range(0..=backoff.as_millis() as u64 / 2));
        tokio::time::sleep(backoff + jitter).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn stream_once(
    gw: &Gateway,
    control_plane: &ControlPlane,
    url: &str,
    node_id: &str,
    changes: &mut mpsc::Receiver<Arc<str>>,
    saved: Option<&Saved>,
) -> anyhow::Result<()> {
    let channel = control_plane
        .endpoint(url)?
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
    tracing::info!(endpoint = %url, held = held.version, "config stream open");
    drop(held);
    loop {
        let msg = tokio::select! {
            msg = updates.message() => match msg? {
                Some(msg) => msg,
                None => return Ok(()),
            },
            Some(id) = changes.recv() => {
                let changed = BackendChanged { backend_id: id.to_string() };
                tx.send(StreamConfigRequest { message: Some(Message::BackendChanged(changed)) }).await?;
                continue;
            }
        };
        let Some(update) = msg.update else { continue };
        let reply = match gw.apply(&update) {
            Ok(next) => {
                tracing::info!(
                    version = next.version,
                    tools = next.routes.tool_count(),
                    "applied config"
                );
                if let Some(saved) = saved
                    && let Err(e) = saved.save(&next).await
                {
                    tracing::warn!(error = %e, "cannot save the applied config to MCPGW_SNAPSHOT_DIR");
                }
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
}
