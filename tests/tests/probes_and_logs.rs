//! Probes and logs fit for a cluster: a data plane is ready only once it
//! applied a config, a control plane only while its registry's database
//! answers (and again, unaided, once it is back); logs on a pipe carry no
//! colour codes, and with `MCPGW_LOG_FORMAT=json` are one JSON object per
//! line.

use mcpgw_tests::{
    harness::{Proc, SqliteDb, eventually},
    postgres_tls::TlsPostgres,
};

async fn get(url: &str) -> (u16, String) {
    let res = reqwest::get(url).await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    (res.status().as_u16(), res.text().await.unwrap_or_default())
}

/// `GET url` until it answers `status`; what it said.
async fn until(url: &str, status: u16) -> String {
    eventually(&format!("{url} to answer {status}"), || async move {
        let (s, body) = get(url).await;
        (s == status).then_some(body)
    })
    .await
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[tokio::test]
async fn a_data_plane_is_ready_only_once_it_applied_a_config() {
    let port = free_port().to_string();
    let cp_url = format!("http://127.0.0.1:{port}");
    let dp = Proc::data_plane(&cp_url, "dp", &[]).await;
    let (status, body) = get(&dp.url("/ready")).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("no config"), "{body}");
    let (status, _) = get(&dp.url("/health")).await;
    assert_eq!(status, 200, "alive all the same");

    let db = SqliteDb::new();
    let _cp = Proc::start(&["control-plane", "--port", &port], &[("DATABASE_URL", &db.url)]).await;
    let body = until(&dp.url("/ready"), 200).await;
    assert!(body.contains("config version"), "{body}");
}

#[tokio::test]
async fn a_control_plane_is_not_ready_while_its_database_is_down_and_recovers_unaided() {
    let pg = TlsPostgres::start();
    let url = pg.database("probes").await;
    let cp = Proc::start(&["control-plane", "--port", "0"], &[("DATABASE_URL", &url)]).await;
    let body = until(&cp.url("/ready"), 200).await;
    assert!(body.contains("config version"), "{body}");

    pg.stop();
    let body = until(&cp.url("/ready"), 503).await;
    assert!(body.contains("database does not answer"), "{body}");
    assert!(
        !body.contains("127.0.0.1") && !body.contains("postgres"),
        "nothing about the database told: {body}"
    );
    let (status, _) = get(&cp.url("/health")).await;
    assert_eq!(status, 200, "alive all the same");

    pg.restart();
    until(&cp.url("/ready"), 200).await;
}

#[tokio::test]
async fn logs_on_a_pipe_have_no_colour_codes_and_are_json_lines_when_asked() {
    for format in ["text", "json"] {
        let db = SqliteDb::new();
        let env = [
            ("DATABASE_URL", db.url.as_str()),
            ("MCPGW_LOG_FORMAT", format),
            ("RUST_LOG", "info"),
        ];
        let mut gw = Proc::start_logged(&["serve", "--port", "0"], &env).await;
        // The in-process data plane's config stream opening is logged.
        let line = gw.wait_for_line("config stream open").await;
        let mut lines = gw.lines_so_far();
        lines.push(line.clone());
        assert!(
            lines.iter().all(|l| !l.contains('\u{1b}')),
            "{format}: no escape codes on a pipe: {lines:?}"
        );
        if format == "json" {
            let logged: serde_json::Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("a JSON line ({e}): {line}"));
            assert_eq!(logged["level"], "INFO", "{logged}");
            assert_eq!(logged["fields"]["message"], "config stream open", "{logged}");
            assert!(logged["timestamp"].is_string(), "{logged}");
        } else {
            assert!(line.contains("INFO") && !line.starts_with('{'), "{line}");
        }
    }
}
