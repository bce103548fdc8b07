//! Config distribution: the registry's content as versioned resources, pushed
//! to every connected data plane as a delta within milliseconds of a write.

mod metrics;
mod nodes;
mod service;
mod state;

use std::sync::{Arc, RwLock};

use mcpgw_proto::v1::{ConfigUpdate, Node};
use tokio::sync::{Mutex, watch};

pub use metrics::DistMetrics;
pub use nodes::NodeTable;
pub use service::ConfigServer;
pub use state::{ConfigState, backend_member_pb, member_pb, transport_from_db};

use crate::registry::{Registry, Result};

/// Change notices queued for the re-lister.
const CHANGED_QUEUED: usize = 256;

pub struct Distributor {
    registry: Registry,
    /// Read by every node's stream task, written by `refresh`; never held
    /// across an await.
    state: RwLock<ConfigState>,
    version: watch::Sender<u64>,
    /// Serializes refreshes, which read the database.
    refreshing: Mutex<()>,
    pub nodes: NodeTable,
    pub metrics: DistMetrics,
    /// Backends nodes heard say their lists changed, for the re-lister.
    changed: tokio::sync::mpsc::Sender<String>,
    changed_rx: std::sync::Mutex<Option<tokio::sync::mpsc::Receiver<String>>>,
}

impl Distributor {
    /// `share_peers`: FEDERATION_DISCOVERY (see [`ConfigState::share_peers`]).
    pub async fn load(registry: Registry, share_peers: bool) -> Result<Arc<Self>> {
        let (changed, changed_rx) = tokio::sync::mpsc::channel(CHANGED_QUEUED);
        let d = Arc::new(Self {
            registry,
            state: RwLock::new(ConfigState::sharing_peers(share_peers)),
            version: watch::Sender::new(0),
            refreshing: Mutex::new(()),
            nodes: NodeTable::default(),
            metrics: DistMetrics::default(),
            changed,
            changed_rx: std::sync::Mutex::new(Some(changed_rx)),
        });
        d.refresh().await?;
        Ok(d)
    }

    /// Whether this gateway shares its peers and is offered its peers'
    /// (FEDERATION_DISCOVERY).
    pub fn shares_peers(&self) -> bool {
        self.state.read().expect("poisoned").share_peers
    }

    /// Notes that a node heard backend `id` say its lists changed; dropped
    /// when the re-lister is that far behind (it re-lists what is queued).
    pub fn backend_changed(&self, id: String) {
        let _ = self.changed.try_send(id);
    }

    /// The backends nodes heard change, for the one task that re-lists
    /// them (`None` after the first call).
    pub fn take_changed(&self) -> Option<tokio::sync::mpsc::Receiver<String>> {
        self.changed_rx.lock().expect("poisoned").take()
    }

    /// Picks up every registry change since the last refresh and wakes the
    /// node streams. Called after each write.
    pub async fn refresh(&self) -> Result<()> {
        let _one_at_a_time = self.refreshing.lock().await;
        let since = self.state.read().expect("poisoned").version;
        let changes = self.registry.changes_since(since).await?;
        let version = {
            let mut state = self.state.write().expect("poisoned");
            state.apply(changes);
            state.version
        };
        self.version
            .send_if_modified(|v| std::mem::replace(v, version) != version);
        Ok(())
    }

    /// [`Distributor::refresh`] for a background task, which can only say
    /// why it failed: the next notice or poll tries again.
    async fn refresh_or_warn(&self) {
        if let Err(e) = self.refresh().await {
            tracing::warn!(error = %e, "cannot refresh config from the registry");
        }
    }

    /// Re-reads the registry every `every` when its version moved, so writes
    /// this process did not publish (another control-plane replica's, or one
    /// whose publish failed after commit) still reach the data planes.
    pub fn spawn_poller(self: &Arc<Self>, every: std::time::Duration) {
        let dist = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let moved = match dist.registry.version().await {
                    Ok(v) => v != dist.current_version(),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the registry version");
                        false
                    }
                };
                if moved {
                    dist.refresh_or_warn().await;
                }
            }
        });
    }

    /// On Postgres, refreshes whenever any replica commits a write (the
    /// registry's `mcpgw_config` notifications); whether it listens.
    /// Notifications missed while the listening connection was down are
    /// caught by the poller.
    pub fn spawn_listener(self: &Arc<Self>) -> bool {
        let crate::registry::Db::Postgres(pool) = self.registry.db() else {
            return false;
        };
        let (pool, dist) = (pool.clone(), Arc::clone(self));
        tokio::spawn(async move {
            let listening = || async {
                let mut l = sqlx::postgres::PgListener::connect_with(&pool).await?;
                l.listen(crate::registry::CONFIG_CHANNEL).await?;
                Ok::<_, sqlx::Error>(l)
            };
            let mut listener = loop {
                match listening().await {
                    Ok(l) => break l,
                    Err(e) => tracing::warn!(error = %e, "cannot listen for registry writes; retrying"),
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            };
            // What was written before the LISTEN took effect.
            dist.refresh_or_warn().await;
            loop {
                // `recv` reconnects by itself when the connection drops.
                match listener.recv().await {
                    Ok(_) => dist.refresh_or_warn().await,
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the registry's write notifications; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
        true
    }

    pub fn current_version(&self) -> u64 {
        self.state.read().expect("poisoned").version
    }

    pub fn update_for(&self, epoch: &str, held: u64) -> Option<ConfigUpdate> {
        self.state.read().expect("poisoned").update_for(epoch, held)
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    pub fn nodes(&self) -> Vec<Node> {
        self.nodes.list()
    }

    /// Appends the distribution's metrics (without the closing `# EOF`)
    /// to `out`.
    pub fn encode_metrics(&self, out: &mut String) {
        // The registry is only counted under the lock, not encoded.
        self.metrics.count_registry(&self.state.read().expect("poisoned"));
        self.metrics.encode_into(&self.nodes.list(), out);
    }
}
