//! The Helm chart, checked with real Helm and the real Kubernetes schemas,
//! no cluster (`tests/chart/check.py`: lint, render and validate every
//! meaningful value set, values.schema.json refusing bad values), then
//! proved consistent with the binary: the control plane's and data plane's
//! containers as the chart renders them for an external Postgres — their
//! args, env and ports — run here as local processes (the Secrets' values
//! made by the test, the control plane's Service name resolved to where
//! it listens, loopback instead of 0.0.0.0, a free port for each, the
//! test's log level), and
//! they become ready and serve a call.

use std::collections::HashMap;

use mcpgw_tests::{
    clients,
    fixture::{Fixture, FixtureConfig},
    harness::{Proc, TempDir, eventually, mcpgw_cli, postgres, python},
};
use serde_json::Value;

/// A rendered container's args, env and ports, started as a process.
struct Container<'a> {
    rendered: &'a Value,
}

impl Container<'_> {
    fn args(&self) -> Vec<String> {
        serde_json::from_value(self.rendered["args"].clone()).expect("args")
    }

    /// The port the container listens on: its `--port`, which must be its
    /// declared containerPort.
    fn port(&self) -> String {
        let args = self.args();
        let at = args.iter().position(|a| a == "--port").expect("a --port arg") + 1;
        let declared = self.rendered["ports"][0]["containerPort"]
            .as_u64()
            .expect("a containerPort");
        assert_eq!(args[at], declared.to_string(), "--port is the containerPort");
        args[at].clone()
    }

    /// Its env, each `valueFrom` resolved from `secrets` (by Secret name and
    /// key) or the pod's name, values passed through `rewrite`.
    fn env(
        &self,
        secrets: &HashMap<&str, HashMap<&str, String>>,
        rewrite: impl Fn(&str, &str) -> String,
    ) -> Vec<(String, String)> {
        let list = self.rendered["env"].as_array().expect("env");
        list.iter()
            .map(|e| {
                let name = e["name"].as_str().expect("a name").to_owned();
                let value = if let Some(v) = e["value"].as_str() {
                    v.to_owned()
                } else if let Some(r) = e.pointer("/valueFrom/secretKeyRef") {
                    let (secret, key) = (r["name"].as_str().unwrap(), r["key"].as_str().unwrap());
                    secrets
                        .get(secret)
                        .and_then(|s| s.get(key))
                        .unwrap_or_else(|| panic!("the chart reads {secret}/{key}, which the test does not provide"))
                        .clone()
                } else if e.pointer("/valueFrom/fieldRef/fieldPath").and_then(Value::as_str) == Some("metadata.name") {
                    "mcpgw-data-plane-7d9f-abcde".to_owned()
                } else {
                    panic!("an env source the test does not resolve: {e}")
                };
                let value = rewrite(&name, &value);
                (name, value)
            })
            .collect()
    }
}

