//! What the nodes of a fleet tell each other.
//!
//! Any node can serve any request, but some things happen on one node and
//! matter on another. A client's cancel lands on a node that is not relaying
//! the call. A backend's resource update reaches the node that relayed the
//! subscribe while the client's stream is open on another. A deleted
//! session must be refused by every node. Each is a [`Notice`] told to the
//! whole fleet; every node applies it and ignores what it holds nothing for.
//!
//! With `REDIS_URL`, notices travel on one Redis pub/sub channel that every
//! node subscribes to (see [`shared`]). Without it the node is a fleet of
//! one and notices loop back in-process: one path either way.

mod listeners;
mod notice;
mod shared;

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

pub use listeners::Listeners;
pub use notice::Notice;

use crate::{
    Gateway,
    dispatch::subscriptions::{self, Removed},
};

/// Where a node finds its fleet.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct FleetArgs {
    /// Redis shared by the data planes of one fleet (`redis://host:port/db`).
    /// Without it, each node is on its own: cancels, resource updates and
    /// session deletes reach only the node they land on.
    #[arg(long = "redis-url", env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// Prefix of this fleet's Redis keys and channel, so fleets can share one
    /// Redis.
    #[arg(long = "redis-prefix", env = "MCPGW_REDIS_PREFIX", default_value = "mcpgw")]
    pub redis_prefix: String,
}

pub struct Fleet {
    shared: Option<shared::Shared>,
    /// Notices for this node to apply: heard from Redis, or told in-process.
    heard: mpsc::UnboundedSender<Notice>,
    inbox: Mutex<Option<mpsc::UnboundedReceiver<Notice>>>,
    /// Sessions the fleet deleted before this node joined, with when each
    /// expires.
    revoked_before: Vec<([u8; 16], u64)>,
    /// Open standalone streams on this node, by session.
    pub listeners: Listeners,
}

impl Fleet {
    /// A fleet of one node.
    pub fn alone() -> Self {
        let (heard, inbox) = mpsc::unbounded_channel();
        Self {
            shared: None,
            heard,
            inbox: Mutex::new(Some(inbox)),
            revoked_before: Vec::new(),
            listeners: Listeners::default(),
        }
    }

    /// Joins the fleet `args` names (connecting to its Redis), or none.
    pub async fn join(args: &FleetArgs) -> anyhow::Result<Self> {
        let mut fleet = Self::alone();
        if let Some(url) = &args.redis_url {
            let shared = shared::Shared::connect(url, &args.redis_prefix, fleet.heard.clone()).await?;
            fleet.revoked_before = shared.revoked().await;
            fleet.shared = Some(shared);
        }
        Ok(fleet)
    }

    /// Whether other nodes can hear this one.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// The fleet's Redis and key prefix, if it has one.
    pub fn redis(&self) -> Option<(&redis::Client, &str)> {
        self.shared.as_ref().map(|s| (&s.client, s.prefix.as_str()))
    }

    /// Says that this node holds legacy SSE stream `id`, so the others pass
    /// it the messages POSTed for it (until [`Fleet::release_stream`]).
    pub fn hold_stream(&self, id: &str, ttl: std::time::Duration) {
        if let Some(s) = &self.shared {
            s.hold_key(s.sse_key(id), ttl);
        }
    }

    pub fn release_stream(&self, id: &str) {
        if let Some(s) = &self.shared {
            s.drop_key(s.sse_key(id));
        }
    }

    /// Whether some node of the fleet holds legacy SSE stream `id`.
    pub async fn holds_stream(&self, id: &str) -> bool {
        match &self.shared {
            Some(s) => s.has_key(&s.sse_key(id)).await,
            None => false,
        }
    }

    /// Tells every node of the fleet, this one included.
    pub fn tell(&self, notice: Notice) {
        match &self.shared {
            Some(shared) => shared.publish(notice),
            None => {
                // The receiver lives as long as the node.
                let _ = self.heard.send(notice);
            }
        }
    }
}

/// Applies what the fleet tells this node, and tells the fleet about the
/// resource updates this node's backend sessions hear, until the node stops.
pub fn run(gw: &Arc<Gateway>) {
    let inbox = gw.fleet.inbox.lock().expect("poisoned").take();
    let Some(mut inbox) = inbox else {
        return;
    };
    for &(session, until) in &gw.fleet.revoked_before {
        gw.sessions.revoke(session, until);
    }
    let applying = gw.clone();
    tokio::spawn(async move {
        while let Some(notice) = inbox.recv().await {
            apply(&applying, notice);
        }
    });
    let gw = gw.clone();
    let mut updates = gw.upstream.updates();
    tokio::spawn(async move {
        loop {
            match updates.recv().await {
                Ok(update) => {
                    for (session, message) in gw.subscriptions.notify(&update) {
                        gw.fleet.tell(Notice::Event { session, message });
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "resource updates came faster than they could be passed on");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

fn apply(gw: &Arc<Gateway>, notice: Notice) {
    match notice {
        Notice::Cancel { session, id } => {
            gw.calls.cancel(session, &id);
        }
        Notice::Event { session, message } => gw.fleet.listeners.deliver(session, &message),
        Notice::Revoke { session, until } => {
            gw.sessions.revoke(session, until);
            subscriptions::end(gw, session);
            gw.fleet.listeners.close(session);
        }
        Notice::Message {
            session,
            principal,
            body,
        } => crate::transport::SseStreams::deliver_forwarded(gw, session, &principal, body),
        Notice::Unsubscribe { session, uri } => {
            if let Removed::Released { backend_id, uri } = gw.subscriptions.remove(session, &uri) {
                gw.upstream.unsubscribe(&backend_id, &uri);
            }
        }
        Notice::Resume {
            session,
            stream,
            after,
            ticket,
        } => {
            if let Some((redis, prefix)) = gw.fleet.redis() {
                crate::resume::remote::mirror(&gw.resumable, redis, prefix, session, stream, after, ticket);
            }
        }
    }
}
