//! The response cache: `resources/read` results, and the results of tools
//! an operator opted in (only tools annotated as changing nothing), kept for
//! a TTL in this node's memory or in a Redis every data plane shares
//! (`CACHE_TYPE`, Context Forge's name).
//!
//! Keys hold the config version the backend (and for a tool, the tool) last
//! changed at, so a registry change invalidates what was cached under the
//! old config on every node at once, with no message between them; entries
//! of old versions are never read again and age out. A backend's
//! `notifications/resources/updated` drops the entry for that URI.
//!
//! The cache never fails a call: a store that is slow or away is a miss,
//! and a result that cannot be stored is just not stored.

pub mod hint;
mod key;
mod store;

use std::{
    hash::{Hash, Hasher},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use serde_json::value::RawValue;

use crate::jsonrpc::RawObject;
use key::CacheKey;
use store::Store;

/// Where cached results live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CacheType {
    /// In this node's memory: bounded, least recently used out first.
    Memory,
    /// In the Redis at `REDIS_URL`, shared by every data plane.
    Redis,
    /// Nothing is cached.
    None,
}

/// How a data plane caches.
#[derive(Clone, Debug, clap::Args)]
pub struct CacheArgs {
    /// Where results are cached (memory, redis or none).
    #[arg(long = "cache-type", env = "CACHE_TYPE", value_enum, default_value = "memory")]
    pub cache_type: CacheType,
    /// Seconds a resource read is cached for when neither the resource nor
    /// its backend sets a TTL; 0 caches only what sets one.
    #[arg(long = "resource-cache-ttl", env = "RESOURCE_CACHE_TTL", default_value_t = 60)]
    pub resource_ttl_secs: u64,
    /// Bytes the in-memory cache holds at most (keys and results).
    #[arg(long = "cache-max-bytes", env = "MCPGW_CACHE_MAX_BYTES", default_value_t = 64 << 20)]
    pub max_bytes: u64,
    /// Results larger than this many bytes are not cached.
    #[arg(long = "cache-max-entry-bytes", env = "MCPGW_CACHE_MAX_ENTRY_BYTES", default_value_t = 1 << 20)]
    pub max_entry_bytes: usize,
}

impl Default for CacheArgs {
    fn default() -> Self {
        Self {
            cache_type: CacheType::Memory,
            resource_ttl_secs: 60,
            max_bytes: 64 << 20,
            max_entry_bytes: 1 << 20,
        }
    }
}

/// The TTL settings and version an item's results are cached by (a
/// backend's for its resources, a tool's for its results).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Caching {
    /// Seconds, as the registry says: `None` is the default, 0 is never.
    pub ttl_secs: Option<u32>,
    /// The config version it last changed at.
    pub version: u64,
}

/// A node's response cache; cheap to clone.
#[derive(Clone)]
pub struct ResponseCache {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    resource_ttl: Duration,
    max_entry_bytes: usize,
    changes: Changes,
}

/// How many stripes [`Changes`] counts in.
const STRIPES: usize = 64;

/// Counts of resources said to have changed, striped over resource keys. A
/// read that was sent before its resource changed may come back after the
/// cached entry was dropped; its answer is then stale, and a changed count
/// keeps it out of the store. Bounded whatever the backends say; a stripe
/// shared with another resource only costs that one a fill.
struct Changes([AtomicU64; STRIPES]);

impl Changes {
    fn stripe(key: &CacheKey) -> usize {
        let mut h = std::hash::DefaultHasher::new();
        key.0.hash(&mut h);
        (h.finish() % STRIPES as u64) as usize
    }

    fn seen(&self, stripe: usize) -> u64 {
        self.0[stripe].load(Ordering::Acquire)
    }

    fn bump(&self, stripe: usize) {
        self.0[stripe].fetch_add(1, Ordering::AcqRel);
    }
}

