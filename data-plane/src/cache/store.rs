//! Where cached results are kept: a bounded in-memory LRU with a TTL per
//! entry (moka), or Redis keys with a TTL (`SET … PX`), shared by every data
//! plane of a fleet. Writes and removals to Redis go out in the background;
//! a read waits at most [`REDIS_READ_TIMEOUT`] before it counts as a miss.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use moka::{Expiry, sync::Cache};
use redis::{
    AsyncCommands,
    aio::{ConnectionManager, ConnectionManagerConfig},
};

/// The longest a lookup waits for Redis; a slower Redis is a miss, so the
/// call goes to the backend instead of waiting on the cache.
const REDIS_READ_TIMEOUT: Duration = Duration::from_millis(250);

pub enum Store {
    None,
    Memory(Cache<String, Entry>),
    Redis { conn: ConnectionManager, prefix: String },
}

/// Whether a stored answer went stale while it was being stored.
pub type Stale = Box<dyn Fn() -> bool + Send + Sync>;

#[derive(Clone)]
pub struct Entry {
    body: Arc<str>,
    ttl: Duration,
}

/// Each entry lives for its own TTL.
struct PerEntry;

impl Expiry<String, Entry> for PerEntry {
    fn expire_after_create(&self, _key: &String, value: &Entry, _at: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

impl Store {
    /// An in-memory store of at most `max_bytes` of keys and results.
    pub fn memory(max_bytes: u64) -> Self {
        let cache = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &String, v: &Entry| u32::try_from(k.len() + v.body.len()).unwrap_or(u32::MAX))
            .expire_after(PerEntry)
            .build();
        Self::Memory(cache)
    }

    /// A store in the Redis at `url`, its keys under `<prefix>:cache:`.
    pub async fn redis(url: &str, prefix: &str) -> anyhow::Result<Self> {
        // The URL may hold a password: errors do not repeat it.
        let client = redis::Client::open(url).context("REDIS_URL is not a Redis URL")?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(5)));
        let conn = client
            .get_connection_manager_with_config(config)
            .await
            .context("cannot connect to the Redis at REDIS_URL for the response cache")?;
        Ok(Self::Redis {
            conn,
            prefix: format!("{prefix}:cache:"),
        })
    }

    pub fn is_none(&self) -> bool {
        matches!(self, Self::None)
    }

    pub async fn get(&self, key: &str) -> Option<Arc<str>> {
        match self {
            Self::None => None,
            Self::Memory(c) => c.get(key).map(|e| e.body),
            Self::Redis { conn, prefix } => {
                let mut conn = conn.clone();
                let read = conn.get::<_, Option<String>>(format!("{prefix}{key}"));
                match tokio::time::timeout(REDIS_READ_TIMEOUT, read).await {
                    Ok(Ok(hit)) => hit.map(Arc::from),
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "response cache read failed; asking the backend");
                        None
                    }
                    Err(_) => {
                        tracing::debug!("response cache read timed out; asking the backend");
                        None
                    }
                }
            }
        }
    }

    /// Stores `body` under `key`, then takes it out again if `stale` says
    /// (once it is stored) that what it answers changed meanwhile.
    pub fn put(&self, key: String, body: Arc<str>, ttl: Duration, stale: Option<Stale>) {
        let stale = move || stale.as_ref().is_some_and(|s| s());
        match self {
            Self::None => {}
            Self::Memory(c) => {
                c.insert(key.clone(), Entry { body, ttl });
                if stale() {
                    c.invalidate(&key);
                }
            }
            Self::Redis { conn, prefix } => {
                let mut conn = conn.clone();
                let key = format!("{prefix}{key}");
                let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
                spawn(async move {
                    let set: redis::RedisResult<()> = conn.pset_ex(&key, &*body, ms).await;
                    if let Err(e) = set {
                        tracing::debug!(error = %e, "response cache write failed");
                    } else if stale() {
                        let _: redis::RedisResult<()> = conn.del(&key).await;
                    }
                });
            }
        }
    }

    /// Removes `key`; done when the store no longer has it (or could not
    /// be reached in time).
    pub async fn remove(&self, key: String) {
        match self {
            Self::None => {}
            Self::Memory(c) => c.invalidate(&key),
            Self::Redis { conn, prefix } => {
                let mut conn = conn.clone();
                let del = conn.del::<_, ()>(format!("{prefix}{key}"));
                match tokio::time::timeout(REDIS_READ_TIMEOUT * 4, del).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "could not drop a changed resource from the response cache")
                    }
                    Err(_) => tracing::warn!("timed out dropping a changed resource from the response cache"),
                }
            }
        }
    }
}

/// Runs `f` on the current runtime, if there is one.
fn spawn(f: impl std::future::Future<Output = ()> + Send + 'static) {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(f);
    }
}
