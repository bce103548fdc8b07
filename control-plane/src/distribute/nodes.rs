//! The data-plane nodes this control plane has seen and what each applied.

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use mcpgw_proto::v1::{ConfigNack, Node};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[derive(Default)]
pub struct NodeTable {
    nodes: Mutex<HashMap<String, (u64, Node)>>,
    next_conn: AtomicU64,
}

impl NodeTable {
    /// Records a node's stream opening; returns the connection number that
    /// later calls must present (a reconnect supersedes an old stream).
    pub fn connect(&self, node_id: &str, held: u64) -> u64 {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let mut nodes = self.nodes.lock().expect("poisoned");
        let entry = nodes.entry(node_id.to_owned()).or_insert_with(|| {
            (
                conn,
                Node {
                    node_id: node_id.to_owned(),
                    applied_version: held,
                    ..Default::default()
                },
            )
        });
        entry.0 = conn;
        entry.1.applied_version = held;
        entry.1.connected = true;
        entry.1.last_seen_unix_ms = now_ms();
        conn
    }

    fn with(&self, node_id: &str, conn: u64, f: impl FnOnce(&mut Node)) {
        if let Some((c, node)) = self.nodes.lock().expect("poisoned").get_mut(node_id)
            && *c == conn
        {
            node.last_seen_unix_ms = now_ms();
            f(node);
        }
    }

    pub fn ack(&self, node_id: &str, conn: u64, version: u64) {
        self.with(node_id, conn, |n| {
            n.applied_version = version;
            n.last_error.clear();
        });
    }

    pub fn nack(&self, node_id: &str, conn: u64, nack: &ConfigNack) {
        let why: Vec<String> = nack
            .errors
            .iter()
            .map(|e| match &e.key {
                Some(k) => format!("{}: {}", k.id, e.message),
                None => e.message.clone(),
            })
            .collect();
        self.with(node_id, conn, |n| {
            n.last_error = format!("refused version {}: {}", nack.version, why.join("; "))
        });
    }

    pub fn disconnect(&self, node_id: &str, conn: u64) {
        self.with(node_id, conn, |n| n.connected = false);
    }

    pub fn list(&self) -> Vec<Node> {
        let mut v: Vec<Node> = self
            .nodes
            .lock()
            .expect("poisoned")
            .values()
            .map(|(_, n)| n.clone())
            .collect();
        v.sort_by(|a, b| a.node_id.cmp(&b.node_id));
        v
    }
}
