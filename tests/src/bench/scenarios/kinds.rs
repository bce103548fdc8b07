//! What each kind of backend costs the gateway: the same tool call through
//! it to the HTTP fast backend (a forwarded MCP call), to the stdio fixture
//! (`fixture-stdio`, one child the gateway multiplexes) and to a REST tool
//! (the REST fixture, called by the gateway itself), and the first again
//! from a 2026-07-28 client (stateless: `_meta` and headers on every call,
//! no session), and from one that declares it can be asked (sampling,
//! elicitation: its calls may become input rounds, on the backend sessions
//! such clients share), alternating in one run;
//! gateway CPU per call and latency of each.

use super::Bench;
use crate::{
    bench::{
        backend::FastBackend,
        loadgen::{self, Session, Target},
        report::{Report, figure},
    },
    clients,
    fixture::rest::RestFixture,
    harness::{config_version, nodes_at, stdio_fixture_bin},
};

impl Bench {
    pub(super) async fn kinds(&self) {
        let plain = FastBackend::start(1).await;
        let api = RestFixture::start(None).await;
        let gw = self.serve_with(&[]).await;
        Self::register_served(&gw.admin, "plain", plain.url(0)).await;
        let command = stdio_fixture_bin();
        let backends = [
            mcpgw_proto::v1::CreateBackendRequest {
                name: "local".into(),
                transport: mcpgw_proto::v1::BackendTransport::Stdio.into(),
                stdio: Some(mcpgw_proto::v1::StdioCommand {
                    command: command.to_str().expect("a UTF-8 path").into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            mcpgw_proto::v1::CreateBackendRequest {
                name: "api".into(),
                url: api.url(),
                transport: mcpgw_proto::v1::BackendTransport::Rest.into(),
                rest_tools: vec![mcpgw_proto::v1::RestTool {
                    name: "temperature".into(),
                    method: "GET".into(),
                    url: "weather/{city}".into(),
                    response_select: "$.temp".into(),
                    ..Default::default()
                }],
                ..Default::default()
            },
        ];
        for req in backends {
            gw.admin.clone().create_backend(req).await.expect("register a backend");
        }
        nodes_at(&gw.admin, &[], config_version(&gw.admin).await).await;
        let client = loadgen::http_client();
        let target = |tool: &str, arguments: &str| Target {
            url: gw.mcp_url.clone(),
            token: Some(clients::token("bench")),
            tool: tool.into(),
            arguments: arguments.into(),
            capabilities: "{}",
            stateless: false,
        };
        let kinds = [
            ("MCP over HTTP", target("plain-tool_0000", r#"{"query":"x"}"#)),
            (
                "MCP over HTTP, a 2026-07-28 client (no session)",
                Target {
                    stateless: true,
                    ..target("plain-tool_0000", r#"{"query":"x"}"#)
                },
            ),
            (
                "MCP over HTTP, a 2026-07-28 client that can be asked (input rounds)",
                Target {
                    stateless: true,
                    capabilities: r#"{"sampling":{},"elicitation":{}}"#,
                    ..target("plain-tool_0000", r#"{"query":"x"}"#)
                },
            ),
            ("stdio", target("local-echo", r#"{"text":"x"}"#)),
            ("REST", target("api-temperature", r#"{"city":"Oslo"}"#)),
        ];
        let sessions = Session::open_many(&client, &kinds[0].1, self.sessions)
            .await
            .expect("gateway sessions");
        let mut report = Report::new("kinds");
        report.notes.push(format!(
            "open loop at {} calls/s over {} sessions, the five kinds alternating twice; gateway CPU per call (a stdio child's own CPU not included)",
            self.rate, self.sessions
        ));
        let mut runs: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new(); kinds.len()];
        // What the stateless clients' calls cost the backend in sessions:
        // all told (the first pass opens the pooled sessions they share),
        // and at steady state (the second pass, those sessions open).
        let (mut steady_calls, mut steady_inits, mut all_inits) = (0u64, 0u64, 0u64);
        for pass in 0..2 {
            for (i, (kind, t)) in kinds.iter().enumerate() {
                let inits = plain.initialized();
                let (run, spent) = self.measure_open(&client, t, &sessions, Some(gw.hot_pid)).await;
                assert_eq!(run.errors, 0, "{}, {kind}: calls failed", t.tool);
                if t.stateless {
                    let opened = plain.initialized() - inits;
                    all_inits += opened;
                    if pass == 1 {
                        steady_calls += run.calls;
                        steady_inits += opened;
                    }
                }
                runs[i].push((spent.unwrap_or(0.0), run.p(0.5), run.p(0.99)));
            }
        }
        let mean =
            |v: &[(f64, f64, f64)], f: fn(&(f64, f64, f64)) -> f64| v.iter().map(f).sum::<f64>() / v.len() as f64;
        let cpu: Vec<f64> = runs.iter().map(|r| mean(r, |x| x.0)).collect();
        for (i, (kind, _)) in kinds.iter().enumerate() {
            report.push(figure(format!("gateway CPU per call, {kind}"), cpu[i], "µs"));
        }
        let http = cpu[0].max(f64::MIN_POSITIVE);
        report.push(figure("2026-07-28 client ÷ session client, gateway CPU", cpu[1] / http, "×").at_most(1.0, "≤ 1"));
        report.push(
            figure(
                "backend initializes per 1,000 calls of the 2026-07-28 clients, steady state",
                steady_inits as f64 * 1000.0 / steady_calls.max(1) as f64,
                "",
            )
            .at_most(0.0, "0"),
        );
        report.push(figure(
            "backend initializes for the 2026-07-28 clients, whole run (pooled sessions opened)",
            all_inits as f64,
            "",
        ));
        report.push(figure(
            "2026-07-28 client that can be asked ÷ session client, gateway CPU",
            cpu[2] / http,
            "×",
        ));
        report.push(figure("stdio ÷ MCP over HTTP, gateway CPU", cpu[3] / http, "×"));
        report.push(figure("REST ÷ MCP over HTTP, gateway CPU", cpu[4] / http, "×").at_most(1.0, "≤ 1"));
        for (i, (kind, _)) in kinds.iter().enumerate() {
            report.push(figure(format!("p50 latency, {kind}"), mean(&runs[i], |x| x.1), "ms"));
            report.push(figure(format!("p99 latency, {kind}"), mean(&runs[i], |x| x.2), "ms"));
        }
        self.finish(&report);
    }
}
