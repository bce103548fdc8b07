//! The fleet over Redis. One pub/sub channel (`<prefix>:fleet`) carries
//! notices to every node, the sender included. Deleted sessions are also
//! kept in a sorted set (`<prefix>:revoked`, scored by when each would have
//! expired) that a starting node reads, so a node that joins later refuses
//! them too.
//!
//! Telling is fire-and-forget for the caller: notices queue for one task,
//! which sends them in order. The connection reconnects and re-subscribes by
//! itself; a notice told while Redis is unreachable is lost (and logged),
//! and the node keeps serving what it can alone.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use redis::{
    AsyncCommands, PushInfo, PushKind, Value,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use tokio::sync::mpsc;

use super::Notice;

pub struct Shared {
    /// For connections of their own (blocking reads).
    pub client: redis::Client,
    pub prefix: String,
    conn: ConnectionManager,
    revoked_key: String,
    outbox: mpsc::Sender<Notice>,
}

/// Notices queued while Redis is slow or away; past that they are dropped.
const QUEUED: usize = 8192;

impl Shared {
    /// Connects, subscribes, and passes what is heard to `heard`.
    pub async fn connect(url: &str, prefix: &str, heard: mpsc::UnboundedSender<Notice>) -> anyhow::Result<Self> {
        // Pub/sub on the command connection needs RESP3 (Redis 6 or later).
        let url = match (url.contains("protocol="), url.contains('?')) {
            (true, _) => url.to_owned(),
            (false, true) => format!("{url}&protocol=resp3"),
            (false, false) => format!("{url}?protocol=resp3"),
        };
        // The URL may hold a password: errors do not repeat it.
        let client = redis::Client::open(url.as_str()).context("REDIS_URL is not a Redis URL")?;
        let (pushes, mut pushed) = mpsc::unbounded_channel::<PushInfo>();
        let config = ConnectionManagerConfig::new()
            .set_push_sender(pushes)
            .set_automatic_resubscription()
            .set_connection_timeout(Some(Duration::from_secs(5)));
        let mut conn = client
            .get_connection_manager_with_config(config)
            .await
            .context("cannot connect to the Redis at REDIS_URL")?;
        let channel = format!("{prefix}:fleet");
        conn.subscribe(&channel)
            .await
            .context("cannot subscribe to the fleet's Redis channel")?;
        tokio::spawn(async move {
            while let Some(push) = pushed.recv().await {
                if push.kind != PushKind::Message {
                    continue;
                }
                let Some(Value::BulkString(payload)) = push.data.get(1) else {
                    continue;
                };
                match Notice::decode(payload) {
                    Some(notice) => {
                        if heard.send(notice).is_err() {
                            return;
                        }
                    }
                    None => tracing::debug!("ignored a fleet notice this version does not know"),
                }
            }
        });
        let revoked_key = format!("{prefix}:revoked");
        let (outbox, mut queue) = mpsc::channel::<Notice>(QUEUED);
        let mut publisher = conn.clone();
        let revoked = revoked_key.clone();
        tokio::spawn(async move {
            while let Some(notice) = queue.recv().await {
                let mut pipe = redis::pipe();
                if let Notice::Revoke { session, until } = &notice {
                    // The set lives as long as its latest entry needs it.
                    pipe.zadd(&revoked, session.as_slice(), *until).ignore();
                    for when in ["NX", "GT"] {
                        pipe.cmd("EXPIREAT").arg(&revoked).arg(*until).arg(when).ignore();
                    }
                }
                pipe.publish(&channel, notice.encode()).ignore();
                if let Err(e) = pipe.query_async::<()>(&mut publisher).await {
                    tracing::warn!(error = %e, "could not tell the fleet; the notice is lost");
                }
            }
        });
        Ok(Self {
            client,
            prefix: prefix.to_owned(),
            conn,
            revoked_key,
            outbox,
        })
    }

    /// The fleet's key `name`, under this fleet's prefix.
    pub fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    /// The key that says a node holds legacy SSE stream `id`.
    pub fn sse_key(&self, id: &str) -> String {
        self.key(&format!("sse:{id}"))
    }

    /// Marks `key` as held by this node, for `ttl` or until [`Shared::drop_key`].
    pub fn hold_key(&self, key: String, ttl: Duration) {
        let mut conn = self.conn.clone();
        tokio::spawn(async move {
            if let Err(e) = conn.set_ex::<_, _, ()>(&key, 1, ttl.as_secs().max(1)).await {
                tracing::warn!(error = %e, "could not tell the fleet about a legacy SSE stream");
            }
        });
    }

    pub fn drop_key(&self, key: String) {
        let mut conn = self.conn.clone();
        tokio::spawn(async move {
            let _ = conn.del::<_, ()>(&key).await;
        });
    }

    /// Stores `value` under `key` for `ttl`.
    pub async fn put(&self, key: &str, value: &str, ttl: Duration) -> redis::RedisResult<()> {
        self.conn.clone().pset_ex(key, value, millis(ttl)).await
    }

    /// The values stored under `keys`, in order.
    pub async fn get_all(&self, keys: &[String]) -> redis::RedisResult<Vec<Option<String>>> {
        redis::cmd("MGET").arg(keys).query_async(&mut self.conn.clone()).await
    }

    /// Keeps each of `keys` alive for `ttl` more.
    pub fn renew(&self, keys: Vec<String>, ttl: Duration) {
        let mut conn = self.conn.clone();
        let ms = millis(ttl);
        tokio::spawn(async move {
            let mut pipe = redis::pipe();
            for key in &keys {
                pipe.pset_ex(key, 1, ms).ignore();
            }
            if let Err(e) = pipe.query_async::<()>(&mut conn).await {
                tracing::warn!(error = %e, "could not renew this node's keys in the fleet's Redis");
            }
        });
    }

    pub async fn has_key(&self, key: &str) -> bool {
        self.conn.clone().exists(key).await.unwrap_or(false)
    }

    pub fn publish(&self, notice: Notice) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.outbox.try_send(notice) {
            tracing::warn!("the fleet's Redis is not keeping up; a notice was dropped");
        }
    }

    /// Sessions deleted fleet-wide that have not expired yet (and forgets
    /// those that have).
    pub async fn revoked(&self) -> Vec<([u8; 16], u64)> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut pipe = redis::pipe();
        pipe.zrembyscore(&self.revoked_key, "-inf", now)
            .ignore()
            .zrangebyscore_withscores(&self.revoked_key, now, "+inf");
        match pipe.query_async::<(Vec<(Vec<u8>, u64)>,)>(&mut self.conn.clone()).await {
            Ok((all,)) => all
                .into_iter()
                .filter_map(|(session, until)| Some((session.try_into().ok()?, until)))
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the fleet's deleted sessions");
                Vec::new()
            }
        }
    }
}

/// `ttl` as Redis' milliseconds: at least one (zero would be refused).
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}