/// What a lookup found.
pub enum Lookup {
    /// The cached `result` member of the response.
    Hit(Arc<str>),
    /// Not cached: with what stores the answer once it comes, if it may be
    /// cached.
    Miss(Option<Fill>),
}

impl ResponseCache {
    /// A cache that keeps nothing.
    pub fn none() -> Self {
        Self::with_store(Store::None, &CacheArgs::default())
    }

    /// The cache `args` asks for; `redis` is the fleet's Redis URL and key
    /// prefix, which `CACHE_TYPE=redis` needs.
    pub async fn connect(args: &CacheArgs, redis: Option<(&str, &str)>) -> anyhow::Result<Self> {
        let store = match (args.cache_type, redis) {
            (CacheType::None, _) => Store::None,
            (CacheType::Memory, _) => Store::memory(args.max_bytes),
            (CacheType::Redis, Some((url, prefix))) => Store::redis(url, prefix).await?,
            (CacheType::Redis, None) => anyhow::bail!(
                "CACHE_TYPE=redis needs REDIS_URL, the Redis every data plane shares; set it, or use CACHE_TYPE=memory"
            ),
        };
        Ok(Self::with_store(store, args))
    }

    fn with_store(store: Store, args: &CacheArgs) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                resource_ttl: Duration::from_secs(args.resource_ttl_secs),
                max_entry_bytes: args.max_entry_bytes,
                changes: Changes(std::array::from_fn(|_| AtomicU64::new(0))),
            }),
        }
    }

    /// How long a read of a resource is cached: the resource's own TTL,
    /// else its backend's, else the node's default; `None` for not at all.
    fn resource_ttl(&self, item: Option<u32>, backend: Option<u32>) -> Option<Duration> {
        let ttl = match item.or(backend) {
            Some(secs) => Duration::from_secs(secs.into()),
            None => self.inner.resource_ttl,
        };
        (!ttl.is_zero() && !self.inner.store.is_none()).then_some(ttl)
    }

    /// Looks up a read of `uri` (as the backend names it); `item` is the
    /// listed resource's own TTL, if it has one.
    pub async fn resource(&self, backend_id: &str, backend: Caching, item: Option<u32>, uri: &str) -> Lookup {
        let Some(ttl) = self.resource_ttl(item, backend.ttl_secs) else {
            return Lookup::Miss(None);
        };
        self.lookup(CacheKey::resource(backend_id, backend.version, uri), ttl, false)
            .await
    }

    /// Looks up a call of tool `name` with `arguments`; only a tool with a
    /// TTL of its own is cached.
    pub async fn tool(
        &self,
        backend_id: &str,
        backend: Caching,
        tool: Caching,
        name: &str,
        arguments: Option<&RawValue>,
    ) -> Lookup {
        let ttl = match tool.ttl_secs {
            Some(secs) if secs > 0 && !self.inner.store.is_none() => Duration::from_secs(secs.into()),
            _ => return Lookup::Miss(None),
        };
        let key = CacheKey::tool(backend_id, backend.version, tool.version, name, arguments);
        self.lookup(key, ttl, true).await
    }

    async fn lookup(&self, key: CacheKey, ttl: Duration, tool: bool) -> Lookup {
        // Read before the request goes out: a change from here on counts.
        let seen = (!tool).then(|| {
            let stripe = Changes::stripe(&key);
            (stripe, self.inner.changes.seen(stripe))
        });
        match self.inner.store.get(&key.0).await {
            Some(hit) => Lookup::Hit(hit),
            None => Lookup::Miss(Some(Fill {
                cache: self.clone(),
                key,
                ttl,
                tool,
                seen,
            })),
        }
    }

    /// Drops the cached read of `uri` of a backend at config `version`
    /// (the backend said it changed); done once the store no longer has it.
    pub async fn invalidate_resource(&self, backend_id: &str, version: u64, uri: &str) {
        if self.inner.store.is_none() {
            return;
        }
        let key = CacheKey::resource(backend_id, version, uri);
        // Counted first: a fill that stores after this sees it and undoes
        // itself; one that stored before is dropped here.
        self.inner.changes.bump(Changes::stripe(&key));
        self.inner.store.remove(key.0).await;
    }
}

