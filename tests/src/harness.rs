//! Runs the real `mcpgw` binary as child processes on loopback ports, and
//! gives tests fresh Postgres databases.

use std::{net::SocketAddr, path::PathBuf, process::Stdio, time::Duration};

use sqlx::{Connection, Executor, PgConnection};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    process::{Child, Command},
    sync::mpsc,
};

/// How long any single wait in a test may take before it fails.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The `mcpgw` binary built for these tests (next to the test executable).
/// The Python with the packages of `tests/python/requirements.txt` (the
/// official MCP SDK, schemathesis), which `MCPGW_PYTHON` names (`.ci/run`
/// makes one). Without it a test says so and passes, unless
/// `MCPGW_REQUIRE_PYTHON=1` (CI) makes that a failure.
pub fn python() -> Option<PathBuf> {
    match std::env::var_os("MCPGW_PYTHON") {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var("MCPGW_REQUIRE_PYTHON").as_deref() == Ok("1") => {
            panic!("MCPGW_REQUIRE_PYTHON=1 but MCPGW_PYTHON names no Python with the test packages")
        }
        None => {
            eprintln!("SKIPPED: MCPGW_PYTHON is not set (a Python with tests/python/requirements.txt, see .ci/run)");
            None
        }
    }
}

/// The path of `tests/python/{name}`.
pub fn python_script(name: &str) -> String {
    format!("{}/python/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs the Python script `args[0]` (of `tests/python/`) with the rest of
/// `args` and reads the one JSON line it prints; its failure fails the
/// test, with what it printed.
pub async fn python_json(python: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let run = Command::new(python)
        .arg(python_script(args[0]))
        .args(&args[1..])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(PATIENCE, run)
        .await
        .unwrap_or_else(|_| panic!("the Python script {args:?} did not finish"))
        .expect("run the Python script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{args:?}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).expect("one JSON line")
}

pub fn mcpgw_bin() -> PathBuf {
    built_bin("mcpgw-under-test")
}

/// The stdio MCP server fixture (`src/bin/fixture-stdio.rs`).
pub fn stdio_fixture_bin() -> PathBuf {
    built_bin("fixture-stdio")
}

fn built_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|d| if d.ends_with("deps") { d.parent() } else { Some(d) })
        .expect("target dir");
    dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// One running `mcpgw` process; killed when dropped.
pub struct Proc {
    child: Child,
    pub addr: SocketAddr,
    lines: mpsc::UnboundedReceiver<String>,
    /// What it printed before it said where it listens, not yet looked at.
    early: std::collections::VecDeque<String>,
}

impl Proc {
    /// Runs `mcpgw ARGS` with only `env` (plus PATH) in its environment and
    /// waits for it to say where it listens.
    pub async fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_bin(&mcpgw_bin(), args, env).await
    }

    /// A data plane, `node_id`, taking its config from `control_plane`.
    pub async fn data_plane(control_plane: &str, node_id: &str, env: &[(&str, &str)]) -> Self {
        let args = [
            "data-plane",
            "--port",
            "0",
            "--control-plane",
            control_plane,
            "--node-id",
            node_id,
        ];
        Self::start(&args, env).await
    }

    /// Like [`Proc::start`], with its log (stderr) among the lines the test
    /// reads, not only its stdout.
    pub async fn start_logged(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::spawn(&mcpgw_bin(), args, env, true).await
    }

    /// Like [`Proc::start`], with another build of the binary.
    pub async fn start_bin(bin: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::spawn(bin, args, env, false).await
    }

    async fn spawn(bin: &std::path::Path, args: &[&str], env: &[(&str, &str)], logged: bool) -> Self {
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "RUST_LOG",
                std::env::var("MCPGW_TEST_LOG").unwrap_or_else(|_| "error".into()),
            )
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(if logged { Stdio::piped() } else { Stdio::inherit() })
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", mcpgw_bin().display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, mut lines) = mpsc::unbounded_channel();
        fn forward(out: impl tokio::io::AsyncRead + Unpin + Send + 'static, tx: mpsc::UnboundedSender<String>) {
            tokio::spawn(async move {
                let mut reader = BufReader::new(out).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        if let Some(stderr) = child.stderr.take() {
            forward(stderr, tx.clone());
        }
        forward(stdout, tx);
        let mut early = std::collections::VecDeque::new();
        let line = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = lines.recv().await {
                if line.contains("listening on ") {
                    return line;
                }
                early.push_back(line);
            }
            panic!("mcpgw {args:?} exited before listening");
        })
        .await
        .unwrap_or_else(|_| panic!("mcpgw {args:?} did not start listening"));
        let addr = line
            .rsplit(' ')
            .next()
            .and_then(|a| a.parse().ok())
            .expect("an address after 'listening on'");
        Self {
            child,
            addr,
            lines,
            early,
        }
    }

    /// Waits for a line of output containing `needle`.
    pub async fn wait_for_line(&mut self, needle: &str) -> String {
        while let Some(line) = self.early.pop_front() {
            if line.contains(needle) {
                return line;
            }
        }
        tokio::time::timeout(PATIENCE, async {
            while let Some(line) = self.lines.recv().await {
                if line.contains(needle) {
                    return line;
                }
            }
            panic!("process exited before printing {needle:?}");
        })
        .await
        .unwrap_or_else(|_| panic!("no line containing {needle:?}"))
    }

    /// The lines printed since the last look, without waiting for more.
    pub fn lines_so_far(&mut self) -> Vec<String> {
        let mut v: Vec<String> = self.early.drain(..).collect();
        while let Ok(line) = self.lines.try_recv() {
            v.push(line);
        }
        v
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("a running child has a pid")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Kills the process (SIGKILL) and waits until it is gone.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    /// Asks the process to stop (SIGTERM), as Kubernetes does.
    pub async fn terminate(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .await
            .expect("run kill");
        assert!(sent.success(), "SIGTERM to {}", self.pid());
    }

    /// Waits for the process to exit by itself; its status.
    pub async fn exited(&mut self) -> std::process::ExitStatus {
        tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("the process did not exit")
            .expect("wait for the process")
    }
}

/// Polls `check` until it yields a value: for waiting on a report (a node's
/// applied version, a listing) that has no push notification to wait on.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A fresh temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("mcpgw-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Default for TempDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh SQLite database file in a temporary directory, removed on drop.
pub struct SqliteDb {
    dir: TempDir,
    pub url: String,
}

impl SqliteDb {
    pub fn new() -> Self {
        let dir = TempDir::new();
        let url = format!("sqlite:{}", dir.path().join("registry.db").display());
        Self { dir, url }
    }
}

impl Default for SqliteDb {
    fn default() -> Self {
        Self::new()
    }
}

const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A fresh Postgres database, dropped when the guard is.
pub struct PgDb {
    pub url: String,
    name: String,
}

/// A new empty database on the local Postgres, or `None` (test skipped) when
/// there is none, unless `MCPGW_REQUIRE_POSTGRES=1`, as in CI, makes that a
/// failure.
pub async fn postgres() -> Option<PgDb> {
    match PgConnection::connect(PG_ADMIN_URL).await {
        Ok(mut conn) => {
            let name = format!("mcpgw_t_{}", uuid::Uuid::new_v4().simple());
            conn.execute(format!("CREATE DATABASE {name}").as_str())
                .await
                .expect("create test database");
            Some(PgDb {
                url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
                name,
            })
        }
        Err(e) if std::env::var("MCPGW_REQUIRE_POSTGRES").as_deref() == Ok("1") => {
            panic!("MCPGW_REQUIRE_POSTGRES=1 but Postgres at {PG_ADMIN_URL} is unreachable: {e}")
        }
        Err(e) => {
            eprintln!("skipping the Postgres part of this test: {e}");
            None
        }
    }
}

/// The local Redis, for tests of a fleet of data planes, or `None` (test
/// skipped) when there is none, unless `MCPGW_REQUIRE_REDIS=1`, as in CI,
/// makes that a failure. Each caller gets its own key prefix, so tests
/// running at once do not hear each other.
pub async fn redis() -> Option<RedisFleet> {
    const ADDR: &str = "127.0.0.1:6379";
    let pong = async {
        let mut conn = tokio::net::TcpStream::connect(ADDR).await?;
        conn.write_all(b"PING\r\n").await?;
        let mut buf = [0u8; 7];
        conn.read_exact(&mut buf).await?;
        Ok::<_, std::io::Error>(buf == *b"+PONG\r\n")
    };
    match tokio::time::timeout(PATIENCE, pong).await {
        Ok(Ok(true)) => Some(RedisFleet {
            url: format!("redis://{ADDR}"),
            prefix: format!("mcpgw-t-{}", uuid::Uuid::new_v4().simple()),
        }),
        outcome if std::env::var("MCPGW_REQUIRE_REDIS").as_deref() == Ok("1") => {
            panic!("MCPGW_REQUIRE_REDIS=1 but Redis at {ADDR} does not answer PING: {outcome:?}")
        }
        outcome => {
            eprintln!("skipping this fleet test: no Redis at {ADDR} ({outcome:?})");
            None
        }
    }
}

/// Where the data planes of one test's fleet meet.
pub struct RedisFleet {
    pub url: String,
    pub prefix: String,
}

impl RedisFleet {
    /// The environment that puts a node in this fleet.
    pub fn env(&self) -> [(&str, &str); 2] {
        [("REDIS_URL", &self.url), ("MCPGW_REDIS_PREFIX", &self.prefix)]
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async; a short-lived runtime on its own thread does the I/O.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = PgConnection::connect(PG_ADMIN_URL).await.ok()?;
                conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// Waits until the control plane behind `admin` reports every node named in
/// `nodes` (or, if empty, at least one node) connected at `version` or later.
/// The config version the control plane behind `admin` is at.
pub async fn config_version(admin: &crate::clients::Admin) -> u64 {
    admin
        .clone()
        .list_nodes(mcpgw_proto::v1::ListNodesRequest {})
        .await
        .expect("list nodes")
        .into_inner()
        .current_version
}

/// Creates a virtual server and waits until a data plane serves it.
pub async fn server_served(
    admin: &crate::clients::Admin,
    req: mcpgw_proto::v1::CreateServerRequest,
) -> mcpgw_proto::v1::Server {
    let server = admin
        .clone()
        .create_server(req)
        .await
        .expect("create the virtual server")
        .into_inner()
        .server
        .expect("the created server");
    nodes_at(admin, &[], server.config_version).await;
    server
}

pub async fn nodes_at(admin: &crate::clients::Admin, nodes: &[&str], version: u64) {
    eventually(&format!("nodes {nodes:?} at config version {version}"), || {
        let mut admin = admin.clone();
        async move {
            let r = admin
                .list_nodes(mcpgw_proto::v1::ListNodesRequest {})
                .await
                .ok()?
                .into_inner();
            let at = |n: &mcpgw_proto::v1::Node| n.connected && n.applied_version >= version;
            let ok = if nodes.is_empty() {
                r.nodes.iter().any(at)
            } else {
                nodes.iter().all(|id| r.nodes.iter().any(|n| n.node_id == *id && at(n)))
            };
            ok.then_some(())
        }
    })
    .await;
}

/// Two data planes of one gateway behind a round-robin balancer (see
/// [`Served::two_nodes`]).
pub struct TwoNodes {
    pub a: Served,
    pub b: Proc,
    pub balancer: crate::proxy::RoundRobin,
}

impl TwoNodes {
    /// A raw client of the balancer's `/mcp`, a connection per request.
    pub fn raw(&self, token: Option<String>) -> crate::clients::RawMcp {
        crate::clients::RawMcp {
            http: crate::proxy::RoundRobin::client(),
            url: self.balancer.url("/mcp"),
            token,
        }
    }
}

/// What one run of the `mcpgw` command printed.
pub struct Output {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the `mcpgw` command line to completion, as a user would.
pub async fn mcpgw_cli(args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = Command::new(mcpgw_bin())
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .await
        .expect("run mcpgw");
    Output {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A gateway [`Served::stop`]ped: its port and registry.
pub struct Stopped {
    port: u16,
    db: SqliteDb,
}

impl Stopped {
    /// Starts the gateway again with `env`, on its port and registry, ready.
    pub async fn start(self, env: &[(&str, &str)]) -> Served {
        let port = self.port.to_string();
        let mut all = vec![("DATABASE_URL", self.db.url.as_str())];
        all.extend_from_slice(env);
        let mut proc = Proc::start(&["serve", "--port", &port], &all).await;
        proc.wait_for_line("ready").await;
        let admin = crate::clients::admin(proc.addr).await;
        Served {
            proc,
            admin,
            _db: self.db,
        }
    }
}

/// `mcpgw serve` on a fresh SQLite registry, ready, with its admin client.
pub struct Served {
    pub proc: Proc,
    pub admin: crate::clients::Admin,
    _db: SqliteDb,
}

impl Served {
    pub async fn start(env: &[(&str, &str)]) -> Self {
        Self::start_as(env, false).await
    }

    /// Like [`Served::start`], logging at debug level into the lines the
    /// test reads ([`Proc::lines_so_far`]).
    pub async fn start_logged(env: &[(&str, &str)]) -> Self {
        Self::start_as(env, true).await
    }

    async fn start_as(env: &[(&str, &str)], logged: bool) -> Self {
        let db = SqliteDb::new();
        let mut all = vec![("DATABASE_URL", db.url.as_str())];
        if logged {
            all.push(("RUST_LOG", "debug"));
        }
        all.extend_from_slice(env);
        let mut proc = if logged {
            Proc::start_logged(&["serve", "--port", "0"], &all).await
        } else {
            Proc::start(&["serve", "--port", "0"], &all).await
        };
        proc.wait_for_line("ready").await;
        let admin = crate::clients::admin(proc.addr).await;
        Self { proc, admin, _db: db }
    }

    /// Stops this gateway (SIGKILL), keeping its registry to start it again.
    pub async fn stop(self) -> Stopped {
        let port = self.proc.addr.port();
        self.proc.kill().await;
        Stopped { port, db: self._db }
    }

    /// A gateway serving one default fixture per name, registered in order.
    pub async fn with_fixtures(names: &[&str]) -> (Vec<crate::fixture::Fixture>, Self) {
        Self::with_fixtures_env(names, &[]).await
    }

    /// Like [`Served::with_fixtures`], with `env` for the gateway.
    pub async fn with_fixtures_env(names: &[&str], env: &[(&str, &str)]) -> (Vec<crate::fixture::Fixture>, Self) {
        let mut fixtures = Vec::with_capacity(names.len());
        for _ in names {
            fixtures.push(crate::fixture::Fixture::start(Default::default()).await);
        }
        let backends: Vec<(&str, String)> = names.iter().copied().zip(fixtures.iter().map(|f| f.url())).collect();
        let served = Self::start(env).await.with_backends(&backends).await;
        (fixtures, served)
    }

    /// Runs `mcpgw ARGS --server <this gateway>` to completion.
    pub async fn cli(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let server = self.proc.url("");
        let mut all = args.to_vec();
        all.extend(["--server", server.as_str()]);
        mcpgw_cli(&all, env).await
    }

    /// The registry's database files (with its write-ahead log), as bytes.
    pub fn database_bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for entry in std::fs::read_dir(self._db.dir.path()).expect("the database directory") {
            all.extend(std::fs::read(entry.expect("an entry").path()).expect("a database file"));
        }
        all
    }

    /// A gateway serving `backends` (name, URL) on two data planes (this
    /// process's and node `dp-b`) with `env`, behind a round-robin balancer
    /// that sends each connection to the other node.
    pub async fn two_nodes(env: &[(&str, &str)], backends: &[(&str, String)]) -> TwoNodes {
        let a = Served::start(env).await.with_backends(backends).await;
        let b = a.node("dp-b", env).await;
        let balancer = crate::proxy::RoundRobin::start(vec![a.proc.addr, b.addr]).await;
        TwoNodes { a, b, balancer }
    }

    /// Another data plane following this gateway's control plane, ready.
    pub async fn node(&self, id: &str, env: &[(&str, &str)]) -> Proc {
        let mut dp = Proc::data_plane(&self.proc.url(""), id, env).await;
        dp.wait_for_line("ready").await;
        dp
    }

    /// Registers backends and waits until the gateway serves them all.
    pub async fn with_backends(self, backends: &[(&str, String)]) -> Self {
        let mut version = 0;
        for (name, url) in backends {
            version = crate::clients::register(&self.admin, name, url.clone()).await;
        }
        nodes_at(&self.admin, &[], version).await;
        self
    }
}
