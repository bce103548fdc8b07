//! The REST API's OpenAPI document: served at `/openapi.json` (and read by
//! a page at `/docs`) without credentials, it lists every route the API
//! serves, and schemathesis (pinned in `tests/python/requirements.txt`),
//! generating requests from it against a registry with one item of each
//! kind, finds no 5xx and no answer the document does not describe
//! (status, content type, headers or body).

use std::collections::BTreeSet;

use mcpgw_tests::{
    fixture::Fixture,
    harness::{PATIENCE, Served, TempDir, python},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Context Forge's REST paths that scripts use, each of which the document
/// must describe.
const CF_PATHS: [&str; 18] = [
    "/tools",
    "/tools/{id}",
    "/tools/{id}/toggle",
    "/prompts",
    "/prompts/{id}",
    "/prompts/{id}/toggle",
    "/resources",
    "/resources/{id}",
    "/resources/{id}/toggle",
    "/servers",
    "/servers/{server}",
    "/servers/{server}/toggle",
    "/gateways",
    "/gateways/{id}",
    "/gateways/{id}/toggle",
    "/protocol/initialize",
    "/protocol/ping",
    "/version",
];

async fn document(gw: &Served) -> Value {
    let res = reqwest::get(gw.proc.url("/openapi.json")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/json");
    res.json().await.unwrap()
}

/// Every (method, path) the document describes.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut all = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            all.insert((method.to_ascii_uppercase(), path.clone()));
        }
    }
    all
}

/// The properties of a component schema, with those of the schemas it is
/// made of (`allOf`).
fn properties(doc: &Value, name: &str) -> BTreeSet<String> {
    let schema = &doc["components"]["schemas"][name];
    let mut all: BTreeSet<String> = schema["properties"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.keys().cloned())
        .collect();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        match part["$ref"].as_str() {
            Some(r) => all.extend(properties(doc, r.rsplit('/').next().unwrap())),
            None => all.extend(
                part["properties"]
                    .as_object()
                    .into_iter()
                    .flat_map(|p| p.keys().cloned()),
            ),
        }
    }
    all
}