/// Stores the answer to a request that missed, once it comes: only a
/// result (never an error), and for a tool only one that is not a tool
/// error.
#[derive(Clone)]
pub struct Fill {
    cache: ResponseCache,
    key: CacheKey,
    ttl: Duration,
    tool: bool,
    /// For a resource read: its stripe of [`Changes`] and the count seen
    /// before the read went out.
    seen: Option<(usize, u64)>,
}

impl Fill {
    /// Stores `result` (the raw `result` member of the answer), for the
    /// fill's TTL or the backend's own `ttlMs` where that is shorter; never
    /// a result the backend says is `private` (this cache serves every
    /// caller) or not to keep (`ttlMs: 0`), nor a tool's error.
    pub fn result(&self, result: &str) {
        let inner = &self.cache.inner;
        if result.len() > inner.max_entry_bytes {
            return;
        }
        let mut ttl = self.ttl;
        // Cheap first: only a backend of the stateless era gives hints.
        let hinted = result.contains("\"ttlMs\"") || result.contains("\"cacheScope\"");
        if self.tool || hinted {
            let Ok(obj) = RawObject::parse(result) else { return };
            if self.tool && obj.get("isError").is_some_and(|e| e.get() == "true") {
                return;
            }
            let hint = hint::CacheHint::of(&obj);
            if hint.private {
                return;
            }
            if let Some(ms) = hint.ttl_ms {
                ttl = ttl.min(Duration::from_millis(ms));
            }
            if ttl.is_zero() {
                return;
            }
        }
        let stale = match self.seen {
            None => None,
            Some((stripe, seen)) => {
                if inner.changes.seen(stripe) != seen {
                    return;
                }
                let cache = self.cache.clone();
                Some(Box::new(move || cache.inner.changes.seen(stripe) != seen) as store::Stale)
            }
        };
        inner.store.put(self.key.0.clone(), result.into(), ttl, stale);
    }

