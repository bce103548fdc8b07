//! Peer gateways: `FEDERATION_PEERS`, registered when the control plane
//! starts, each retried until it is (a peer may start later; one already
//! registered, by its URL, is left as it is), and FEDERATION_DISCOVERY's
//! offers: the gateways registered peers say they federate with.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use mcpgw_proto::v1::{self as pb, backend_credentials::Auth, registry_service_server::RegistryService};
use serde::Deserialize;
use tonic::Request;

use mcpgw_data_plane::protocol::OfferedPeer;

use super::grpc::RegistryApi;

/// One peer as `FEDERATION_PEERS` gives it: a URL, or a name, URL and
/// bearer token.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Peer {
    Url(String),
    Full {
        #[serde(default)]
        name: Option<String>,
        url: String,
        #[serde(default)]
        token: Option<String>,
    },
}

impl Peer {
    fn url(&self) -> &str {
        match self {
            Self::Url(u) | Self::Full { url: u, .. } => u,
        }
    }

    /// Its name: as given, else made of its URL's host and port.
    fn name(&self) -> String {
        if let Self::Full { name: Some(n), .. } = self {
            return n.clone();
        }
        let host = reqwest::Url::parse(self.url())
            .ok()
            .map(|u| {
                format!(
                    "{}-{}",
                    u.host_str().unwrap_or("peer"),
                    u.port_or_known_default().unwrap_or(0)
                )
            })
            .unwrap_or_else(|| "peer".into());
        format!("peer-{host}")
    }

    fn request(&self) -> pb::CreateBackendRequest {
        let credentials = match self {
            Self::Full { token: Some(t), .. } => Some(pb::BackendCredentials {
                auth: Some(Auth::Bearer(pb::BearerAuth { token: t.clone() })),
                ..Default::default()
            }),
            _ => None,
        };
        pb::CreateBackendRequest {
            name: self.name(),
            url: self.url().to_owned(),
            credentials,
            ..Default::default()
        }
    }
}

/// The peers `FEDERATION_PEERS` lists; an error says what is wrong with it.
pub fn parse(json: &str) -> anyhow::Result<Vec<Peer>> {
    serde_json::from_str(json)
        .context("FEDERATION_PEERS must be a JSON list of peer URLs or of {\"name\", \"url\", \"token\"} objects")
}

/// Registers `peers` in the background, each again every `retry` until it
/// is registered.
pub fn spawn(api: Arc<RegistryApi>, mut peers: Vec<Peer>, retry: Duration) {
    tokio::spawn(async move {
        loop {
            let mut left = Vec::new();
            for peer in peers {
                match register(&api, &peer).await {
                    Ok(()) => {}
                    Err(e) => {
                        tracing::warn!(peer = peer.url(), error = %e, "cannot register a FEDERATION_PEERS peer yet");
                        left.push(peer);
                    }
                }
            }
            if left.is_empty() {
                return;
            }
            peers = left;
            tokio::time::sleep(retry).await;
        }
    });
}

async fn register(api: &RegistryApi, peer: &Peer) -> Result<(), tonic::Status> {
    let registered = super::grpc::all_backends(&api.registry).await?;
    if registered.iter().any(|b| b.url == peer.url()) {
        return Ok(());
    }
    let created = api.create_backend(Request::new(peer.request())).await?;
    if let Some(b) = created.into_inner().backend {
        tracing::info!(peer = %b.url, name = %b.name, tools = b.tool_count, "registered a FEDERATION_PEERS peer");
    }
    Ok(())
}

/// What the registered peers say they federate with (FEDERATION_DISCOVERY)
/// and is not registered here, by URL or gateway id, nor this gateway
/// itself: each gateway once, by name, with the peers that offer it.
pub async fn offers(api: &RegistryApi) -> Result<Vec<pb::PeerOffer>, tonic::Status> {
    if !api.dist.shares_peers() {
        return Err(tonic::Status::failed_precondition(
            "peer offers need FEDERATION_DISCOVERY=true on this gateway (and on the peers that offer theirs)",
        ));
    }
    let own = api.registry.epoch().await?;
    let backends = super::grpc::all_backends(&api.registry).await?;
    let registered = |p: &OfferedPeer| {
        p.id == own
            || backends
                .iter()
                .any(|b| b.url == p.url || (!b.peer_gateway_id.is_empty() && b.peer_gateway_id == p.id))
    };
    let mut offers: Vec<pb::PeerOffer> = Vec::new();
    for b in backends.iter().filter(|b| b.enabled && !b.offered_peers.is_empty()) {
        let Ok(peers) = serde_json::from_str::<Vec<OfferedPeer>>(&b.offered_peers) else {
            continue;
        };
        for p in peers.into_iter().filter(|p| !registered(p)) {
            match offers.iter_mut().find(|o| o.gateway_id == p.id) {
                Some(o) => o.offered_by.push(b.name.clone()),
                None => offers.push(pb::PeerOffer {
                    name: p.name,
                    url: p.url,
                    gateway_id: p.id,
                    offered_by: vec![b.name.clone()],
                }),
            }
        }
    }
    offers.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    Ok(offers)
}
