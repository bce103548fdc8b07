//! The 2024-11-05 HTTP+SSE transport: `GET /sse` names the endpoint, POSTs
//! there are answered 202 and their responses arrive on the stream.

use mcpgw_tests::{
    clients::{self, Events, RawMcp},
    fixture::{Fixture, FixtureConfig},
    harness::{Served, eventually},
    matrix,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn legacy_sse_clients_initialize_and_call_tools() {
    let fx = Fixture::start(FixtureConfig::default()).await;
    let gw = Served::start(&[]).await.with_backends(&[("fx", fx.url())]).await;
    let gw = &gw.proc;

    let token = clients::token("sam");
    let http = reqwest::Client::new();
    let refused = http.get(gw.url("/sse")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    let res = http.get(gw.url("/sse")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut events = Events::of(res);
    let endpoint = events.next().await;
    assert_eq!(endpoint.event.as_deref(), Some("endpoint"));
    assert!(endpoint.data.starts_with("/message?session_id="), "{}", endpoint.data);

    let post = RawMcp::new(gw.url(&endpoint.data), Some(token.clone()));
    let send = |v: Value| {
        let post = post.clone();
        async move {
            post.post(v.to_string(), &[("accept", "application/json")])
                .await
                .status()
        }
    };
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"old","version":"1"}}});
    assert_eq!(send(init).await, StatusCode::ACCEPTED);
    assert_eq!(events.next_message().await["result"]["protocolVersion"], "2024-11-05");
    assert_eq!(
        send(json!({"jsonrpc":"2.0","method":"notifications/initialized"})).await,
        StatusCode::ACCEPTED
    );

    let call = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"fx-echo","arguments":{"text":"old but gold"}}});
    assert_eq!(send(call).await, StatusCode::ACCEPTED);
    let answer = events.next_message().await;
    assert_eq!(answer["id"], 2);
    assert_eq!(answer["result"]["content"][0]["text"], "old but gold");
    assert_eq!(
        send(json!({"jsonrpc":"2.0","id":3,"method":"no/such"})).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(events.next_message().await["error"]["code"], -32601);

    // Bad input on the POST side is answered on the POST.
    assert_eq!(send(json!("not a message")).await, StatusCode::BAD_REQUEST);
    let stranger = RawMcp::new(gw.url(&endpoint.data), Some(clients::token("eve")));
    assert_eq!(stranger.post("{}", &[]).await.status(), StatusCode::UNAUTHORIZED);
    let unknown = RawMcp::new(gw.url("/message?session_id=nope"), Some(token.clone()));
    assert_eq!(unknown.post("{}", &[]).await.status(), StatusCode::NOT_FOUND);

    // Closing the stream ends the session.
    drop(events);
    eventually("the closed stream's session to be gone", || {
        let send = &send;
        async move { (send(json!({"jsonrpc":"2.0","id":4,"method":"ping"})).await == StatusCode::NOT_FOUND).then_some(()) }
    })
    .await;
}

/// One legacy SSE session as a [`matrix::Wire`]: messages POSTed to the
/// endpoint the stream named, answers read from the stream.
struct Sse {
    events: Events,
    post: RawMcp,
}

impl matrix::Wire for Sse {
    async fn send(&mut self, msg: Value) {
        let res = self.post.post(msg.to_string(), &[("accept", "application/json")]).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED, "{msg}");
    }

    async fn recv(&mut self) -> Value {
        self.events.next_message().await
    }
}

#[tokio::test]
async fn the_whole_matrix_over_legacy_sse_and_a_closed_stream_ends_its_calls() {
    let fx = Fixture::start(FixtureConfig::default()).await;
    let gw = Served::start(&[]).await.with_backends(&[("fx", fx.url())]).await;
    let token = clients::token("sam");
    let res = reqwest::Client::new()
        .get(gw.proc.url("/sse"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let mut events = Events::of(res);
    let endpoint = events.next().await.data;
    let post = RawMcp::new(gw.proc.url(&endpoint), Some(token));
    let mut sse = Sse { events, post };
    let init = matrix::ask(&mut sse, 1, "initialize", matrix::initialize_params("2024-11-05")).await;
    assert_eq!(init.response["result"]["protocolVersion"], "2024-11-05");
    matrix::Wire::send(
        &mut sse,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    matrix::run(&mut sse, &fx).await;
    matrix::ask_outside_a_call(&mut sse, &fx).await;

    // Closing the stream ends the calls still running for it.
    let before = fx.cancelled_count();
    matrix::Wire::send(
        &mut sse,
        json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"fx-slow_stream","arguments":{"ms":60000}}}),
    )
    .await;
    fx.wait_in_flight(1).await;
    drop(sse);
    assert_eq!(fx.wait_cancelled(before + 1).await.len(), before + 1);
    fx.wait_in_flight_at_most(0).await;
}
