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

mod notice;
mod pipe;
mod shared;

use std::{sync::Mutex, time::Duration};

use tokio::sync::mpsc;

pub use notice::Notice;
pub use pipe::Received;

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

    /// Stores `value` under the fleet's `name` for `ttl`, for any node to
    /// read ([`Fleet::records`]); nothing without Redis.
    pub async fn put_record(&self, name: &str, value: &str, ttl: Duration) -> redis::RedisResult<()> {
        match &self.shared {
            Some(s) => s.put(&s.key(name), value, ttl).await,
            None => Ok(()),
        }
    }

    /// What is stored under each of the fleet's `names` (all `None`
    /// without Redis).
    pub async fn records(&self, names: &[String]) -> redis::RedisResult<Vec<Option<String>>> {
        match &self.shared {
            Some(s) => {
                let keys: Vec<String> = names.iter().map(|n| s.key(n)).collect();
                s.get_all(&keys).await
            }
            None => Ok(vec![None; names.len()]),
        }
    }

    /// Keeps each of the fleet's `names` alive for `ttl` more (this node
    /// still does what they say).
    pub fn renew(&self, names: impl IntoIterator<Item = String>, ttl: Duration) {
        if let Some(s) = &self.shared {
            let keys: Vec<String> = names.into_iter().map(|n| s.key(&n)).collect();
            if !keys.is_empty() {
                s.renew(keys, ttl);
            }
        }
    }

    /// Whether some node of the fleet holds legacy SSE stream `id`.
    pub async fn holds_stream(&self, id: &str) -> bool {
        match &self.shared {
            Some(s) => s.has_key(&s.sse_key(id)).await,
            None => false,
        }
    }

    /// The notices for this node to apply, for the one task that applies
    /// them (`None` after the first call).
    pub fn take_inbox(&self) -> Option<mpsc::UnboundedReceiver<Notice>> {
        self.inbox.lock().expect("poisoned").take()
    }

    /// Sessions the fleet deleted before this node joined, with when each
    /// expires (Unix seconds).
    pub fn revoked_before(&self) -> &[([u8; 16], u64)] {
        &self.revoked_before
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
