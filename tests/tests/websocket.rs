//! MCP over WebSocket at `/ws`: one message per text frame, the connection as
//! the session, concurrent calls, progress before the response.

use futures::{SinkExt, StreamExt};
use mcpgw_tests::{
    clients,
    fixture::{Fixture, FixtureConfig},
    harness::Served,
};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

#[tokio::test]
async fn websocket_clients_initialize_list_call_and_stream() {
    let fx = Fixture::start(FixtureConfig::default()).await;
    let gw = Served::start(&[]).await.with_backends(&[("fx", fx.url())]).await;
    let gw = &gw.proc;

    let url = format!("ws://{}/ws", gw.addr);
    // Without a token the upgrade is refused.
    let refused = tokio_tungstenite::connect_async(url.as_str()).await.unwrap_err();
    assert!(refused.to_string().contains("401"), "{refused}");

    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", clients::token("wes")).parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("upgrade");
    let mut send = async |v: Value| ws.send(Message::text(v.to_string())).await.unwrap();
    send(json!({"jsonrpc":"2.0","id":0,"method":"tools/list"})).await;
    send(json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"ws","version":"1"}}})).await;
    send(json!({"jsonrpc":"2.0","method":"notifications/initialized"})).await;
    // A slow call first, then a streamed one and a quick one: answers do not wait for the slow one.
    send(json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"fx-sleep","arguments":{"ms":60000}}}))
        .await;
    send(json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"fx-progress","arguments":{"steps":2},"_meta":{"progressToken":"w"}}})).await;
    send(json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"fx-echo","arguments":{"text":"over ws"}}})).await;
    send(json!({"jsonrpc":"2.0","id":5,"method":"no/such"})).await;

    let mut seen: Vec<Value> = Vec::new();
    while !(seen.iter().any(|m| m["id"] == 3) && seen.iter().any(|m| m["id"] == 4) && seen.iter().any(|m| m["id"] == 5))
    {
        let Some(Ok(Message::Text(t))) = ws.next().await else {
            panic!("connection ended; got {seen:?}")
        };
        seen.push(serde_json::from_str(&t).unwrap());
    }
    let by_id = |id: i64| seen.iter().find(|m| m["id"] == id).cloned().unwrap();
    assert_eq!(
        by_id(0)["error"]["code"],
        -32000,
        "requests before initialize are refused"
    );
    assert_eq!(by_id(1)["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(by_id(4)["result"]["content"][0]["text"], "over ws");
    assert_eq!(by_id(5)["error"]["code"], -32601);
    let progress: Vec<&Value> = seen
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    assert_eq!(progress.len(), 2);
    assert!(progress.iter().all(|p| p["params"]["progressToken"] == "w"));
    let pos = |pred: &dyn Fn(&Value) -> bool| seen.iter().position(pred).unwrap();
    assert!(
        pos(&|m| m["method"] == "notifications/progress") < pos(&|m| m["id"] == 3),
        "progress before its response"
    );
    assert!(!seen.iter().any(|m| m["id"] == 2), "the slow call is still running");
    fx.wait_in_flight(1).await;
    ws.close(None).await.unwrap();
    // Closing the connection ends its calls, upstream too.
    fx.wait_in_flight_at_most(0).await;
}

/// A WebSocket MCP client that answers nothing by itself: the test reads and
/// writes frames.
struct Ws {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

impl Ws {
    async fn connect(url: &str) -> Self {
        let mut req = url.into_client_request().unwrap();
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {}", clients::token("wes")).parse().unwrap(),
        );
        let (ws, _) = tokio_tungstenite::connect_async(req).await.expect("upgrade");
        Self { ws }
    }

    async fn send(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).await.unwrap();
    }

    async fn next(&mut self) -> Value {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
                Some(Ok(_)) => continue,
                other => panic!("connection ended: {other:?}"),
            }
        }
    }

    /// Reads until the response to `id`, returning everything read.
    async fn until_response(&mut self, id: i64) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let m = self.next().await;
            let done = m["id"] == id && (m.get("result").is_some() || m.get("error").is_some());
            seen.push(m);
            if done {
                return seen;
            }
        }
    }
}

