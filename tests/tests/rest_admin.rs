//! The REST admin API in Context Forge's shapes, on `mcpgw serve`'s one
//! port: Context Forge's documented curl requests run as written (only the
//! gateway's port differs) and what they create works through MCP with the
//! official Rust SDK; every endpoint of /tools, /prompts, /resources,
//! /servers and /gateways answers in Context Forge's shapes, with its
//! statuses for missing, duplicate and malformed input and for missing
//! credentials.

use mcpgw_proto::v1 as pb;
use mcpgw_tests::{
    clients,
    fixture::{Fixture, rest::RestFixture},
    harness::{Served, config_version, nodes_at},
};
use reqwest::StatusCode;
use rmcp::model::GetPromptRequestParams;
use serde_json::{Value, json};

/// Runs curl with `args` (Context Forge's examples), the gateway's address
/// in place of `http://localhost:4444`; its body and HTTP status.
async fn curl(gw: &Served, args: &[&str]) -> (u16, Value) {
    let base = gw.proc.url("");
    let base = base.trim_end_matches('/');
    let mut cmd = tokio::process::Command::new("curl");
    cmd.args(["-sS", "-w", "\n%{http_code}"]);
    for a in args {
        cmd.arg(a.replace("http://localhost:4444", base));
    }
    let out = cmd.output().await.expect("curl runs");
    assert!(out.status.success(), "curl: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let (body, code) = text.rsplit_once('\n').expect("a status line");
    let body = serde_json::from_str(body).unwrap_or_else(|_| panic!("a JSON body: {body}"));
    (code.parse().expect("a status"), body)
}

/// `curl -X POST -u admin:changeme -H "Content-Type: application/json" -d
/// BODY URL`, as Context Forge's README writes each request.
async fn curl_post(gw: &Served, body: &str, url: &str) -> (u16, Value) {
    let args = [
        "-X",
        "POST",
        "-u",
        "admin:changeme",
        "-H",
        "Content-Type: application/json",
        "-d",
        body,
        url,
    ];
    curl(gw, &args).await
}

#[tokio::test]
async fn context_forges_curl_requests_work_as_written() {
    // The REST API the tool stands for, on localhost:9000 where that port is
    // free, else on another (and the tool's URL says so).
    let (api, tool_url) = match RestFixture::start_on("127.0.0.1:9000".parse().unwrap()).await {
        Ok(api) => (api, "http://localhost:9000/rpc".to_owned()),
        Err(_) => {
            let api = RestFixture::start(None).await;
            let url = format!("{}rpc", api.url());
            (api, url)
        }
    };
    let gw = Served::start(&[]).await;
    let (status, init) = curl_post(
        &gw,
        r#"{"protocol_version":"2025-03-26","capabilities":{},"client_info":{"name":"MyClient","version":"1.0.0"}}"#,
        "http://localhost:4444/protocol/initialize",
    )
    .await;
    assert_eq!(status, 200, "{init}");
    assert_eq!(init["protocolVersion"], "2025-03-26");
    assert_eq!(init["serverInfo"]["name"], "mcpgw");

    let tool_body = r#"{"name":"clock_tool","url":"http://localhost:9000/rpc","description":"Returns current time","input_schema":{"type":"object","properties":{"timezone":{"type":"string"}},"required":[]}}"#
        .replace("http://localhost:9000/rpc", &tool_url);
    let (status, tool) = curl_post(&gw, &tool_body, "http://localhost:4444/tools").await;
    assert_eq!(status, 200, "{tool}");
    assert_eq!(tool["name"], "clock_tool");
    assert_eq!(tool["integrationType"], "REST");
    assert_eq!(tool["inputSchema"]["properties"]["timezone"]["type"], "string");

    let (status, prompt) = curl_post(
        &gw,
        r#"{"name":"greet","template":"Hello, {{ user }}!","argument_schema":{"type":"object","properties":{"user":{"type":"string"}},"required":["user"]}}"#,
        "http://localhost:4444/prompts",
    )
    .await;
    assert_eq!(status, 200, "{prompt}");
    assert_eq!(
        prompt["arguments"],
        json!([{"name": "user", "description": "", "required": true}])
    );

    // What they created works through MCP.
    nodes_at(&gw.admin, &[], config_version(&gw.admin).await).await;
    let client = clients::mcp(&gw.proc.url("/mcp"), Some(&clients::token("pat"))).await;
    let r = client
        .call_tool(clients::tool_call("clock_tool", json!({"timezone": "Europe/Paris"})))
        .await
        .expect("call clock_tool");
    assert_ne!(r.is_error, Some(true), "{r:?}");
    let answer: Value = serde_json::from_str(&clients::first_text(&r)).expect("the API's JSON");
    assert_eq!(
        answer,
        json!({"time": "2026-12-03T12:00:00", "timezone": "Europe/Paris"})
    );
    assert!(
        api.seen()
            .iter()
            .any(|s| s.line == "POST /rpc" && s.body.contains("Europe/Paris"))
    );
    let mut args = serde_json::Map::new();
    args.insert("user".into(), json!("Ada"));
    let got = client
        .get_prompt(GetPromptRequestParams::new("greet").with_arguments(args))
        .await
        .expect("get greet");
    assert_eq!(
        serde_json::to_value(&got.messages).unwrap()[0]["content"]["text"],
        "Hello, Ada!"
    );
    client.cancel().await.unwrap();
}

/// A client of the REST API with the default admin credentials.
struct Cf {
    http: reqwest::Client,
    base: String,
}

impl Cf {
    fn new(gw: &Served) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: gw.proc.url("").trim_end_matches('/').to_owned(),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .basic_auth("admin", Some("changeme"));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("the API answers");
        let status = res.status();
        let text = res.text().await.expect("a body");
        (
            status,
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON from {path}: {text}")),
        )
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }
}

