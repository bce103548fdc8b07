//! Config distribution: the registry's content as versioned resources, pushed
//! to every connected data plane as a delta within milliseconds of a write.

mod nodes;
mod service;
mod state;

use std::sync::{Arc, RwLock};

use mcpgw_proto::v1::{ConfigUpdate, Node};
use tokio::sync::{Mutex, watch};

pub use nodes::NodeTable;
pub use service::ConfigServer;
pub use state::{ConfigState, member_pb, transport_from_db};

use crate::registry::{Registry, Result};

pub struct Distributor {
    registry: Registry,
    /// Read by every node's stream task, written by `refresh`; never held
    /// across an await.
    state: RwLock<ConfigState>,
    version: watch::Sender<u64>,
    /// Serializes refreshes, which read the database.
    refreshing: Mutex<()>,
    pub nodes: NodeTable,
}

impl Distributor {
    pub async fn load(registry: Registry) -> Result<Arc<Self>> {
        let d = Arc::new(Self {
            registry,
            state: RwLock::new(ConfigState::default()),
            version: watch::Sender::new(0),
            refreshing: Mutex::new(()),
            nodes: NodeTable::default(),
        });
        d.refresh().await?;
        Ok(d)
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
                if moved && let Err(e) = dist.refresh().await {
                    tracing::warn!(error = %e, "cannot refresh config from the registry");
                }
            }
        });
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
}
