//! What config distribution shows Prometheus: the registry's version and
//! size, each node's applied version, how long a pushed update takes to be
//! acknowledged, and the updates nodes refused.
//!
//! Sizes and node versions are read from the distributor when the metrics
//! are scraped; pushes and refusals are counted as they happen.

use std::time::Duration;

use mcpgw_proto::v1::{ItemKind, Node, resource::Resource as R};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

use mcpgw_data_plane::metrics::register;

use super::ConfigState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabels {
    node: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

pub struct DistMetrics {
    registry: Registry,
    version: Gauge,
    objects: Family<KindLabels, Gauge>,
    nodes: Family<StateLabels, Gauge>,
    node_version: Family<NodeLabels, Gauge>,
    push_ack: Histogram,
    nacks: Counter,
}

impl Default for DistMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("mcpgw");
        let version = register(
            &mut registry,
            "registry_version",
            "The registry's config version",
            Gauge::default(),
        );
        let objects = register(
            &mut registry,
            "registry_objects",
            "Objects in the registry, by kind (backends, tools, prompts, resources, templates, servers)",
            Family::default(),
        );
        let nodes = register(
            &mut registry,
            "nodes",
            "Data-plane nodes this control plane has seen, connected or not",
            Family::default(),
        );
        let node_version = register(
            &mut registry,
            "node_config_version",
            "The config version each connected data-plane node acknowledged",
            Family::default(),
        );
        // 100 µs to about 6.5 s, doubling.
        let push_ack = register(
            &mut registry,
            "config_push_ack_seconds",
            "From sending a config update to a node to its acknowledgement",
            Histogram::new(exponential_buckets(0.0001, 2.0, 17)),
        );
        let nacks = register(
            &mut registry,
            "config_nacks",
            "Config updates a node refused",
            Counter::default(),
        );
        Self {
            registry,
            version,
            objects,
            nodes,
            node_version,
            push_ack,
            nacks,
        }
    }
}

impl DistMetrics {
    /// A node acknowledged an update sent `after` ago.
    pub fn acked(&self, after: Duration) {
        self.push_ack.observe(after.as_secs_f64());
    }

    pub fn refused(&self) {
        self.nacks.inc();
    }

    /// Sets the registry's version and sizes from `state`.
    pub(super) fn count_registry(&self, state: &ConfigState) {
        self.version.set(state.version as i64);
        let mut counts = [0i64; 6];
        for resource in state.resources() {
            let slot = match &resource.resource {
                Some(R::Backend(_)) => 0,
                Some(R::Item(item)) => match item.kind() {
                    ItemKind::Tool => 1,
                    ItemKind::Prompt => 2,
                    ItemKind::Resource => 3,
                    ItemKind::ResourceTemplate => 4,
                    ItemKind::Unspecified => continue,
                },
                Some(R::Server(_)) => 5,
                Some(R::Settings(_)) | None => continue,
            };
            counts[slot] += 1;
        }
        let kinds = ["backends", "tools", "prompts", "resources", "templates", "servers"];
        for (kind, n) in kinds.into_iter().zip(counts) {
            self.objects.get_or_create(&KindLabels { kind }).set(n);
        }
    }

    /// Appends the metrics, with `nodes` as they are now (without the
    /// closing `# EOF`), to `out`.
    pub(super) fn encode_into(&self, nodes: &[Node], out: &mut String) {
        let connected = nodes.iter().filter(|n| n.connected).count() as i64;
        self.nodes
            .get_or_create(&StateLabels { state: "connected" })
            .set(connected);
        let disconnected = nodes.len() as i64 - connected;
        self.nodes
            .get_or_create(&StateLabels { state: "disconnected" })
            .set(disconnected);
        // Nodes gone since the last scrape leave no series behind.
        self.node_version.clear();
        for node in nodes.iter().filter(|n| n.connected) {
            let labels = NodeLabels {
                node: node.node_id.clone(),
            };
            self.node_version
                .get_or_create(&labels)
                .set(node.applied_version as i64);
        }
        prometheus_client::encoding::text::encode_registry(out, &self.registry).expect("writing to a String");
    }
}