#[tokio::test]
async fn every_endpoint_answers_in_context_forges_shapes() {
    let api = RestFixture::start(None).await;
    let fx = Fixture::start(Default::default()).await;
    let gw = Served::start(&[]).await;
    let cf = Cf::new(&gw);

    // No credentials: 401 with a JSON body and a challenge.
    let res = reqwest::get(format!("{}/tools", cf.base)).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().contains_key("www-authenticate"));
    let body: Value = res.json().await.unwrap();
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");

    // Gateways: an MCP server registered, listed, read, toggled.
    let (s, g) = cf
        .post(
            "/gateways",
            json!({"name": "fx", "url": fx.url(), "transport": "STREAMABLEHTTP"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{g}");
    assert_eq!(
        (g["name"].as_str(), g["transport"].as_str()),
        (Some("fx"), Some("STREAMABLEHTTP"))
    );
    assert!(g["toolCount"].as_u64().unwrap() > 0, "{g}");
    let gid = g["id"].as_str().unwrap().to_owned();
    let (s, dup) = cf.post("/gateways", json!({"name": "fx", "url": fx.url()})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{dup}");
    assert!(dup["message"].is_string(), "gateways answer {{message}}: {dup}");
    let (s, down) = cf
        .post("/gateways", json!({"name": "gone", "url": "http://127.0.0.1:9/mcp"}))
        .await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{down}");
    assert!(down["message"].is_string(), "{down}");
    let (s, bad) = cf.post("/gateways", json!({"url": fx.url()})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad["detail"][0]["loc"], json!(["body", "name"]));
    let (_, list) = cf.get("/gateways").await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let (s, one) = cf.get(&format!("/gateways/{gid}")).await;
    assert_eq!((s, one["url"].as_str()), (StatusCode::OK, Some(fx.url().as_str())));

    // Tools: the backend's are listed beside the registry's own.
    let (s, tools) = cf.get("/tools?limit=0").await;
    assert_eq!(s, StatusCode::OK);
    let echo = tools
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "fx-echo")
        .cloned()
        .expect("the backend's tool");
    assert_eq!(
        (echo["integrationType"].as_str(), echo["gatewayId"].as_str()),
        (Some("MCP"), Some(gid.as_str()))
    );
    assert_eq!(echo["originalName"], "echo");
    // Created in the wrapped form today's Context Forge takes.
    let (s, weather) = cf
        .post(
            "/tools",
            json!({"tool": {"name": "weather", "url": format!("{}weather/{{city}}", api.url()),
                            "request_type": "GET", "description": "Weather",
                            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{weather}");
    assert_eq!(
        (weather["requestType"].as_str(), weather["gatewayId"].clone()),
        (Some("GET"), Value::Null)
    );
    let wid = weather["id"].as_str().unwrap().to_owned();
    let (s, dup) = cf.post("/tools", json!({"name": "weather", "url": api.url()})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{dup}");
    assert!(dup["detail"].as_str().unwrap().contains("weather"), "{dup}");
    let (s, bad) = cf
        .post("/tools", json!({"name": "x", "url": api.url(), "request_type": "SSE"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    assert_eq!(bad["detail"][0]["loc"], json!(["body", "request_type"]));
    let (s, bad) = cf.post("/tools", json!({"name": "x"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    assert_eq!(bad["detail"][0]["loc"], json!(["body", "url"]));
    let (s, _) = cf.post("/tools", json!({"name": 5, "url": api.url()})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, got) = cf.get(&format!("/tools/{wid}")).await;
    assert_eq!((s, got["description"].as_str()), (StatusCode::OK, Some("Weather")));
    let (s, got) = cf
        .put(&format!("/tools/{wid}"), json!({"description": "Weather now"}))
        .await;
    assert_eq!(
        (s, got["description"].as_str()),
        (StatusCode::OK, Some("Weather now")),
        "{got}"
    );
    assert_eq!(got["requestType"], "GET", "the rest stays");
    let (s, off) = cf.post(&format!("/tools/{wid}/state?activate=false"), json!({})).await;
    assert_eq!(s, StatusCode::OK, "{off}");
    assert_eq!(off["status"], "success");
    assert_eq!(off["tool"]["enabled"], false);
    assert!(off["message"].as_str().unwrap().ends_with("deactivated"));
    let (_, tools) = cf.get("/tools?limit=0").await;
    assert!(
        !tools.as_array().unwrap().iter().any(|t| t["id"] == wid.as_str()),
        "inactive tools are not listed"
    );
    let (_, tools) = cf.get("/tools?limit=0&include_inactive=true").await;
    assert!(tools.as_array().unwrap().iter().any(|t| t["id"] == wid.as_str()));
    let (s, on) = cf.post(&format!("/tools/{wid}/toggle?activate=true"), json!({})).await;
    assert_eq!((s, on["tool"]["enabled"].as_bool()), (StatusCode::OK, Some(true)));
    // Paged: two at a time, the cursor leading on.
    let (_, first) = cf.get("/tools?limit=2&include_pagination=true").await;
    assert_eq!(first["tools"].as_array().unwrap().len(), 2, "{first}");
    let cursor = first["nextCursor"].as_str().expect("more pages");
    let (_, second) = cf
        .get(&format!("/tools?limit=2&include_pagination=true&cursor={cursor}"))
        .await;
    assert_ne!(first["tools"][0]["id"], second["tools"][0]["id"]);
    // A backend's tool is changed by its backend.
    let eid = echo["id"].as_str().unwrap();
    let (s, _) = cf.put(&format!("/tools/{eid}"), json!({"description": "mine"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, gone) = cf.delete(&format!("/tools/{wid}")).await;
    assert_eq!((s, gone["status"].as_str()), (StatusCode::OK, Some("success")));
    let (s, missing) = cf.get(&format!("/tools/{wid}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(missing["detail"].as_str().unwrap().contains(&wid), "{missing}");

    // Prompts: created with declared arguments, rendered, read, changed.
    let (s, p) = cf
        .post(
            "/prompts",
            json!({"prompt": {"name": "hello", "description": "Says hello", "template": "Hello {{ name }}, {{ place }}",
                              "arguments": [{"name": "name", "required": true}, {"name": "place", "required": true}]}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let pid = p["id"].as_str().unwrap().to_owned();
    let (s, r) = cf.post("/prompts/hello", json!({"name": "Ann", "place": "Oslo"})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["messages"][0]["content"]["text"], "Hello Ann, Oslo");
    let (s, r) = cf.post(&format!("/prompts/{pid}"), json!({"name": "Ann"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
    assert!(r["message"].as_str().unwrap().contains("\"place\""), "{r}");
    let (s, r) = cf.post("/prompts/nope", json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(r["message"].is_string());
    let (s, raw) = cf.get("/prompts/hello").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(raw["messages"][0]["content"]["text"], "Hello {{ name }}, {{ place }}");
    let (s, broken) = cf
        .post("/prompts", json!({"name": "broken", "template": "{{ x "}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{broken}");
    assert!(broken["detail"].as_str().unwrap().contains("line 1"), "{broken}");
    let (s, up) = cf
        .put(
            &format!("/prompts/{pid}"),
            json!({"template": "Hi {{ name }} in {{ place }}"}),
        )
        .await;
    assert_eq!(
        (s, up["template"].as_str()),
        (StatusCode::OK, Some("Hi {{ name }} in {{ place }}"))
    );
    let (_, prompts) = cf.get("/prompts").await;
    assert!(
        prompts
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fx-test_simple_prompt")
    );
    let (s, off) = cf
        .post(&format!("/prompts/{pid}/state?activate=false"), json!({}))
        .await;
    assert_eq!((s, off["prompt"]["enabled"].as_bool()), (StatusCode::OK, Some(false)));

    // Resources: text content, read back; a template; conflicts.
    let (s, r) = cf
        .post(
            "/resources",
            json!({"resource": {"uri": "docs://guide", "name": "guide", "content": "the guide", "mimeType": "text/markdown"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        (r["mimeType"].as_str(), r["size"].as_u64()),
        (Some("text/markdown"), Some(9))
    );
    let rid = r["id"].as_str().unwrap().to_owned();
    let (s, content) = cf.get(&format!("/resources/{rid}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        content,
        json!({"type": "resource", "id": rid, "uri": "docs://guide", "mime_type": "text/markdown", "text": "the guide", "blob": null})
    );
    let (s, info) = cf.get(&format!("/resources/{rid}/info")).await;
    assert_eq!((s, info["uri"].as_str()), (StatusCode::OK, Some("docs://guide")));
    let (s, dup) = cf
        .post(
            "/resources",
            json!({"uri": "docs://guide", "name": "again", "content": "x"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{dup}");
    let (s, bad) = cf.post("/resources", json!({"uri": "docs://x", "name": "x"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad["detail"][0]["loc"], json!(["body", "content"]));
    let (s, t) = cf
        .post(
            "/resources",
            json!({"uri": "notes://{id}", "uri_template": "notes://{id}", "name": "note", "content": "note {{ id }}"}),
        )
        .await;
    assert_eq!(
        (s, t["uriTemplate"].as_str()),
        (StatusCode::OK, Some("notes://{id}")),
        "{t}"
    );
    let (s, up) = cf
        .put(&format!("/resources/{rid}"), json!({"content": "the new guide"}))
        .await;
    assert_eq!((s, up["size"].as_u64()), (StatusCode::OK, Some(13)));
    let (s, off) = cf
        .post(&format!("/resources/{rid}/state?activate=false"), json!({}))
        .await;
    assert_eq!((s, off["resource"]["enabled"].as_bool()), (StatusCode::OK, Some(false)));
    let (s, _) = cf.get(&format!("/resources/{rid}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "an inactive resource is not read");

    // Virtual servers: members by id, given as a list or a joined string.
    let (s, srv) = cf
        .post(
            "/servers",
            json!({"server": {"name": "kit", "description": "a kit", "associated_tools": [eid], "associated_prompts": pid}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{srv}");
    assert_eq!(srv["associatedTools"], json!(["fx-echo"]));
    assert_eq!(srv["associatedToolIds"], json!([eid]));
    assert_eq!(srv["associatedPrompts"], json!([pid]));
    let sid = srv["id"].as_str().unwrap().to_owned();
    let (s, dup) = cf.post("/servers", json!({"server": {"name": "kit"}})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{dup}");
    let (s, up) = cf
        .put(&format!("/servers/{sid}"), json!({"description": "a better kit"}))
        .await;
    assert_eq!((s, up["description"].as_str()), (StatusCode::OK, Some("a better kit")));
    assert_eq!(up["associatedToolIds"], json!([eid]), "members not given stay");
    let (s, got) = cf.get("/servers/kit").await;
    assert_eq!((s, got["id"].as_str()), (StatusCode::OK, Some(sid.as_str())));
    let (s, _) = cf.delete(&format!("/servers/{sid}")).await;
    assert_eq!(s, StatusCode::OK);
    let (s, missing) = cf.get(&format!("/servers/{sid}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{missing}");
    // A server of whole backends (made over gRPC; the shape has none)
    // reads as their items, by the names it serves them under.
    for (name, keep, echo) in [("whole", false, "fx-echo"), ("whole-own", true, "echo")] {
        let req = pb::CreateServerRequest {
            name: name.into(),
            backends: vec![pb::ServerBackend {
                backend_id: gid.clone(),
                keep_original_names: keep,
            }],
            ..Default::default()
        };
        gw.admin.clone().create_server(req).await.unwrap();
        let (s, srv) = cf.get(&format!("/servers/{name}")).await;
        assert_eq!(s, StatusCode::OK, "{srv}");
        let tools: Vec<&str> = srv["associatedTools"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(tools.contains(&echo), "{srv}");
        assert!(tools.is_sorted(), "{srv}");
        let at = tools.iter().position(|t| *t == echo).unwrap();
        assert_eq!(srv["associatedToolIds"][at], eid, "{srv}");
        assert!(!srv["associatedPrompts"].as_array().unwrap().is_empty(), "{srv}");
    }

    // The same under /v1, and the protocol and meta endpoints.
    let (s, v1) = cf.get("/v1/gateways").await;
    assert_eq!((s, v1.as_array().map(Vec::len)), (StatusCode::OK, Some(1)));
    let (s, pong) = cf
        .post("/protocol/ping", json!({"jsonrpc": "2.0", "id": 7, "method": "ping"}))
        .await;
    assert_eq!(
        (s, pong),
        (StatusCode::OK, json!({"jsonrpc": "2.0", "id": 7, "result": {}}))
    );
    let (s, e) = cf
        .post("/protocol/ping", json!({"jsonrpc": "2.0", "id": 8, "method": "other"}))
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_i64()),
        (StatusCode::BAD_REQUEST, Some(-32600))
    );
    let (s, v) = cf.get("/version").await;
    assert_eq!((s, v["app"]["name"].as_str()), (StatusCode::OK, Some("mcpgw")));
    let (s, health) = cf.get("/health").await;
    assert_eq!((s, health), (StatusCode::OK, json!({"status": "healthy"})));

    // The gateway, deactivated, then removed with what it offered.
    let (s, off) = cf
        .post(&format!("/gateways/{gid}/state?activate=false"), json!({}))
        .await;
    assert_eq!(
        (s, off["gateway"]["enabled"].as_bool()),
        (StatusCode::OK, Some(false)),
        "{off}"
    );
    let (s, _) = cf.delete(&format!("/gateways/{gid}")).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = cf.get(&format!("/gateways/{gid}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, tools) = cf.get("/tools?include_inactive=true&limit=0").await;
    assert!(!tools.as_array().unwrap().iter().any(|t| t["name"] == "fx-echo"));
}

#[tokio::test]
async fn everything_is_served_under_app_root_path() {
    let fx = Fixture::start(Default::default()).await;
    let gw = Served::start(&[("APP_ROOT_PATH", "/gw/")])
        .await
        .with_backends(&[("fx", fx.url())])
        .await;
    let mut cf = Cf::new(&gw);
    // The admin API over gRPC stays at the root (the registration above);
    // HTTP moves under the prefix.
    let (s, health) = cf.get("/gw/health").await;
    assert_eq!((s, health), (StatusCode::OK, json!({"status": "healthy"})));
    let res = reqwest::get(format!("{}/health", cf.base)).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let (s, tools) = cf.get("/gw/tools?limit=0").await;
    assert_eq!(s, StatusCode::OK);
    assert!(tools.as_array().unwrap().iter().any(|t| t["name"] == "fx-echo"));
    cf.base.push_str("/gw");
    let (s, _) = cf.get("/v1/gateways").await;
    assert_eq!(s, StatusCode::OK);
    // MCP, and the legacy SSE endpoint the gateway names, carry it too.
    let names = clients::tool_names(&gw.proc.url("/gw/mcp"), &clients::token("pat")).await;
    assert!(names.iter().any(|n| n == "fx-echo"), "{names:?}");
    let mut sse = reqwest::Client::new()
        .get(gw.proc.url("/gw/sse"))
        .bearer_auth(clients::token("pat"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), StatusCode::OK);
    let first = String::from_utf8(sse.chunk().await.unwrap().unwrap().to_vec()).unwrap();
    assert!(
        first.contains("event: endpoint") && first.contains("data: /gw/message?session_id="),
        "{first}"
    );
}
