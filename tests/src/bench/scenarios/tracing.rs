//! What tracing costs: the same forwarded call through two gateways in
//! one run, one with tracing off (no OTLP endpoint) and one exporting
//! every call's spans (sampling at 100 %) over OTLP/gRPC to a collector
//! in this process, metrics on in both; measured alternately, three times
//! each, at the same open-loop rate.

use super::Bench;
use crate::{
    bench::{
        backend::FastBackend,
        loadgen::{self, Session, Target},
        report::{Report, figure},
    },
    clients,
    otlp::Collector,
};

impl Bench {
    pub(super) async fn tracing(&self) {
        let backend = FastBackend::start(1).await;
        let collector = Collector::counting().await;
        let endpoint = collector.endpoint();
        let off = self.serve().await;
        let on = self
            .serve_with(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_TRACES_SAMPLER", "always_on"),
            ])
            .await;
        let client = loadgen::http_client();
        let mut gateways = Vec::new();
        for gw in [&off, &on] {
            Self::register_served(&gw.admin, "fast", backend.url(0)).await;
            let t = Target {
                url: gw.mcp_url.clone(),
                token: Some(clients::token("bench")),
                tool: "fast-tool_0000".into(),
                arguments: r#"{"query":"x"}"#.into(),
                capabilities: "{}",
                stateless: false,
            };
            let sessions = Session::open_many(&client, &t, self.sessions)
                .await
                .expect("gateway sessions");
            gateways.push((gw.hot_pid, t, sessions));
        }
        let mut report = Report::new("tracing");
        report.notes.push(format!(
            "open loop at {} calls/s over {} sessions; tracing off and on (OTLP/gRPC, always_on) alternating three times; gateway CPU per call",
            self.rate, self.sessions
        ));
        let mut cpu = [0.0f64; 2];
        let mut p99 = [0.0f64; 2];
        let mut traced_calls = 0;
        let spans_before = collector.received();
        for _ in 0..3 {
            for (i, (pid, t, sessions)) in gateways.iter().enumerate() {
                let (run, spent) = self.measure_open(&client, t, sessions, Some(*pid)).await;
                assert_eq!(run.errors, 0, "calls failed with tracing {}", ["off", "on"][i]);
                cpu[i] += spent.unwrap_or(0.0) / 3.0;
                p99[i] += run.p(0.99) / 3.0;
                if i == 1 {
                    traced_calls += run.calls;
                }
            }
        }
        report.push(figure("gateway CPU per call, tracing off", cpu[0], "µs"));
        report.push(figure("gateway CPU per call, tracing on (100 % sampled)", cpu[1], "µs"));
        report.push(
            figure(
                "tracing on ÷ off, gateway CPU per call",
                cpu[1] / cpu[0].max(f64::MIN_POSITIVE),
                "×",
            )
            .at_most(1.10, "≤ 1.10"),
        );
        report.push(figure("p99 latency, tracing off", p99[0], "ms"));
        report.push(figure("p99 latency, tracing on", p99[1], "ms"));
        // Each measured call makes a request span and an upstream span (the
        // warm-up's calls add theirs too, so this is at least 2).
        report.push(figure(
            "spans received per measured traced call",
            (collector.received() - spans_before) as f64 / traced_calls.max(1) as f64,
            "",
        ));
        self.finish(&report);
    }
}
