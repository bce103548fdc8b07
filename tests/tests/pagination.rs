//! `tools/list` in pages with the gateway's own cursors: every tool of every
//! backend exactly once, in order; a cursor it did not issue is refused.

use std::collections::HashSet;

use mcpgw_tests::{
    clients::{self, RawMcp},
    fixture::{Fixture, FixtureConfig, tool_definitions},
    harness::{Proc, SqliteDb, nodes_at},
};
use serde_json::{Value, json};

#[tokio::test]
async fn two_backends_of_a_thousand_tools_list_every_tool_exactly_once() {
    let cfg = FixtureConfig {
        extra_tools: 1000,
        page_size: 250,
        ..Default::default()
    };
    let per_backend = tool_definitions(&cfg).len();
    let (a, b) = (Fixture::start(cfg.clone()).await, Fixture::start(cfg).await);
    let db = SqliteDb::new();
    let mut gw = Proc::start(
        &["serve", "--port", "0"],
        &[("DATABASE_URL", &db.url), ("MCPGW_LIST_PAGE_SIZE", "100")],
    )
    .await;
    gw.wait_for_line("ready").await;
    let admin = clients::admin(gw.addr).await;
    clients::register(&admin, "alpha", a.url()).await;
    let v = clients::register(&admin, "bravo", b.url()).await;
    nodes_at(&admin, &[], v).await;

    // An independent client follows the cursors.
    let names = clients::tool_names(&gw.url("/mcp"), &clients::token("pat")).await;
    assert_eq!(names.len(), 2 * per_backend);
    assert_eq!(names.iter().collect::<HashSet<_>>().len(), names.len(), "no tool twice");
    assert!(
        names[..per_backend].iter().all(|n| n.starts_with("alpha-")),
        "alpha's tools, then bravo's"
    );

    // Pages are 100 tools; the last one has no cursor.
    let raw = RawMcp::new(gw.url("/mcp"), Some(clients::token("pat")));
    let (sid, _) = raw.initialize("2025-11-25").await;
    let list = |cursor: Option<String>| {
        let (raw, sid) = (raw.clone(), sid.clone());
        async move {
            let params = cursor.map_or(json!({}), |c| json!({ "cursor": c }));
            let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/list","params":params}).to_string();
            raw.post(body, &[("mcp-session-id", &sid)])
                .await
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let (mut cursor, mut pages, mut seen) = (None, 0, 0);
    loop {
        let page = list(cursor.clone()).await;
        let n = page["result"]["tools"].as_array().unwrap().len();
        pages += 1;
        seen += n;
        match page["result"]["nextCursor"].as_str() {
            Some(next) => {
                assert_eq!(n, 100);
                cursor = Some(next.to_owned());
            }
            None => break,
        }
    }
    assert_eq!((seen, pages), (2 * per_backend, (2 * per_backend).div_ceil(100)));

    for bad in ["not-a-cursor", "", "!!!"] {
        let page = list(Some(bad.to_owned())).await;
        assert_eq!(page["error"]["code"], -32602, "{bad:?}: {page}");
        assert!(page["error"]["message"].as_str().unwrap().contains("cursor"), "{page}");
    }
}
