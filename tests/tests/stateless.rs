//! MCP 2026-07-28 clients on the gateway's Streamable HTTP endpoints: no
//! `initialize`, no session, every request with its own `_meta` and
//! headers, served on the same URL as session clients; results in the
//! era's shape; every framing error with the spec's status and code, and
//! the request's id. `subscriptions/listen` streams what a client opts in
//! to, tagged with the listen's id, whatever the era of the backend.

use mcpgw_tests::{
    clients::{self, Events, RawMcp},
    fixture::{Fixture, FixtureConfig},
    harness::Served,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const V: &str = "2026-07-28";

/// A request's body and headers.
type Sent = (Value, Vec<(String, String)>);

fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": V,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
    })
}

/// A request as a 2026-07-28 client sends it: `params` with `_meta`, and
/// the headers that mirror the body.
fn request(id: u64, method: &str, mut params: Value) -> Sent {
    params["_meta"] = meta();
    let mut headers = vec![
        ("mcp-protocol-version".to_owned(), V.to_owned()),
        ("mcp-method".to_owned(), method.to_owned()),
    ];
    if let Some(name) = params.get("name").or_else(|| params.get("uri")).and_then(Value::as_str) {
        headers.push(("mcp-name".to_owned(), name.to_owned()));
    }
    (
        json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
        headers,
    )
}