#[tokio::test]
async fn the_whole_surface_over_websocket() {
    let fx = Fixture::start(FixtureConfig::default()).await;
    let gw = Served::start(&[]).await.with_backends(&[("fx", fx.url())]).await;
    let mut ws = Ws::connect(&format!("ws://{}/ws", gw.proc.addr)).await;
    ws.send(
        json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",
        "capabilities":{"sampling":{},"elicitation":{}},"clientInfo":{"name":"ws","version":"1"}}}),
    )
    .await;
    ws.until_response(1).await;
    ws.send(json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
        .await;

    // Resources, prompts, completion.
    ws.send(json!({"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"test://template/5/data"}}))
        .await;
    let read = ws.until_response(2).await.pop().unwrap();
    assert!(
        read["result"]["contents"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Data for ID: 5"),
        "{read}"
    );
    ws.send(
        json!({"jsonrpc":"2.0","id":3,"method":"prompts/get","params":{"name":"fx-test_prompt_with_arguments",
        "arguments":{"arg1":"a","arg2":"b"}}}),
    )
    .await;
    let got = ws.until_response(3).await.pop().unwrap();
    assert!(got["result"]["messages"].to_string().contains("arg1='a'"), "{got}");
    ws.send(json!({"jsonrpc":"2.0","id":4,"method":"completion/complete","params":{
        "ref":{"type":"ref/prompt","name":"fx-test_prompt_with_arguments"},"argument":{"name":"arg1","value":"te"}}}))
        .await;
    let done = ws.until_response(4).await.pop().unwrap();
    assert_eq!(
        done["result"]["completion"]["values"],
        json!(["test", "testing", "tested"])
    );

    // Logs during a call arrive before its response.
    ws.send(json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"fx-test_tool_with_logging","arguments":{}}}))
        .await;
    let seen = ws.until_response(5).await;
    assert_eq!(
        seen.iter().filter(|m| m["method"] == "notifications/message").count(),
        3
    );

    // The backend asks the client; the client answers on the same socket.
    ws.send(
        json!({"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"fx-test_elicitation",
        "arguments":{"message":"name?"}}}),
    )
    .await;
    let asked = ws.next().await;
    assert_eq!(asked["method"], "elicitation/create", "{asked}");
    ws.send(json!({"jsonrpc":"2.0","id":asked["id"],"result":{"action":"accept","content":{"username":"ws","email":"ws@example.com"}}}))
        .await;
    let answer = ws.until_response(6).await.pop().unwrap();
    assert!(
        answer["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("ws@example.com"),
        "{answer}"
    );

    // Subscribe, then hear the update on the connection.
    ws.send(json!({"jsonrpc":"2.0","id":7,"method":"resources/subscribe","params":{"uri":"test://watched-resource"}}))
        .await;
    ws.until_response(7).await;
    fx.wait_listeners(2).await;
    fx.update_resource("test://watched-resource").await;
    let update = ws.next().await;
    assert_eq!(update["method"], "notifications/resources/updated", "{update}");
    assert_eq!(update["params"]["uri"], "test://watched-resource");

    // A cancel reaches the backend; the call is not answered.
    ws.send(json!({"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"fx-slow_stream","arguments":{"ms":60000}}}))
        .await;
    fx.wait_in_flight(1).await;
    ws.send(json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":8}}))
        .await;
    let cancelled = fx.wait_cancelled(1).await;
    assert!(cancelled[0].is_number(), "{cancelled:?}");
    ws.send(json!({"jsonrpc":"2.0","id":9,"method":"ping"})).await;
    let after = ws.until_response(9).await;
    assert!(
        after.iter().all(|m| m["id"] != 8 || m["error"]["code"] == -32800),
        "no answer for the cancelled call but a cancellation error: {after:?}"
    );
}
