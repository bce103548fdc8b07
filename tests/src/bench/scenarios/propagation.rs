//! How fast a registry write reaches the data planes.

use std::{sync::Arc, time::Instant};

use mcpgw_proto::v1::SetToolEnabledRequest;

use super::Bench;
use crate::{
    bench::{
        backend::FastBackend,
        report::{Report, figure},
    },
    clients,
    harness::SqliteDb,
};

impl Bench {
    pub(super) async fn propagation(&self) {
        use mcpgw_data_plane::{Gateway as Node, Limits, auth::AuthArgs};
        use mcpgw_proto::v1::{
            NodeHello, StreamConfigRequest, config_service_client::ConfigServiceClient, stream_config_request::Message,
        };
        use prost::Message as _;

        let (n_nodes, writes) = (self.pick(100, 10), self.pick(50, 5));
        let backend = FastBackend::start(100).await;
        let db = SqliteDb::new();
        let cp = self
            .mcpgw(&["control-plane", "--port", "0"], &[("DATABASE_URL", &db.url)])
            .await;
        let admin = clients::admin(cp.addr).await;
        let v0 = clients::register(&admin, "fast", backend.url(0)).await;

        // The real data-plane config client, `n_nodes` of them in this process.
        let auth = AuthArgs {
            jwt_secret_key: mcpgw_data_plane::auth::DEFAULT_JWT_SECRET.into(),
            auth_required: true,
            auth_encryption_secret: mcpgw_data_plane::auth::DEFAULT_ENCRYPTION_SECRET.into(),
            allow_stdio_backends: None,
        };
        let nodes: Vec<Arc<Node>> = (0..n_nodes)
            .map(|i| {
                let node = Node::new(
                    &auth,
                    Limits::default(),
                    mcpgw_data_plane::fleet::Fleet::alone(),
                    mcpgw_data_plane::cache::ResponseCache::none(),
                );
                tokio::spawn(mcpgw_data_plane::node::config_stream::run(
                    node.clone(),
                    mcpgw_data_plane::node::config_stream::ControlPlane::plain(cp.url("")),
                    format!("bench-node-{i:03}"),
                    None,
                ));
                node
            })
            .collect();
        for n in &nodes {
            n.applied()
                .wait_for(|v| *v >= v0)
                .await
                .expect("node applies the first snapshot");
        }

        // One more stream, raw, to see the bytes a node receives.
        let channel = tonic::transport::Channel::from_shared(cp.url(""))
            .expect("url")
            .connect()
            .await
            .expect("connect");
        let bearer: tonic::metadata::MetadataValue<_> = format!("Bearer {}", clients::token("node:probe"))
            .parse()
            .expect("ascii");
        let mut probe = ConfigServiceClient::with_interceptor(channel, move |mut r: tonic::Request<()>| {
            r.metadata_mut().insert("authorization", bearer.clone());
            Ok(r)
        });
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tx.send(StreamConfigRequest {
            message: Some(Message::Hello(NodeHello {
                node_id: "probe".into(),
                ..Default::default()
            })),
        })
        .await
        .expect("hello");
        let mut updates = probe
            .stream_config(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .expect("stream")
            .into_inner();
        let first = updates.message().await.expect("snapshot").expect("snapshot");
        let snapshot_bytes = first.encoded_len();

        let mut h = hdrhistogram::Histogram::<u64>::new(3).expect("histogram");
        let mut delta_bytes = Vec::new();
        let mut single_resource = true;
        let mut admin = admin.clone();
        for w in 0..writes {
            let t0 = Instant::now();
            let req = SetToolEnabledRequest {
                tool: "fast-tool_0001".into(),
                enabled: w % 2 == 1,
            };
            let v = admin
                .set_tool_enabled(req)
                .await
                .expect("write")
                .into_inner()
                .tool
                .expect("tool")
                .config_version;
            for n in &nodes {
                n.applied().wait_for(|a| *a >= v).await.expect("node applies");
            }
            h.record(t0.elapsed().as_micros() as u64).expect("in range");
            let msg = updates.message().await.expect("delta").expect("delta");
            let u = msg.update.as_ref().expect("update");
            single_resource &= !u.full_snapshot && u.upserts.len() + u.removals.len() == 1;
            delta_bytes.push(msg.encoded_len());
        }
        let mut report = Report::new("propagation");
        report.push(figure(
            format!("write → applied on {n_nodes} nodes: p50"),
            h.value_at_quantile(0.5) as f64 / 1000.0,
            "ms",
        ));
        report.push(
            figure(
                format!("write → applied on {n_nodes} nodes: p99"),
                h.value_at_quantile(0.99) as f64 / 1000.0,
                "ms",
            )
            .at_most(100.0, "≤ 100 ms"),
        );
        delta_bytes.sort_unstable();
        report.push(figure(
            "one-tool change on the wire",
            delta_bytes[delta_bytes.len() / 2] as f64,
            "bytes",
        ));
        report.push(figure(
            "full snapshot of 100 tools on the wire (for scale)",
            snapshot_bytes as f64,
            "bytes",
        ));
        report.push(
            figure(
                "one-tool changes sent as a one-resource delta",
                if single_resource { 1.0 } else { 0.0 },
                "(1 = yes)",
            )
            .at_least(1.0, "one-resource delta"),
        );
        self.finish(&report);
    }
}