/// POSTs `body` with `headers`; the status, the session header if any, and
/// the JSON-RPC messages (one, or each event of a stream).
async fn post(raw: &RawMcp, body: &Value, headers: &[(String, String)]) -> (StatusCode, Option<String>, Vec<Value>) {
    let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let res = raw.post(body.to_string(), &h).await;
    let status = res.status();
    let session = res
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let sse = res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream");
    let text = res.text().await.unwrap();
    let messages = if sse {
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter(|d| !d.trim().is_empty())
            .map(|d| serde_json::from_str(d.trim()).unwrap())
            .collect()
    } else {
        vec![serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON: {text}"))]
    };
    (status, session, messages)
}

#[tokio::test]
async fn a_stateless_client_discovers_lists_and_calls_on_the_url_sessions_use() {
    let (_fx, gw) = Served::with_fixtures(&["fx"]).await;
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("pat")));

    let (body, headers) = request(1, "server/discover", json!({}));
    let (status, session, msgs) = post(&raw, &body, &headers).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(session, None, "the stateless era has no session");
    let r = &msgs[0]["result"];
    let versions: Vec<&str> = r["supportedVersions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(versions.contains(&V) && versions.contains(&"2025-11-25"), "{r}");
    assert!(r["capabilities"]["tools"].is_object(), "{r}");
    assert_eq!(r["resultType"], "complete");
    assert_eq!(r["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "mcpgw");

    let (body, headers) = request(2, "tools/list", json!({}));
    let (status, session, msgs) = post(&raw, &body, &headers).await;
    assert_eq!((status, session), (StatusCode::OK, None));
    let r = &msgs[0]["result"];
    assert!(
        r["tools"].as_array().unwrap().iter().any(|t| t["name"] == "fx-echo"),
        "{r}"
    );
    assert_eq!(r["resultType"], "complete");
    // The gateway's own bound: its one backend gives no hints.
    assert_eq!(r["ttlMs"], mcpgw_data_plane::cache::hint::GATEWAY_LIST_TTL_MS);
    assert_eq!(r["cacheScope"], "public");
    assert_eq!(msgs[0]["id"], 2);

    let (body, headers) = request(
        3,
        "tools/call",
        json!({"name": "fx-echo", "arguments": {"text": "now"}}),
    );
    let (status, _, msgs) = post(&raw, &body, &headers).await;
    assert_eq!(status, StatusCode::OK);
    let last = msgs.last().unwrap();
    assert_eq!(last["id"], 3);
    assert_eq!(last["result"]["content"][0]["text"], "now", "{last}");
    assert_eq!(last["result"]["resultType"], "complete");
    assert!(last["result"].get("ttlMs").is_none(), "a call is not cacheable");

    // A log notification goes out only to a request that asks for logs.
    let (body, headers) = request(
        4,
        "tools/call",
        json!({"name": "fx-test_tool_with_logging", "arguments": {}}),
    );
    let (_, _, quiet) = post(&raw, &body, &headers).await;
    assert!(
        quiet.iter().all(|m| m["method"] != "notifications/message"),
        "{quiet:?}"
    );
    assert!(quiet.last().unwrap()["result"].is_object(), "{quiet:?}");
    let (mut body, headers) = request(
        5,
        "tools/call",
        json!({"name": "fx-test_tool_with_logging", "arguments": {}}),
    );
    body["params"]["_meta"]["io.modelcontextprotocol/logLevel"] = json!("info");
    let (_, _, loud) = post(&raw, &body, &headers).await;
    assert_eq!(
        loud.iter().filter(|m| m["method"] == "notifications/message").count(),
        3,
        "{loud:?}"
    );

    // A name that is not plain ASCII travels Base64 in Mcp-Name.
    let (mut body, mut headers) = request(6, "tools/call", json!({"name": "fx-echo", "arguments": {"text": "é"}}));
    body["params"]["name"] = json!("fx-echo");
    headers.retain(|(k, _)| k != "mcp-name");
    headers.push(("mcp-name".into(), "=?base64?ZngtZWNobw==?=".into()));
    let (status, _, msgs) = post(&raw, &body, &headers).await;
    assert_eq!(status, StatusCode::OK, "{msgs:?}");
    assert_eq!(msgs.last().unwrap()["result"]["content"][0]["text"], "é");

    // A backend asking, mid-call, for what the request did not declare
    // fails the call with -32021 naming the capability (HTTP 400).
    let (body, headers) = request(
        8,
        "tools/call",
        json!({"name": "fx-test_missing_capability", "arguments": {}}),
    );
    let (status, _, msgs) = post(&raw, &body, &headers).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{msgs:?}");
    assert_eq!(msgs[0]["id"], 8);
    assert_eq!(msgs[0]["error"]["code"], -32021, "{msgs:?}");
    assert_eq!(
        msgs[0]["error"]["data"]["requiredCapabilities"],
        json!({"sampling": {}})
    );
    assert!(
        msgs[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sampling/createMessage")
    );

    // Session clients keep working on the same URL.
    let (sid, init) = raw.initialize("2025-11-25").await;
    assert!(!sid.is_empty());
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
}

#[tokio::test]
async fn every_framing_error_gets_the_spec_status_and_code_with_the_request_id() {
    let (_fx, gw) = Served::with_fixtures(&["fx"]).await;
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("pat")));
    let call = || request(7, "tools/call", json!({"name": "fx-echo", "arguments": {"text": "x"}}));
    let without = |key: &str| {
        let (mut b, h) = call();
        b["params"]["_meta"].as_object_mut().unwrap().remove(key);
        (b, h)
    };
    let header = |name: &str, value: Option<&str>| {
        let (b, mut h) = call();
        h.retain(|(k, _)| k != name);
        if let Some(v) = value {
            h.push((name.to_owned(), v.to_owned()));
        }
        (b, h)
    };
    let mut no_meta = call();
    no_meta.0["params"].as_object_mut().unwrap().remove("_meta");
    let mut unsupported = call();
    unsupported.0["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2099-01-01");
    unsupported.1[0].1 = "2099-01-01".into();
    let cases: Vec<(&str, Sent, StatusCode, i64, &str)> = vec![
        ("no _meta", no_meta, StatusCode::BAD_REQUEST, -32602, "_meta"),
        (
            "no version",
            without("io.modelcontextprotocol/protocolVersion"),
            StatusCode::BAD_REQUEST,
            -32602,
            "protocolVersion",
        ),
        (
            "no capabilities",
            without("io.modelcontextprotocol/clientCapabilities"),
            StatusCode::BAD_REQUEST,
            -32602,
            "clientCapabilities",
        ),
        (
            "unsupported version",
            unsupported,
            StatusCode::BAD_REQUEST,
            -32022,
            "2099-01-01",
        ),
        (
            "no version header",
            header("mcp-protocol-version", None),
            StatusCode::BAD_REQUEST,
            -32020,
            "MCP-Protocol-Version",
        ),
        (
            "version header differs",
            header("mcp-protocol-version", Some("2027-01-01")),
            StatusCode::BAD_REQUEST,
            -32020,
            "differs",
        ),
        (
            "no method header",
            header("mcp-method", None),
            StatusCode::BAD_REQUEST,
            -32020,
            "Mcp-Method",
        ),
        (
            "method header differs",
            header("mcp-method", Some("tools/list")),
            StatusCode::BAD_REQUEST,
            -32020,
            "tools/list",
        ),
        (
            "no name header",
            header("mcp-name", None),
            StatusCode::BAD_REQUEST,
            -32020,
            "Mcp-Name",
        ),
        (
            "name header differs",
            header("mcp-name", Some("fx-other")),
            StatusCode::BAD_REQUEST,
            -32020,
            "fx-other",
        ),
        (
            "initialize",
            request(7, "initialize", json!({"protocolVersion": V, "capabilities": {}})),
            StatusCode::NOT_FOUND,
            -32601,
            "initialize",
        ),
        (
            "ping",
            request(7, "ping", json!({})),
            StatusCode::NOT_FOUND,
            -32601,
            "ping",
        ),
        (
            "logging/setLevel",
            request(7, "logging/setLevel", json!({"level": "info"})),
            StatusCode::NOT_FOUND,
            -32601,
            "setLevel",
        ),
    ];
    for (what, (body, headers), status, code, says) in cases {
        let (got, _, msgs) = post(&raw, &body, &headers).await;
        assert_eq!(got, status, "{what}: {msgs:?}");
        let e = &msgs[0]["error"];
        assert_eq!(e["code"], code, "{what}: {e}");
        assert!(e["message"].as_str().unwrap().contains(says), "{what}: {e}");
        assert_eq!(msgs[0]["id"], 7, "{what}: the error answers the request's id");
        if code == -32022 {
            assert_eq!(e["data"]["supported"], json!([V]), "{e}");
            assert_eq!(e["data"]["requested"], "2099-01-01", "{e}");
        }
    }
    // No stream to GET and no session to DELETE.
    let http = reqwest::Client::new();
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let res = http
            .request(method.clone(), gw.proc.url("/mcp"))
            .header("mcp-protocol-version", V)
            .header("accept", "text/event-stream")
            .bearer_auth(clients::token("pat"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(res.headers()["allow"], "POST");
    }
}

#[tokio::test]
async fn arguments_a_tool_mirrors_in_headers_must_come_with_them() {
    let (_fx, gw) = Served::with_fixtures(&["fx"]).await;
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("pat")));
    let call = |region: &str, header: Option<&str>| {
        let (body, mut headers) = request(
            9,
            "tools/call",
            json!({"name": "fx-test_header_param", "arguments": {"region": region}}),
        );
        if let Some(h) = header {
            headers.push(("mcp-param-region".into(), h.into()));
        }
        (body, headers)
    };
    let cases = [
        ("plain", call("eu", Some("eu")), StatusCode::OK),
        ("Base64", call("Hello", Some("=?base64?SGVsbG8=?=")), StatusCode::OK),
        (
            "not wrapped: literal",
            call("SGVsbG8=", Some("SGVsbG8=")),
            StatusCode::OK,
        ),
        ("missing", call("eu", None), StatusCode::BAD_REQUEST),
        ("different", call("eu", Some("us")), StatusCode::BAD_REQUEST),
        (
            "bad Base64 padding",
            call("Hello", Some("=?base64?SGVsbG8?=")),
            StatusCode::BAD_REQUEST,
        ),
        (
            "bad Base64 characters",
            call("Hello", Some("=?base64?SGVs!!!bG8=?=")),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (what, (body, headers), status) in cases {
        let (got, _, msgs) = post(&raw, &body, &headers).await;
        assert_eq!(got, status, "{what}: {msgs:?}");
        let last = msgs.last().unwrap();
        match status {
            StatusCode::OK => {
                let want = format!("region: {}", body["params"]["arguments"]["region"].as_str().unwrap());
                assert_eq!(last["result"]["content"][0]["text"], want.as_str(), "{what}: {last}");
            }
            _ => {
                assert_eq!(last["error"]["code"], -32020, "{what}: {last}");
                assert!(
                    last["error"]["message"].as_str().unwrap().contains("mcp-param-region"),
                    "{what}: {last}"
                );
            }
        }
    }
}

#[tokio::test]
async fn rpc_serves_stateless_requests_as_one_json_answer() {
    let (_fx, gw) = Served::with_fixtures(&["fx"]).await;
    let raw = RawMcp::new(gw.proc.url("/rpc"), Some(clients::token("pat")));
    // A streamed call (it logs as it runs) answered with its result alone.
    let (body, headers) = request(
        11,
        "tools/call",
        json!({"name": "fx-test_tool_with_logging", "arguments": {}}),
    );
    let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let res = raw.post(body.to_string(), &h).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["id"], 11);
    assert_eq!(answer["result"]["resultType"], "complete", "{answer}");
    // Framing errors keep their status there too.
    let (body, mut headers) = request(12, "tools/call", json!({"name": "fx-echo", "arguments": {"text": "x"}}));
    headers.retain(|(k, _)| k != "mcp-name");
    let (status, _, msgs) = post(&raw, &body, &headers).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(msgs[0]["error"]["code"], -32020);
    assert_eq!(msgs[0]["id"], 12);
}

#[tokio::test]
async fn a_listen_stream_carries_what_it_opted_in_to_tagged_with_its_id() {
    let fx = Fixture::start(FixtureConfig::default()).await;
    let gw = Served::start(&[]).await.with_backends(&[("fx", fx.url())]).await;
    let raw = RawMcp::new(gw.proc.url("/mcp"), Some(clients::token("pat")));
    let (body, headers) = request(
        7,
        "subscriptions/listen",
        json!({"notifications": {
            "toolsListChanged": true,
            "resourceSubscriptions": ["test://watched-resource", "test://nobody-serves-this"],
            "taskIds": ["t-1"],
        }}),
    );
    let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let res = raw.post(body.to_string(), &h).await;
    assert_eq!(res.status(), StatusCode::OK);
    let mut events = Events::of(res);

    // What is honoured, and only that: no prompt or resource list changes
    // (not asked), no tasks (not served), no resource nobody offers.
    let ack = events.next_message().await;
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged", "{ack}");
    assert_eq!(
        ack["params"]["notifications"],
        json!({"toolsListChanged": true, "resourceSubscriptions": ["test://watched-resource"]}),
        "{ack}"
    );
    assert_eq!(ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], 7);
    assert!(
        fx.subscriptions().contains("test://watched-resource"),
        "subscribed at the backend (in a session: it is of an earlier era)"
    );

    // A legacy backend's resource update, then a list change the gateway
    // follows: each tagged. A prompt list change was not asked for.
    fx.wait_listeners(2).await;
    fx.update_resource("test://static-text").await;
    fx.update_resource("test://watched-resource").await;
    let update = events.next_message().await;
    assert_eq!(update["method"], "notifications/resources/updated", "{update}");
    assert_eq!(update["params"]["uri"], "test://watched-resource");
    assert_eq!(update["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], 7);
    fx.add_tool("late_tool").await;
    let changed = events.next_message().await;
    assert_eq!(changed["method"], "notifications/tools/list_changed", "{changed}");
    assert_eq!(changed["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], 7);

    // Closing the stream ends its subscriptions, upstream too.
    drop(events);
    mcpgw_tests::harness::eventually("the backend subscription to end", || {
        let gone = !fx.subscriptions().contains("test://watched-resource");
        async move { gone.then_some(()) }
    })
    .await;

    // A filter that is not one, and /rpc (one JSON answer) cannot listen.
    let (bad, headers) = request(
        8,
        "subscriptions/listen",
        json!({"notifications": {"toolsListChanged": "yes"}}),
    );
    let (status, _, messages) = post(&raw, &bad, &headers).await;
    assert_eq!(
        (status, messages[0]["error"]["code"].as_i64()),
        (StatusCode::OK, Some(-32602))
    );
    let rpc = RawMcp::new(gw.proc.url("/rpc"), Some(clients::token("pat")));
    let (listen, headers) = request(
        9,
        "subscriptions/listen",
        json!({"notifications": {"toolsListChanged": true}}),
    );
    let (_, _, messages) = post(&rpc, &listen, &headers).await;
    let message = messages[0]["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("event stream"), "{}", messages[0]);
}