async fn start(c: &Container<'_>, env: &[(String, String)]) -> Proc {
    let mut args = c.args();
    let port = c.port();
    // A free port here; the rendered one was checked above.
    for a in args.iter_mut().filter(|a| **a == port) {
        *a = "0".into();
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Proc::start(&args, &env).await
}

async fn until_ready(url: String) {
    eventually(&format!("{url} to be ready"), || {
        let url = url.clone();
        async move { reqwest::get(&url).await.ok().filter(|r| r.status() == 200).map(|_| ()) }
    })
    .await;
}

#[tokio::test]
async fn the_chart_validates_and_its_containers_run_as_rendered() {
    let Some(py) = python() else { return };
    let Some(pg) = postgres().await else { return };
    let dir = TempDir::new();
    let out = dir.path().join("containers.json");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let checked = std::process::Command::new(&py)
        .arg(root.join("tests/chart/check.py"))
        .arg(root.join("charts/mcpgw"))
        .arg(&out)
        .output()
        .expect("run check.py");
    let said = String::from_utf8_lossy(&checked.stdout);
    assert!(
        checked.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    println!("{said}");
    let rendered: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();

    let jwt = uuid::Uuid::new_v4().simple().to_string();
    let password = uuid::Uuid::new_v4().simple().to_string();
    let secrets: HashMap<&str, HashMap<&str, String>> = HashMap::from([
        (
            "mcpgw-secrets",
            HashMap::from([
                ("JWT_SECRET_KEY", jwt.clone()),
                ("AUTH_ENCRYPTION_SECRET", uuid::Uuid::new_v4().simple().to_string()),
                ("BASIC_AUTH_USER", "admin".to_owned()),
                ("BASIC_AUTH_PASSWORD", password.clone()),
            ]),
        ),
        ("mcpgw-db", HashMap::from([("DATABASE_URL", pg.url.clone())])),
    ]);
    let saved = dir.path().join("saved").to_string_lossy().into_owned();
    let loopback = |name: &str, value: &str| {
        if name == "HOST" {
            assert_eq!(value, "0.0.0.0", "the chart listens on every address");
            return "127.0.0.1".to_owned();
        }
        if name == "MCPGW_SNAPSHOT_DIR" {
            // The pod's emptyDir, here a directory of the test's.
            return saved.clone();
        }
        if name == "RUST_LOG" {
            // The test's own level, as for every process a test starts.
            return std::env::var("MCPGW_TEST_LOG").unwrap_or_else(|_| "error".into());
        }
        value.to_owned()
    };

    let cp = Container {
        rendered: &rendered["control-plane"],
    };
    let cp_env = cp.env(&secrets, loopback);
    let cp_proc = start(&cp, &cp_env).await;
    until_ready(cp_proc.url(cp.rendered["ready"].as_str().unwrap())).await;

    let dp = Container {
        rendered: &rendered["data-plane"],
    };
    let service = format!("mcpgw-control-plane.mcpgw.svc:{}", cp.port());
    let cp_addr = cp_proc.addr.to_string();
    let dp_env = dp.env(&secrets, |name, value| {
        if name == "MCPGW_CONTROL_PLANE" {
            assert!(value.ends_with(&service), "{value}");
            // The Service's name, resolved to where the control plane listens.
            return value.replace(&service, &cp_addr);
        }
        loopback(name, value)
    });
    let dp_proc = start(&dp, &dp_env).await;
    until_ready(dp_proc.url(dp.rendered["ready"].as_str().unwrap())).await;

    // Registered with the Secret's admin credentials, called with a token
    // of the Secret's JWT key.
    let fx = Fixture::start(FixtureConfig::default()).await;
    let admin_env = [
        ("MCPGW_SERVER", cp_proc.url("")),
        ("BASIC_AUTH_USER", "admin".to_owned()),
        ("BASIC_AUTH_PASSWORD", password),
    ];
    let admin_env: Vec<(&str, &str)> = admin_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let added = mcpgw_cli(&["backend", "add", "--name", "fx", "--url", &fx.url()], &admin_env).await;
    assert!(added.ok, "{}{}", added.stdout, added.stderr);
    let token = mcpgw_data_plane::auth::Jwt::new(&jwt).mint("carol", 600);
    let url = dp_proc.url("/mcp");
    let names = eventually("the backend's tools on the data plane", || {
        let (url, token) = (url.clone(), token.clone());
        async move {
            let names = clients::tool_names(&url, &token).await;
            names.contains(&"fx-echo".to_owned()).then_some(names)
        }
    })
    .await;
    assert!(names.contains(&"fx-echo".to_owned()));
    let client = clients::mcp(&url, Some(&token)).await;
    let result = client
        .call_tool(clients::tool_call(
            "fx-echo",
            serde_json::json!({"text": "as rendered"}),
        ))
        .await
        .expect("a call through the data plane");
    assert_eq!(clients::first_text(&result), "as rendered");
    client.cancel().await.unwrap();

    // Every metric the chart's dashboard queries is one the planes export.
    let mut scraped = String::new();
    for url in [dp_proc.url("/metrics"), cp_proc.url("/metrics")] {
        let res = reqwest::get(&url).await.expect("scrape");
        assert_eq!(res.status(), 200, "{url}");
        scraped.push_str(&res.text().await.unwrap());
    }
    let queried = rendered["dashboard_metrics"]
        .as_array()
        .expect("the dashboard's metrics");
    assert!(queried.len() >= 10, "{queried:?}");
    for name in queried {
        let name = name.as_str().unwrap();
        let family = ["_total", "_bucket", "_count", "_sum"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        assert!(
            scraped.contains(&format!("# TYPE {family} ")),
            "the dashboard queries {name}, which no plane exports"
        );
    }
}
