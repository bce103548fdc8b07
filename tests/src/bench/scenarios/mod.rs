//! The scenarios: overhead, streaming, scale of config, propagation,
//! startup, one file each; here what they share: the gateways they start
//! and how a run is sized.

mod kinds;
mod overhead;
mod propagation;
mod scale;
mod startup;
mod streaming;
mod tls;
mod tracing;

use std::{path::PathBuf, time::Duration};

use super::{
    loadgen::{self, HttpClient, RunResult, Session, Target},
    procstat,
    report::Report,
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
        self.serve_with(&[]).await
    }

    /// `mcpgw serve` with `env` besides its database.
    async fn serve_with(&self, env: &[(&str, &str)]) -> Gateway {
        let db = SqliteDb::new();
        let mut all = vec![("DATABASE_URL", db.url.as_str())];
        all.extend_from_slice(env);
        let mut p = self.mcpgw(&["serve", "--port", "0"], &all).await;
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
        if all || which == "tls" {
            self.tls().await;
        }
        if all || which == "kinds" {
            self.kinds().await;
        }
        if all || which == "tracing" {
            self.tracing().await;
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
}
