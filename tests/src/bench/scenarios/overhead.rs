//! What the gateway adds to one forwarded call: CPU, latency and
//! throughput against a direct connection, in one process and split.

use super::{Bench, RemoteBackend};
use crate::{
    bench::{
        loadgen::{self, Session, Target},
        procstat,
        report::{Report, figure},
    },
    clients,
    harness::Proc,
};

impl Bench {
    pub(super) async fn overhead(&self) {
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
            stateless: false,
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
                    stateless: false,
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
}
