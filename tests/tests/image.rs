//! The container image, built offline (nothing can be pulled here): the
//! locally built binary in a `FROM scratch` image holding exactly what the
//! `Dockerfile`'s runtime stage (distroless `cc`, non-root) holds — the
//! binary at `/usr/local/bin/mcpgw`, the CA roots, the shared libraries it
//! links, a `nonroot` user (65532) it runs as, a writable `/tmp` — built
//! and run with `buildah` (`--isolation chroot`, its own storage in a temp
//! dir). It prints its version and serves `/health` and `/ready`.
//! Without `buildah` the test says so and passes, unless
//! `MCPGW_REQUIRE_BUILDAH=1` (CI, which installs it) makes that a failure.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
};

use mcpgw_tests::harness::{TempDir, eventually, mcpgw_bin};
use tokio::process::Command;

/// The non-root user of distroless images.
const NONROOT: u32 = 65532;

fn buildah_present() -> bool {
    let found = std::process::Command::new("buildah")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found && std::env::var("MCPGW_REQUIRE_BUILDAH").as_deref() == Ok("1") {
        panic!("MCPGW_REQUIRE_BUILDAH=1 but buildah does not run: apt-get install buildah");
    }
    if !found {
        eprintln!("SKIPPED: buildah is not installed (apt-get install buildah; .ci/run does)");
    }
    found
}

/// `buildah` on the test's own storage.
struct Buildah {
    dir: TempDir,
}

impl Buildah {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("buildah");
        let (root, run) = (self.dir.path().join("storage"), self.dir.path().join("run"));
        cmd.arg("--root")
            .arg(root)
            .arg("--runroot")
            .arg(run)
            .args(["--storage-driver", "vfs"])
            .args(args)
            .kill_on_drop(true);
        cmd
    }

    async fn run(&self, args: &[&str]) -> String {
        let out = self.command(args).output().await.expect("run buildah");
        assert!(
            out.status.success(),
            "buildah {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

/// The image's files: what the runtime stage of the `Dockerfile` has.
fn rootfs(at: &Path) {
    let put = |path: &str, from: &Path| {
        let to = at.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, &to).unwrap_or_else(|e| panic!("copy {} to the image: {e}", from.display()));
    };
    let bin = mcpgw_bin();
    put("/usr/local/bin/mcpgw", &bin);
    put(
        "/etc/ssl/certs/ca-certificates.crt",
        Path::new("/etc/ssl/certs/ca-certificates.crt"),
    );
    // The shared libraries it links, and the loader, where ldd finds them.
    let ldd = std::process::Command::new("ldd").arg(&bin).output().expect("run ldd");
    let libs: Vec<PathBuf> = String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
        .map(PathBuf::from)
        .collect();
    assert!(libs.iter().any(|l| l.to_string_lossy().contains("libc.so")), "{libs:?}");
    for lib in &libs {
        put(&lib.to_string_lossy(), &std::fs::canonicalize(lib).unwrap());
    }
    let etc = at.join("etc");
    std::fs::write(
        etc.join("passwd"),
        format!(
            "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{NONROOT}:{NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n"
        ),
    )
    .unwrap();
    std::fs::write(etc.join("group"), format!("root:x:0:\nnonroot:x:{NONROOT}:\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let tmp = at.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let home = at.join("home/nonroot");
    std::fs::create_dir_all(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(NONROOT), Some(NONROOT)).unwrap();
}

/// Sends SIGTERM to `buildah run` when dropped (a failed assertion
/// included), which stops what it runs; SIGKILL would leave that behind.
struct Terminate(String);

impl Drop for Terminate {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").args(["-TERM", &self.0]).status();
    }
}

/// The user id of the process whose command line is `cmdline`.
fn uid_of(cmdline: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|p| {
        let cmd = std::fs::read(p.path().join("cmdline")).ok()?;
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.trim_end() != cmdline {
            return None;
        }
        let status = std::fs::read_to_string(p.path().join("status")).ok()?;
        let uid = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
        uid.split_whitespace().next()?.parse().ok()
    })
}

#[tokio::test]
async fn the_image_runs_the_binary_as_nonroot_and_serves_health() {
    if !buildah_present() {
        return;
    }
    let b = Buildah { dir: TempDir::new() };
    let files = b.dir.path().join("rootfs");
    rootfs(&files);
    let image = "localhost/mcpgw-offline:test";
    let work = b.run(&["from", "scratch"]).await;
    b.run(&["copy", &work, &format!("{}/", files.display()), "/"]).await;
    let user = format!("{NONROOT}:{NONROOT}");
    b.run(&[
        "config",
        "--user",
        &user,
        "--entrypoint",
        r#"["/usr/local/bin/mcpgw"]"#,
        "--cmd",
        "serve",
        "--env",
        "HOST=0.0.0.0",
        "--port",
        "4444",
        &work,
    ])
    .await;
    b.run(&["commit", "-q", "--rm", &work, image]).await;
    let configured = b.run(&["inspect", "--format", "{{.OCIv1.Config.User}}", image]).await;
    assert_eq!(configured, user);

    let c = b.run(&["from", "-q", image]).await;
    let version = b
        .run(&[
            "run",
            "--isolation",
            "chroot",
            &c,
            "--",
            "/usr/local/bin/mcpgw",
            "--version",
        ])
        .await;
    assert!(version.starts_with("mcpgw "), "{version}");

    // Served from inside the image, on the host's loopback.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
        .to_string();
    let mut serving = b
        .command(&[
            "run",
            "--isolation",
            "chroot",
            "--env",
            "DATABASE_URL=sqlite:/tmp/registry.db",
            &c,
            "--",
            "/usr/local/bin/mcpgw",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("buildah run");
    let terminate = Terminate(serving.id().expect("running").to_string());
    let base = format!("http://127.0.0.1:{port}");
    let body = eventually("the image to serve /ready", || {
        let url = format!("{base}/ready");
        async move {
            let res = reqwest::get(&url).await.ok()?;
            (res.status() == 200).then_some(())?;
            res.text().await.ok()
        }
    })
    .await;
    assert!(body.contains("config version"), "{body}");
    let health: serde_json::Value = reqwest::get(format!("{base}/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "healthy");
    let cmdline = format!("/usr/local/bin/mcpgw serve --host 127.0.0.1 --port {port}");
    assert_eq!(uid_of(&cmdline), Some(NONROOT), "it runs as the image's non-root user");

    // SIGTERM to buildah stops what it runs.
    drop(terminate);
    let _ = serving.wait().await;
    eventually("the image's server to stop", || {
        let url = format!("{base}/health");
        async move { reqwest::get(&url).await.is_err().then_some(()) }
    })
    .await;
    b.run(&["rm", &c]).await;
    b.run(&["rmi", image]).await;
}