#[tokio::test]
async fn the_document_describes_every_route_and_the_docs_page_reads_it() {
    let gw = Served::start(&[]).await;
    let doc = document(&gw).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    for path in CF_PATHS {
        assert!(doc["paths"].get(path).is_some(), "{path} is not described");
    }
    let ops = operations(&doc);
    assert!(ops.len() >= 35, "{ops:?}");
    let http = reqwest::Client::new();
    for (method, path) in &ops {
        // Each described operation is served, behind the admin
        // credentials, and (like every error) answers JSON.
        let url = gw.proc.url(&path.replace("{id}", "x").replace("{server}", "x"));
        let res = http
            .request(Method::from_bytes(method.as_bytes()).unwrap(), &url)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        let body: Value = res.json().await.unwrap();
        assert!(body["detail"].is_string(), "{method} {path}: {body}");
        // Every operation says what it answers when it refuses.
        let op = &doc["paths"][path][method.to_ascii_lowercase()];
        assert!(op["responses"]["4XX"].is_object(), "{method} {path}");
        for (status, r) in op["responses"].as_object().unwrap() {
            assert!(r["description"].is_string(), "{method} {path} {status}");
        }
    }
    // The schemas are the answers' own: a tool as /tools answers it.
    let tool = properties(&doc, "ToolRead");
    for key in [
        "id",
        "name",
        "originalName",
        "inputSchema",
        "gatewayId",
        "integrationType",
    ] {
        assert!(tool.contains(key), "ToolRead has no {key}: {tool:?}");
    }
    // axum's own rejections are JSON too, in the documented error shape.
    let res = http
        .get(gw.proc.url("/tools?limit=many"))
        .basic_auth("admin", Some("changeme"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("limit"), "{body}");

    let page = http.get(gw.proc.url("/docs")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    // minijinja's HTML escaping writes `/` as `&#x2f;`.
    let html = page.text().await.unwrap().replace("&#x2f;", "/");
    for (method, path) in &ops {
        assert!(
            html.contains(&format!(
                r#"<span class="method {method}">{method}</span> <span class="path">{path}</span>"#
            )),
            "the page does not show {method} {path}"
        );
    }
    assert!(html.contains(r#"id="schema-ToolRead""#));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page fetches nothing"
    );
}

/// Creates one thing through the REST API; its id.
async fn create(gw: &Served, path: &str, body: Value) -> String {
    let res = reqwest::Client::new()
        .post(gw.proc.url(path))
        .basic_auth("admin", Some("changeme"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{path}: {}", res.status());
    let created: Value = res.json().await.unwrap();
    created["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_answer_outside_the_document() {
    let Some(python) = python() else { return };
    let fx = Fixture::start(Default::default()).await;
    // Registering a gateway reaches its URL: fuzzed URLs fail fast.
    let gw = Served::start(&[("MCPGW_DISCOVERY_TIMEOUT_SECS", "2")]).await;
    let gateway = create(&gw, "/gateways", json!({"name": "fx", "url": fx.url()})).await;
    let tool = create(
        &gw,
        "/tools",
        json!({"name": "clock", "url": "http://127.0.0.1:9/time", "request_type": "GET"}),
    )
    .await;
    let prompt = create(
        &gw,
        "/prompts",
        json!({"name": "greet", "template": "Hello {{ who }}", "arguments": [{"name": "who", "required": true}]}),
    )
    .await;
    let resource = create(
        &gw,
        "/resources",
        json!({"uri": "note://one", "name": "one", "content": "text"}),
    )
    .await;
    let server = create(&gw, "/servers", json!({"name": "one", "associated_tools": [tool]})).await;
    let doc = document(&gw).await;
    let ops = operations(&doc).len();

    // Path ids that exist, so operations on one item are tested on a real
    // one (until a generated DELETE removes it; then they answer 404).
    let dir = TempDir::new();
    let config = dir.path().join("schemathesis.toml");
    let ids = [
        ("^/tools/", "id", &tool),
        ("^/prompts/", "id", &prompt),
        ("^/resources/", "id", &resource),
        ("^/gateways/", "id", &gateway),
        ("^/servers/", "server", &server),
    ];
    let mut toml = String::new();
    for (path, name, id) in ids {
        toml.push_str(&format!(
            "[[operations]]\ninclude-path-regex = \"{path}\"\nparameters = {{ \"{name}\" = \"{id}\" }}\n\n"
        ));
    }
    // A 502 is a server error to schemathesis, but the truthful answer
    // (and Context Forge's) when a URL the request gives cannot be
    // reached: it is allowed exactly where the document declares it.
    let mut gateway_errors = 0;
    for (method, path) in operations(&doc) {
        if doc["paths"][&path][method.to_ascii_lowercase()]["responses"]
            .get("502")
            .is_some()
        {
            gateway_errors += 1;
            toml.push_str(&format!(
                "[[operations]]\ninclude-name = \"{method} {path}\"\n\
                 checks.not_a_server_error.expected-statuses = [\"2xx\", \"3xx\", \"4xx\", \"502\"]\n\n"
            ));
        }
    }
    assert_eq!(
        gateway_errors, 4,
        "POST /gateways, PUT /gateways/{{id}}, POST /import, GET /resources/{{id}}"
    );
    std::fs::write(&config, toml).unwrap();

    let checks = "not_a_server_error,status_code_conformance,content_type_conformance,\
                  response_headers_conformance,response_schema_conformance";
    let run = tokio::process::Command::new(&python)
        .args([
            "-c",
            "import sys; from schemathesis.cli import schemathesis; sys.exit(schemathesis())",
        ])
        .arg("--config-file")
        .arg(&config)
        .args(["--no-color", "run", &gw.proc.url("/openapi.json")])
        .args(["--auth", "admin:changeme", "--checks", checks])
        .args([
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "25",
            "--workers",
            "2",
        ])
        .args(["--request-timeout", "10"])
        .current_dir(dir.path())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(PATIENCE * 10, run)
        .await
        .expect("schemathesis finishes")
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It tested every operation, and generated requests for them.
    assert!(stdout.contains(&format!("Selected: {ops}/{ops}")), "{stdout}");
    assert!(stdout.contains(&format!("Tested: {ops}")), "{stdout}");
    assert!(stdout.contains(" passed"), "{stdout}");
}
