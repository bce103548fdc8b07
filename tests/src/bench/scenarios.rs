//! The scenarios: overhead, streaming, scale of config, propagation, startup.

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use mcpgw_proto::v1::{CreateBackendRequest, SetToolEnabledRequest};

use super::{
    backend::FastBackend,
    loadgen::{self, HttpClient, RunResult, Session, Target},
    procstat,
    report::{Report, figure},
};
use crate::{
    clients::{self, Admin},
    harness::{Proc, SqliteDb, nodes_at},
};

/// How big a run is: `Full` for the figures in BENCHMARKS.md, `Quick` to
/// check the benchmark works (CI).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Scale {
    Quick,
    Full,
}

pub struct Bench {
    pub mcpgw: PathBuf,
    pub out: PathBuf,
    pub scale: Scale,
    pub rate: f64,
    pub sessions: usize,
    /// Extra environment for every gateway process started.
    pub gateway_env: Vec<(String, String)>,
}

/// A fast backend in another process.
struct RemoteBackend(std::net::SocketAddr);

impl RemoteBackend {
    fn url(&self, backend: usize) -> String {
        format!("http://{}/b{backend}/mcp", self.0)
    }
}

/// A gateway under test and the pids whose CPU it spends on the hot path.
struct Gateway {
    _procs: Vec<Proc>,
    _db: SqliteDb,
    mcp_url: String,
    hot_pid: u32,
    admin: Admin,
}

