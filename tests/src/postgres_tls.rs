//! A Postgres of the test's own that takes only TLS connections, with a
//! certificate from a CA made in the test: `initdb` in a temp dir, a free
//! loopback port, stopped and removed when dropped (and stopped and
//! started again by a test of outages). The machine's own Postgres is
//! never reconfigured.

use std::{
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::{Path, PathBuf},
    process::Command,
};

use sqlx::{Connection, Executor, PgConnection};

use crate::tls::TestCa;

pub struct TlsPostgres {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    /// Runs Postgres' tools as its own user when the tests run as root
    /// (`initdb` refuses root).
    as_postgres: bool,
    pub ca: TestCa,
}

/// Where `initdb` and `pg_ctl` are: on `PATH`, or Debian's newest
/// `/usr/lib/postgresql/N/bin`.
fn bin_dir() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .find(|d| d.join("initdb").is_file());
    on_path
        .or_else(|| {
            let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
                .ok()?
                .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                .filter(|d| d.join("initdb").is_file())
                .collect();
            versions.sort();
            versions.pop()
        })
        .expect("Postgres' server tools (initdb, pg_ctl): install postgresql")
}

fn id_of(flag: &str) -> u32 {
    let out = Command::new("id").args([flag, "postgres"]).output().expect("run id");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("the postgres user exists")
}

impl TlsPostgres {
    pub fn start() -> Self {
        let bin = bin_dir();
        let dir = std::env::temp_dir().join(format!("mcpgw-pgtls-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&dir).expect("temp dir");
        let as_postgres = std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let ca = TestCa::new();
        let (cert, key) = ca.issue(&["localhost", "127.0.0.1"]);
        let pg = Self {
            dir,
            port,
            bin,
            as_postgres,
            ca,
        };
        pg.write("server.crt", &cert.pem(), 0o644);
        pg.write("server.key", &key.serialize_pem(), 0o600);
        pg.own(&pg.dir);
        let data = pg.dir.join("data");
        pg.tool(
            "initdb",
            &["-D", path(&data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        );
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{dir}'\n\
             ssl = on\nssl_cert_file = '{dir}/server.crt'\nssl_key_file = '{dir}/server.key'\n\
             fsync = off\nsynchronous_commit = off\n",
            dir = pg.dir.display()
        );
        append(&data.join("postgresql.conf"), &conf);
        // TLS or nothing, over TCP.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n",
        )
        .expect("pg_hba.conf");
        let log = pg.dir.join("log");
        pg.tool("pg_ctl", &["-D", path(&data), "-l", path(&log), "-w", "start"]);
        pg
    }

    /// A URL for `database` that requires TLS and checks the server's
    /// certificate and name against the test's CA.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}?sslmode=verify-full&sslrootcert={}",
            self.port,
            self.ca.pem_file.display()
        )
    }

    /// The same without the test's CA: the server's certificate is checked
    /// against the usual roots, which do not have it.
    pub fn untrusting_url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}?sslmode=verify-full",
            self.port
        )
    }

    /// The same without TLS, which this server refuses.
    pub fn plain_url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}?sslmode=disable", self.port)
    }

    /// A fresh database; its URL.
    pub async fn database(&self, name: &str) -> String {
        let mut conn = PgConnection::connect(&self.url("postgres"))
            .await
            .expect("connect over TLS");
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create a database");
        self.url(name)
    }

    /// Stops the server, as an outage does: every connection dropped at
    /// once (a fast shutdown, which keeps what was committed; this server
    /// runs with `synchronous_commit = off`, so an immediate one could lose
    /// the last commits).
    pub fn stop(&self) {
        let data = self.dir.join("data");
        self.tool("pg_ctl", &["-D", path(&data), "-m", "fast", "-w", "stop"]);
    }

    /// Starts it again after [`TlsPostgres::stop`], on the same port.
    pub fn restart(&self) {
        let (data, log) = (self.dir.join("data"), self.dir.join("log"));
        self.tool("pg_ctl", &["-D", path(&data), "-l", path(&log), "-w", "start"]);
    }

    fn write(&self, name: &str, contents: &str, mode: u32) {
        let file = self.dir.join(name);
        std::fs::write(&file, contents).expect("write a file for Postgres");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("chmod");
        self.own(&file);
    }

    fn own(&self, p: &Path) {
        if self.as_postgres {
            std::os::unix::fs::chown(p, Some(id_of("-u")), Some(id_of("-g"))).expect("chown to postgres");
        }
    }

    fn tool(&self, name: &str, args: &[&str]) {
        let out = self.run(name, args).unwrap_or_else(|e| panic!("run {name}: {e}"));
        assert!(
            out.status.success(),
            "{name} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
        );
    }

    fn run(&self, name: &str, args: &[&str]) -> std::io::Result<std::process::Output> {
        let exe = self.bin.join(name);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args).output()
    }
}

impl Drop for TlsPostgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        if data.join("postmaster.pid").exists() {
            let _ = self.run("pg_ctl", &["-D", path(&data), "-m", "immediate", "-w", "stop"]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

fn append(file: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(file)
        .expect("open postgresql.conf");
    f.write_all(text.as_bytes()).expect("append to postgresql.conf");
}
