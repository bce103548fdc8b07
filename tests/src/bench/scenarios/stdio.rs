//! What a stdio backend costs: the same forwarded tool call to the plain
//! HTTP fast backend and to the stdio fixture (`fixture-stdio`, one child
//! multiplexed by the gateway), alternating in one run; gateway CPU per
//! call and latency of each.

use super::Bench;
use crate::{
    bench::{
        backend::FastBackend,
        loadgen::{self, Session, Target},
        report::{Report, figure},
    },
    clients,
    harness::{config_version, nodes_at, stdio_fixture_bin},
};

impl Bench {
    pub(super) async fn stdio(&self) {
        let plain = FastBackend::start(1).await;
        let gw = self.serve_with(&[]).await;
        Self::register_served(&gw.admin, "plain", plain.url(0)).await;
        let command = stdio_fixture_bin();
        let req = mcpgw_proto::v1::CreateBackendRequest {
            name: "local".into(),
            transport: mcpgw_proto::v1::BackendTransport::Stdio.into(),
            stdio: Some(mcpgw_proto::v1::StdioCommand {
                command: command.to_str().expect("a UTF-8 path").into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        gw.admin
            .clone()
            .create_backend(req)
            .await
            .expect("register the stdio fixture");
        nodes_at(&gw.admin, &[], config_version(&gw.admin).await).await;
        let client = loadgen::http_client();
        let target = |tool: &str, arguments: &str| Target {
            url: gw.mcp_url.clone(),
            token: Some(clients::token("bench")),
            tool: tool.into(),
            arguments: arguments.into(),
            capabilities: "{}",
        };
        let to_http = target("plain-tool_0000", r#"{"query":"x"}"#);
        let to_stdio = target("local-echo", r#"{"text":"x"}"#);
        let sessions = Session::open_many(&client, &to_http, self.sessions)
            .await
            .expect("gateway sessions");
        let mut report = Report::new("stdio");
        report.notes.push(format!(
            "open loop at {} calls/s over {} sessions, HTTP and stdio backends alternating twice; gateway CPU per call (the child's own CPU not included)",
            self.rate, self.sessions
        ));
        let (mut http_runs, mut stdio_runs) = (Vec::new(), Vec::new());
        for _ in 0..2 {
            for (t, runs) in [(&to_http, &mut http_runs), (&to_stdio, &mut stdio_runs)] {
                let (run, spent) = self.measure_open(&client, t, &sessions, Some(gw.hot_pid)).await;
                assert_eq!(run.errors, 0, "{}: calls failed", t.tool);
                runs.push((spent.unwrap_or(0.0), run.p(0.5), run.p(0.99)));
            }
        }
        let mean =
            |v: &[(f64, f64, f64)], f: fn(&(f64, f64, f64)) -> f64| v.iter().map(f).sum::<f64>() / v.len() as f64;
        let (h, s) = (mean(&http_runs, |r| r.0), mean(&stdio_runs, |r| r.0));
        report.push(figure("gateway CPU per call to an HTTP backend", h, "µs"));
        report.push(figure("gateway CPU per call to a stdio backend", s, "µs"));
        report.push(figure("stdio ÷ HTTP, gateway CPU", s / h.max(f64::MIN_POSITIVE), "×"));
        report.push(figure("p50 latency, HTTP backend", mean(&http_runs, |r| r.1), "ms"));
        report.push(figure("p50 latency, stdio backend", mean(&stdio_runs, |r| r.1), "ms"));
        report.push(figure("p99 latency, stdio backend", mean(&stdio_runs, |r| r.2), "ms"));
        self.finish(&report);
    }
}
