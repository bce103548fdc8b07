//! What TLS to a backend costs the gateway: the same forwarded call to a
//! plain and to an `https://` fast backend (a CA made for the run, trusted
//! through `SSL_CERT_FILE`), alternating in one run. Connections are reused,
//! so no call should pay a handshake.

use super::Bench;
use crate::{
    bench::{
        backend::FastBackend,
        loadgen::{self, Session, Target},
        report::{Report, figure},
    },
    clients,
    tls::TestCa,
};

impl Bench {
    pub(super) async fn tls(&self) {
        let ca = TestCa::new();
        let plain = FastBackend::start(1).await;
        let secure = FastBackend::start_tls(1, ca.server_config(&["127.0.0.1", "localhost"])).await;
        let gw = self
            .serve_with(&[("SSL_CERT_FILE", ca.pem_file.to_str().expect("a UTF-8 path"))])
            .await;
        Self::register_served(&gw.admin, "plain", plain.url(0)).await;
        Self::register_served(&gw.admin, "secure", secure.url(0)).await;
        let client = loadgen::http_client();
        let target = |tool: &str| Target {
            url: gw.mcp_url.clone(),
            token: Some(clients::token("bench")),
            tool: tool.into(),
            arguments: r#"{"query":"x"}"#.into(),
            capabilities: "{}",
            stateless: false,
        };
        let (to_plain, to_secure) = (target("plain-tool_0000"), target("secure-tool_0000"));
        let sessions = Session::open_many(&client, &to_plain, self.sessions)
            .await
            .expect("gateway sessions");
        let mut report = Report::new("tls");
        report.notes.push(format!(
            "open loop at {} calls/s over {} sessions, plain and https backends alternating twice; gateway CPU per call",
            self.rate, self.sessions
        ));
        // CPU per call of each run, and the calls measured, per target.
        let (mut plain_cpu, mut secure_cpu) = ((Vec::new(), 0), (Vec::new(), 0));
        for _ in 0..2 {
            for (t, (cpu, calls)) in [(&to_plain, &mut plain_cpu), (&to_secure, &mut secure_cpu)] {
                let (run, spent) = self.measure_open(&client, t, &sessions, Some(gw.hot_pid)).await;
                assert_eq!(run.errors, 0, "{}: calls failed", t.tool);
                *calls += run.calls;
                cpu.push(spent.unwrap_or(0.0));
            }
        }
        let ((plain_cpu, _), (secure_cpu, calls)) = (plain_cpu, secure_cpu);
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (p, s) = (mean(&plain_cpu), mean(&secure_cpu));
        report.push(figure("gateway CPU per call to a plain backend", p, "µs"));
        report.push(figure("gateway CPU per call to an https backend", s, "µs"));
        report.push(figure("https ÷ plain", s / p.max(f64::MIN_POSITIVE), "×").at_most(1.2, "≤ 1.2"));
        report.push(figure(
            format!("TLS connections the https backend accepted in the run ({calls} measured calls)"),
            secure.connections() as f64,
            "",
        ));
        self.finish(&report);
    }
}