impl Bench {
    /// Starts `mcpgw ARGS` with `env` and the bench's extra gateway environment.
    async fn mcpgw(&self, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let mut all: Vec<(&str, &str)> = env.to_vec();
        all.extend(self.gateway_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        Proc::start_bin(&self.mcpgw, args, &all).await
    }

    fn secs(&self, full: f64) -> Duration {
        Duration::from_secs_f64(if self.scale == Scale::Full { full } else { full.min(0.5) })
    }

    fn pick(&self, full: usize, quick: usize) -> usize {
        if self.scale == Scale::Full { full } else { quick }
    }

    async fn serve(&self) -> Gateway {
        let db = SqliteDb::new();
        let mut p = self
            .mcpgw(&["serve", "--port", "0"], &[("DATABASE_URL", &db.url)])
            .await;
        p.wait_for_line("ready").await;
        let admin = clients::admin(p.addr).await;
        Gateway {
            mcp_url: p.url("/mcp"),
            hot_pid: p.pid(),
            admin,
            _procs: vec![p],
            _db: db,
        }
    }

    async fn split(&self) -> Gateway {
        let db = SqliteDb::new();
        let cp = self
            .mcpgw(&["control-plane", "--port", "0"], &[("DATABASE_URL", &db.url)])
            .await;
        let mut dp = self
            .mcpgw(&["data-plane", "--port", "0", "--control-plane", &cp.url("")], &[])
            .await;
        dp.wait_for_line("ready").await;
        let admin = clients::admin(cp.addr).await;
        Gateway {
            mcp_url: dp.url("/mcp"),
            hot_pid: dp.pid(),
            admin,
            _procs: vec![cp, dp],
            _db: db,
        }
    }

    /// Registers a backend and waits until the gateway serves it.
    async fn register_served(admin: &Admin, name: &str, url: String) {
        let v = clients::register(admin, name, url).await;
        nodes_at(admin, &[], v).await;
    }

    pub async fn run(&self, which: &str) {
        let all = which == "all";
        if all || which == "overhead" {
            self.overhead().await;
        }
        if all || which == "streaming" {
            self.streaming().await;
        }
        if all || which == "scale" {
            self.scale_of_config().await;
        }
        if all || which == "propagation" {
            self.propagation().await;
        }
        if all || which == "startup" {
            self.startup().await;
        }
    }

    fn finish(&self, r: &Report) {
        r.print();
        r.write_json(&self.out).expect("write the JSON report");
    }

    /// Open loop at `rate` with the gateway's CPU measured over the run.
    async fn measure_open(
        &self,
        client: &HttpClient,
        t: &Target,
        sessions: &[Session],
        pid: Option<u32>,
    ) -> (RunResult, Option<f64>) {
        loadgen::open_loop(client, t, sessions, self.rate, Duration::ZERO, self.secs(2.0)).await;
        let cpu0 = pid.map(procstat::cpu_time);
        let r = loadgen::open_loop(client, t, sessions, self.rate, Duration::ZERO, self.secs(10.0)).await;
        let cpu = pid
            .zip(cpu0)
            .map(|(p, c0)| (procstat::cpu_time(p) - c0).as_secs_f64() * 1e6 / r.calls.max(1) as f64);
        (r, cpu)
    }

    async fn overhead(&self) {
        // The backend runs in its own process, so its CPU per call — the
        // cost of one minimal HTTP exchange on this machine — is measured
        // too, as the yardstick for the gateway's.
        let backend_proc = Proc::start_bin(&std::env::current_exe().expect("own path"), &["fast-backend"], &[]).await;
        let backend = RemoteBackend(backend_proc.addr);
        let client = loadgen::http_client();
        let token = clients::token("bench");
        let direct = Target {
            url: backend.url(0),
            token: None,
            tool: "tool_0000".into(),
            arguments: r#"{"query":"x"}"#.into(),
            capabilities: "{}",
        };
        let mut report = Report::new("overhead");
        report.notes.push(format!(
            "open loop at {} calls/s over {} sessions; closed loop with the same sessions; load generator, gateway and backend share the machine",
            self.rate, self.sessions
        ));

        let sessions = Session::open_many(&client, &direct, self.sessions)
            .await
            .expect("direct sessions");
        let (d_open, backend_cpu) = self
            .measure_open(&client, &direct, &sessions, Some(backend_proc.pid()))
            .await;
        report.push(figure(
            format!(
                "yardstick: fast backend CPU per call at {} calls/s (one minimal HTTP exchange)",
                self.rate
            ),
            backend_cpu.unwrap_or(0.0),
            "µs",
        ));
        let d_closed = loadgen::closed_loop(&client, &direct, &sessions, self.secs(1.0), self.secs(5.0)).await;
        report.push(figure("direct: p50 latency (open loop)", d_open.p(0.5), "ms"));
        report.push(figure("direct: p99", d_open.p(0.99), "ms"));
        report.push(figure(
            "direct: closed-loop throughput",
            d_closed.throughput(),
            "calls/s",
        ));

        for (mode, gw) in [("serve", self.serve().await), ("split", self.split().await)] {
            Self::register_served(&gw.admin, "fast", backend.url(0)).await;
            let t = Target {
                url: gw.mcp_url.clone(),
                token: Some(token.clone()),
                tool: "fast-tool_0000".into(),
                ..direct.clone()
            };
            let sessions = Session::open_many(&client, &t, self.sessions)
                .await
                .expect("gateway sessions");
            let (open, cpu) = self.measure_open(&client, &t, &sessions, Some(gw.hot_pid)).await;
            let closed = loadgen::closed_loop(&client, &t, &sessions, self.secs(1.0), self.secs(5.0)).await;
            let errors = open.errors + closed.errors;
            report.push(
                figure(
                    format!("{mode}: gateway CPU per call at {} calls/s", self.rate),
                    cpu.unwrap_or(0.0),
                    "µs",
                )
                .at_most(25.0, "≤ 25 µs"),
            );
            report.push(
                figure(format!("{mode}: added p50 latency"), open.p(0.5) - d_open.p(0.5), "ms")
                    .at_most(0.1, "≤ 0.1 ms"),
            );
            report.push(
                figure(
                    format!("{mode}: added p99 latency"),
                    open.p(0.99) - d_open.p(0.99),
                    "ms",
                )
                .at_most(0.5, "≤ 0.5 ms"),
            );
            report.push(
                figure(
                    format!("{mode}: closed-loop throughput ÷ direct"),
                    closed.throughput() / d_closed.throughput(),
                    "×",
                )
                .at_least(0.8, "≥ 0.8"),
            );
            report.push(figure(
                format!("{mode}: closed-loop throughput"),
                closed.throughput(),
                "calls/s",
            ));
            report.push(figure(
                format!("{mode}: gateway peak RSS"),
                procstat::peak_rss_mib(gw.hot_pid),
                "MiB",
            ));
            // The same load as `ping`, answered by the gateway itself: what
            // MCP handling costs apart from forwarding.
            let ping = Target {
                tool: String::new(),
                ..t.clone()
            };
            let (_, ping_cpu) = self.measure_open(&client, &ping, &sessions, Some(gw.hot_pid)).await;
            report.push(figure(
                format!("{mode}: gateway CPU per ping (no forwarding)"),
                ping_cpu.unwrap_or(0.0),
                "µs",
            ));
            if mode == "serve" {
                // Clients that can be asked (sampling): each session gets a
                // backend session of its own, opened on its first call.
                let asking = Target {
                    capabilities: r#"{"sampling":{}}"#,
                    ..t.clone()
                };
                let sessions = Session::open_many(&client, &asking, self.sessions)
                    .await
                    .expect("gateway sessions that can be asked");
                let (_, cpu) = self.measure_open(&client, &asking, &sessions, Some(gw.hot_pid)).await;
                report.push(figure(
                    format!(
                        "{mode}: gateway CPU per call at {} calls/s, sessions that can be asked",
                        self.rate
                    ),
                    cpu.unwrap_or(0.0),
                    "µs",
                ));
            }
            assert_eq!(errors, 0, "{mode}: calls failed during the run");
        }
        self.finish(&report);
    }

    async fn streaming(&self) {
        let backend = FastBackend::start(1).await;
        let client = loadgen::http_client();
        let direct = Target {
            url: backend.url(0),
            token: None,
            tool: "stream".into(),
            arguments: "{}".into(),
            capabilities: "{}",
        };
        let gw = self.serve().await;
        Self::register_served(&gw.admin, "fast", backend.url(0)).await;
        let t = Target {
            url: gw.mcp_url.clone(),
            token: Some(clients::token("bench")),
            tool: "fast-stream".into(),
            ..direct.clone()
        };
        let mut report = Report::new("streaming");
        report.notes.push(format!(
            "one call streams {} progress notifications, then its result; closed loop, 8 sessions",
            super::backend::STREAM_EVENTS
        ));
        let ds = Session::open_many(&client, &direct, 8).await.expect("sessions");
        let gs = Session::open_many(&client, &t, 8).await.expect("sessions");
        let d = loadgen::closed_loop(&client, &direct, &ds, self.secs(1.0), self.secs(5.0)).await;
        let cpu0 = procstat::cpu_time(gw.hot_pid);
        let g = loadgen::closed_loop(&client, &t, &gs, self.secs(1.0), self.secs(5.0)).await;
        let cpu = (procstat::cpu_time(gw.hot_pid) - cpu0).as_secs_f64() * 1e6 / g.calls.max(1) as f64;
        report.push(figure("direct: streamed calls/s", d.throughput(), "calls/s"));
        report.push(figure("gateway: streamed calls/s", g.throughput(), "calls/s"));
        report.push(figure("gateway ÷ direct", g.throughput() / d.throughput(), "×"));
        report.push(figure("direct: p50", d.p(0.5), "ms"));
        report.push(figure("direct: p99", d.p(0.99), "ms"));
        report.push(figure("gateway: p50", g.p(0.5), "ms"));
        report.push(figure("gateway: p99", g.p(0.99), "ms"));
        report.push(figure("gateway CPU per streamed call (incl. warm-up)", cpu, "µs"));
        assert_eq!(d.errors + g.errors, 0, "streamed calls failed");
        self.finish(&report);
    }

    async fn scale_of_config(&self) {
        let (n_backends, per_backend, n_sessions) = (self.pick(100, 10), 100, self.pick(10_000, 500));
        let backend = FastBackend::start(per_backend).await;
        let gw = self.split().await;
        let mut report = Report::new("scale");
        report.push(figure("data plane RSS idle", procstat::rss_mib(gw.hot_pid), "MiB").at_most(20.0, "≤ 20 MB"));
        let mut version = 0;
        for chunk in (0..n_backends).collect::<Vec<_>>().chunks(10) {
            let regs = chunk.iter().map(|i| {
                let mut admin = gw.admin.clone();
                let url = backend.url(*i);
                async move {
                    let req = CreateBackendRequest {
                        name: format!("backend-{i:03}"),
                        url,
                        transport: 0,
                    };
                    admin
                        .create_backend(req)
                        .await
                        .expect("register")
                        .into_inner()
                        .backend
                        .expect("backend")
                        .config_version
                }
            });
            version = futures::future::join_all(regs)
                .await
                .into_iter()
                .max()
                .unwrap_or(version)
                .max(version);
        }
        nodes_at(&gw.admin, &[], version).await;
        let tools = n_backends * per_backend;
        report.push(figure(
            format!("data plane RSS with {tools} tools"),
            procstat::rss_mib(gw.hot_pid),
            "MiB",
        ));

        let client = loadgen::http_client();
        let t = Target {
            url: gw.mcp_url.clone(),
            token: Some(clients::token("bench")),
            tool: "backend-000-tool_0000".into(),
            arguments: r#"{"query":"x"}"#.into(),
            capabilities: "{}",
        };
        let before = procstat::rss_mib(gw.hot_pid);
        let sessions = Session::open_many(&client, &t, n_sessions).await.expect("sessions");
        for s in sessions.iter().step_by((n_sessions / 100).max(1)) {
            s.call(&client, &t).await.expect("a call on an open session");
        }
        let after = procstat::rss_mib(gw.hot_pid);
        report.push(
            figure(
                format!("data plane RSS with {tools} tools + {n_sessions} sessions"),
                after,
                "MiB",
            )
            .at_most(100.0, "≤ 100 MB"),
        );
        report.push(figure(
            "memory per 1,000 sessions",
            (after - before).max(0.0) * 1000.0 / n_sessions as f64,
            "MiB",
        ));

        // Sessions of clients that can be asked, each having called once: a
        // backend session of their own each (an `initialize`, a standing
        // standalone `GET`, a listening task).
        let n_asking = self.pick(1_000, 50);
        let asking = Target {
            capabilities: r#"{"sampling":{}}"#,
            ..t.clone()
        };
        let sessions = Session::open_many(&client, &asking, n_asking).await.expect("sessions");
        let (before, initialized) = (procstat::rss_mib(gw.hot_pid), backend.initialized());
        for chunk in sessions.chunks(64) {
            let calls = chunk.iter().map(|s| s.call(&client, &asking));
            for r in futures::future::join_all(calls).await {
                r.expect("a call on a session that can be asked");
            }
        }
        let after = procstat::rss_mib(gw.hot_pid);
        report.push(figure(
            "backend initializes per session that can be asked (first call)",
            (backend.initialized() - initialized) as f64 / n_asking as f64,
            "",
        ));
        report.push(figure(
            "memory per 1,000 sessions that can be asked, each with its own backend session",
            (after - before).max(0.0) * 1000.0 / n_asking as f64,
            "MiB",
        ));

        let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        let mut h = hdrhistogram::Histogram::<u64>::new(3).expect("histogram");
        let mut size = 0;
        for _ in 0..self.pick(200, 20) {
            let t0 = Instant::now();
            let (_, body) = loadgen::send(&client, &t, sessions[0].id.as_deref(), list.into())
                .await
                .expect("tools/list");
            h.record(t0.elapsed().as_micros() as u64).expect("in range");
            size = body.len();
        }
        report.push(figure(
            format!("tools/list of {tools} tools: p50"),
            h.value_at_quantile(0.5) as f64 / 1000.0,
            "ms",
        ));
        report.push(figure(
            format!("tools/list of {tools} tools: p99"),
            h.value_at_quantile(0.99) as f64 / 1000.0,
            "ms",
        ));
        report.push(figure("tools/list response size", size as f64 / 1024.0, "KiB"));
        report.notes.push(
            "Sessions are sealed into their ids, so an open session holds no memory on the data plane; what grows is connections."
                .into(),
        );
        self.finish(&report);
    }

    async fn propagation(&self) {
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
        };
        let nodes: Vec<Arc<Node>> = (0..n_nodes)
            .map(|i| {
                let node = Node::new(&auth, Limits::default(), mcpgw_data_plane::fleet::Fleet::alone());
                tokio::spawn(mcpgw_data_plane::node::config_stream::run(
                    node.clone(),
                    cp.url(""),
                    format!("bench-node-{i:03}"),
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

    async fn startup(&self) {
        let mut times = Vec::new();
        for _ in 0..self.pick(5, 2) {
            let db = SqliteDb::new();
            let t0 = Instant::now();
            let mut p = self
                .mcpgw(&["serve", "--port", "0"], &[("DATABASE_URL", &db.url)])
                .await;
            p.wait_for_line("ready").await;
            times.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        let mut report = Report::new("startup");
        report.push(figure(
            "mcpgw serve exec → ready (median)",
            times[times.len() / 2],
            "ms",
        ));
        report.push(figure("mcpgw serve exec → ready (worst)", times[times.len() - 1], "ms").at_most(1000.0, "≤ 1 s"));
        self.finish(&report);
    }
}
