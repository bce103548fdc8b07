//! MCP over WebSocket at `/ws`: one message per text frame, the connection as
//! the session, concurrent calls, progress before the response.

use futures::{SinkExt, StreamExt};
use mcpgw_tests::{
    clients,
    fixture::{Fixture, FixtureConfig},
    harness::Served,
    matrix,
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
            let next = tokio::time::timeout(mcpgw_tests::harness::PATIENCE, self.ws.next());
            match next.await.expect("the gateway sent nothing in time") {
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

impl matrix::Wire for Ws {
    async fn send(&mut self, msg: Value) {
        Ws::send(self, msg).await;
    }

    async fn recv(&mut self) -> Value {
        self.next().await
    }
}

#[tokio::test]
async fn the_whole_matrix_over_websocket() {
    let fx = Fixture::start(FixtureConfig::default()).await;
    let gw = Served::start(&[]).await.with_backends(&[("fx", fx.url())]).await;
    let mut ws = Ws::connect(&format!("ws://{}/ws", gw.proc.addr)).await;
    let init = matrix::ask(&mut ws, 1, "initialize", matrix::initialize_params("2025-11-25")).await;
    assert_eq!(init.response["result"]["protocolVersion"], "2025-11-25");
    ws.send(json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
        .await;
    matrix::run(&mut ws, &fx).await;

    // The cancelled call (id 110) gets no answer but a cancellation error.
    ws.send(json!({"jsonrpc":"2.0","id":9,"method":"ping"})).await;
    let after = ws.until_response(9).await;
    assert!(
        after.iter().all(|m| m["id"] != 110 || m["error"]["code"] == -32800),
        "no answer for the cancelled call but a cancellation error: {after:?}"
    );
    matrix::ask_outside_a_call(&mut ws, &fx).await;
}
