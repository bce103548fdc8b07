//! How the data plane holds up with a large config and many sessions,
//! and what a client session with backend sessions of its own costs.

use std::time::Instant;

use mcpgw_proto::v1::CreateBackendRequest;

use super::Bench;
use crate::{
    bench::{
        backend::FastBackend,
        loadgen::{self, HttpClient, Session, Target},
        procstat,
        report::{Report, figure},
    },
    clients,
    harness::nodes_at,
};

impl Bench {
    pub(super) async fn scale_of_config(&self) {
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
                        ..Default::default()
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
            stateless: false,
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
            stateless: false,
            ..t.clone()
        };
        let sessions = Session::open_many(&client, &asking, n_asking).await.expect("sessions");
        let initialized = backend.initialized();
        call_each(&client, &asking, &sessions).await;
        report.push(figure(
            "backend initializes per session that can be asked (first call)",
            (backend.initialized() - initialized) as f64 / n_asking as f64,
            "",
        ));
        let (plain, own) = (
            self.fresh_growth("{}", n_asking).await,
            self.fresh_growth(r#"{"sampling":{}}"#, n_asking).await,
        );
        report.push(figure(
            "memory per 1,000 sessions that can be asked, over plain ones (fresh data planes, each session called once)",
            (own - plain) * 1000.0 / n_asking as f64,
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

    /// How much a fresh data plane's RSS grows while `n` sessions that
    /// declared `capabilities` call one backend once each (the sessions
    /// themselves cost the node nothing until then: their state is sealed
    /// in their ids).
    async fn fresh_growth(&self, capabilities: &'static str, n: usize) -> f64 {
        let backend = FastBackend::start(1).await;
        let gw = self.split().await;
        Self::register_served(&gw.admin, "own", backend.url(0)).await;
        let client = loadgen::http_client();
        let t = Target {
            url: gw.mcp_url.clone(),
            token: Some(clients::token("bench")),
            tool: "own-tool_0000".into(),
            arguments: r#"{"query":"x"}"#.into(),
            capabilities,
            stateless: false,
        };
        let sessions = Session::open_many(&client, &t, n).await.expect("sessions");
        let before = procstat::rss_mib(gw.hot_pid);
        call_each(&client, &t, &sessions).await;
        procstat::rss_mib(gw.hot_pid) - before
    }
}

/// One call on each of `sessions`, 64 at a time.
async fn call_each(client: &HttpClient, t: &Target, sessions: &[Session]) {
    for chunk in sessions.chunks(64) {
        for r in futures::future::join_all(chunk.iter().map(|s| s.call(client, t))).await {
            r.expect("a call on an open session");
        }
    }
}
