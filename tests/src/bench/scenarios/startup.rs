//! `mcpgw serve` from exec to ready.

use std::time::Instant;

use super::Bench;
use crate::{
    bench::report::{Report, figure},
    harness::SqliteDb,
};

impl Bench {
    pub(super) async fn startup(&self) {
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