    /// Stores the `result` of the JSON-RPC response `response`, if it has one.
    pub fn response(&self, response: &RawObject<'_>) {
        if let Some(result) = response.get("result") {
            self.result(result.get());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> ResponseCache {
        ResponseCache::with_store(Store::memory(1 << 20), &CacheArgs::default())
    }

    #[test]
    fn ttls_come_from_the_item_then_the_backend_then_the_default() {
        let c = memory();
        assert_eq!(c.resource_ttl(Some(5), Some(9)), Some(Duration::from_secs(5)));
        assert_eq!(c.resource_ttl(None, Some(9)), Some(Duration::from_secs(9)));
        assert_eq!(c.resource_ttl(None, None), Some(Duration::from_secs(60)));
        assert_eq!(c.resource_ttl(Some(0), Some(9)), None);
        assert_eq!(c.resource_ttl(None, Some(0)), None);
        assert_eq!(ResponseCache::none().resource_ttl(Some(5), None), None);
    }

    #[tokio::test]
    async fn results_are_kept_errors_and_tool_errors_are_not() {
        let c = memory();
        let backend = Caching {
            ttl_secs: None,
            version: 3,
        };
        let Lookup::Miss(Some(fill)) = c.resource("b", backend, None, "a://x").await else {
            panic!("a first read misses and may be cached");
        };
        fill.response(&RawObject::parse(r#"{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"m"}}"#).unwrap());
        assert!(matches!(c.resource("b", backend, None, "a://x").await, Lookup::Miss(_)));
        fill.response(&RawObject::parse(r#"{"jsonrpc":"2.0","id":1,"result":{"contents":[]}}"#).unwrap());
        let Lookup::Hit(hit) = c.resource("b", backend, None, "a://x").await else {
            panic!("a stored read is a hit");
        };
        assert_eq!(&*hit, r#"{"contents":[]}"#);
        // A backend's hints are kept: nothing private, nothing not to keep.
        for hinted in [
            r#"{"contents":[],"cacheScope":"private","ttlMs":60000}"#,
            r#"{"contents":[],"cacheScope":"public","ttlMs":0}"#,
        ] {
            let Lookup::Miss(Some(fill)) = c.resource("b", backend, None, "a://hinted").await else {
                panic!("not stored");
            };
            fill.result(hinted);
        }
        assert!(matches!(
            c.resource("b", backend, None, "a://hinted").await,
            Lookup::Miss(_)
        ));
        let Lookup::Miss(Some(fill)) = c.resource("b", backend, None, "a://hinted").await else {
            panic!("not stored");
        };
        fill.result(r#"{"contents":[],"cacheScope":"public","ttlMs":5000}"#);
        assert!(matches!(
            c.resource("b", backend, None, "a://hinted").await,
            Lookup::Hit(_)
        ));
        // The backend at another version is another entry.
        let moved = Caching { version: 4, ..backend };
        assert!(matches!(c.resource("b", moved, None, "a://x").await, Lookup::Miss(_)));
        c.invalidate_resource("b", 3, "a://x").await;
        assert!(matches!(c.resource("b", backend, None, "a://x").await, Lookup::Miss(_)));

        let tool = Caching {
            ttl_secs: Some(30),
            version: 7,
        };
        let Lookup::Miss(Some(fill)) = c.tool("b", backend, tool, "t", None).await else {
            panic!("an opted-in tool may be cached");
        };
        fill.result(r#"{"content":[],"isError":true}"#);
        assert!(matches!(c.tool("b", backend, tool, "t", None).await, Lookup::Miss(_)));
        fill.result(r#"{"content":[]}"#);
        assert!(matches!(c.tool("b", backend, tool, "t", None).await, Lookup::Hit(_)));
        // A tool without a TTL of its own is never cached.
        let plain = Caching { ttl_secs: None, ..tool };
        assert!(matches!(
            c.tool("b", backend, plain, "t", None).await,
            Lookup::Miss(None)
        ));
    }

    #[tokio::test]
    async fn a_read_answered_after_its_resource_changed_is_not_kept() {
        let c = memory();
        let at = Caching::default();
        let Lookup::Miss(Some(racing)) = c.resource("b", at, None, "a://x").await else {
            panic!("may be cached");
        };
        // The backend says the resource changed while the read was out.
        c.invalidate_resource("b", 0, "a://x").await;
        racing.result(r#"{"contents":["old"]}"#);
        assert!(matches!(
            c.resource("b", at, None, "a://x").await,
            Lookup::Miss(Some(_))
        ));
        // A read sent after the change is kept.
        let Lookup::Miss(Some(fresh)) = c.resource("b", at, None, "a://x").await else {
            panic!("may be cached");
        };
        fresh.result(r#"{"contents":["new"]}"#);
        let Lookup::Hit(hit) = c.resource("b", at, None, "a://x").await else {
            panic!("a read after the change is kept");
        };
        assert_eq!(&*hit, r#"{"contents":["new"]}"#);
    }

    #[tokio::test]
    async fn results_over_the_entry_bound_are_not_kept() {
        let args = CacheArgs {
            max_entry_bytes: 10,
            ..CacheArgs::default()
        };
        let c = ResponseCache::with_store(Store::memory(1 << 20), &args);
        let Lookup::Miss(Some(fill)) = c.resource("b", Caching::default(), None, "a://x").await else {
            panic!("may be cached");
        };
        fill.result(r#"{"contents":["longer than ten bytes"]}"#);
        assert!(matches!(
            c.resource("b", Caching::default(), None, "a://x").await,
            Lookup::Miss(_)
        ));
    }
}
