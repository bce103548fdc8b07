//! A call that streams 100 progress notifications, through the gateway
//! and direct.

use super::Bench;
use crate::{
    bench::{
        backend::{self, FastBackend},
        loadgen::{self, Session, Target},
        procstat,
        report::{Report, figure},
    },
    clients,
};

impl Bench {
    pub(super) async fn streaming(&self) {
        let backend = FastBackend::start(1).await;
        let client = loadgen::http_client();
        let direct = Target {
            url: backend.url(0),
            token: None,
            tool: "stream".into(),
            arguments: "{}".into(),
            capabilities: "{}",
            stateless: false,
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
            backend::STREAM_EVENTS
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
}
