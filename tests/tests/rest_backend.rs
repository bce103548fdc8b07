//! A REST API registered as tools (the REST fixture): listed and called
//! through the gateway with rmcp, arguments in the path, the query string
//! or a JSON body, a JSONPath picking the answer, the backend's credential
//! on every call, an HTTP error as the tool's error; endpoints that cannot
//! work are refused and nothing is registered.

use mcpgw_tests::{
    clients::{self, first_text, tool_call},
    fixture::rest::RestFixture,
    harness::{Output, Served, config_version, nodes_at},
};
use serde_json::json;

const TOKEN: &str = "rest-api-5ecret-3c4d";

/// `mcpgw backend add --transport rest` of the API at `url` with `tools`
/// (written to a file for it).
async fn add_rest(gw: &Served, url: &str, tools: serde_json::Value, env: &[(&str, &str)]) -> Output {
    let path = std::env::temp_dir().join(format!("mcpgw-rest-{}.json", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, tools.to_string()).unwrap();
    let file = path.to_str().unwrap();
    let args = [
        "backend",
        "add",
        "--name",
        "api",
        "--transport",
        "rest",
        "--url",
        url,
        "--rest-tools",
        file,
    ];
    let out = gw.cli(&args, env).await;
    std::fs::remove_file(&path).unwrap();
    out
}

#[tokio::test]
async fn a_rest_api_is_served_as_tools() {
    let api = RestFixture::start(Some(("authorization", &format!("Bearer {TOKEN}")))).await;
    let gw = Served::start(&[]).await;
    let city = json!({"type": "object", "properties": {"city": {"type": "string"}, "units": {"type": "string"}}, "required": ["city"]});
    let tools = json!([
        {"name": "temperature", "description": "Temperature in a city", "url": "weather/{city}", "input_schema": city, "response_select": "$.temp"},
        {"name": "weather", "url": "/weather/{city}"},
        {"name": "save_note", "method": "POST", "url": "notes"},
        {"name": "broken", "url": "fail"}
    ]);
    let out = add_rest(&gw, &api.url(), tools, &[("MCPGW_BACKEND_BEARER_TOKEN", TOKEN)]).await;
    assert!(out.ok, "{}", out.stderr);
    assert!(out.stdout.contains("with 4 tools"), "{}", out.stdout);
    nodes_at(&gw.admin, &[], config_version(&gw.admin).await).await;

    let client = clients::mcp(&gw.proc.url("/mcp"), Some(&clients::token("pat"))).await;
    let tools = client.list_all_tools().await.unwrap();
    let temperature = tools.iter().find(|t| t.name == "api-temperature").expect("listed");
    assert_eq!(temperature.description.as_deref(), Some("Temperature in a city"));
    assert_eq!(temperature.input_schema.get("required"), Some(&json!(["city"])));

    // Path and query, the answer picked by JSONPath.
    let r = client
        .call_tool(tool_call(
            "api-temperature",
            json!({"city": "Zürich", "units": "imperial"}),
        ))
        .await
        .unwrap();
    assert_eq!((first_text(&r).as_str(), r.is_error), ("21.5", Some(false)));
    let seen = api.seen();
    assert_eq!(seen.last().unwrap().line, "GET /weather/Z%C3%BCrich?units=imperial");
    assert!(
        seen.last()
            .unwrap()
            .headers
            .contains(&format!("authorization: Bearer {TOKEN}"))
    );

    // A JSON object answer is structured content too.
    let r = client
        .call_tool(tool_call("api-weather", json!({"city": "Oslo"})))
        .await
        .unwrap();
    assert_eq!(r.structured_content.as_ref().unwrap()["city"], "Oslo");

    // POST: the arguments are the JSON body.
    let note = json!({"title": "t", "tags": ["a", "b"]});
    let r = client
        .call_tool(tool_call("api-save_note", note.clone()))
        .await
        .unwrap();
    let last = api.seen().last().unwrap().clone();
    assert_eq!(last.line, "POST /notes");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&last.body).unwrap(), note);
    assert_eq!(r.structured_content.unwrap()["saved"], note);

    // An HTTP error is the tool's error, its body cut short.
    let r = client.call_tool(tool_call("api-broken", json!({}))).await.unwrap();
    let text = first_text(&r);
    assert_eq!(r.is_error, Some(true));
    assert!(
        text.starts_with("HTTP 503") && text.contains("down for maintenance"),
        "{text}"
    );
    assert!(text.len() < 700, "bounded: {} bytes", text.len());
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn rest_endpoints_that_cannot_work_are_refused_and_nothing_is_registered() {
    let api = RestFixture::start(None).await;
    let gw = Served::start(&[]).await;
    let url = api.url();
    let cases = [
        (
            json!([{"name": "t", "url": "x", "response_select": "$[?"}]),
            "response selection \"$[?\" does not compile",
        ),
        (json!([{"name": "t", "url": "x", "method": "BREW"}]), "\"BREW\""),
        (json!([{"name": "t", "url": "x/{id"}]), "unclosed"),
        // A client never picks the host the gateway calls.
        (
            json!([{"name": "t", "url": "http://{host}/x"}]),
            "placeholder outside its path",
        ),
        (
            json!([{"name": "t", "url": "x"}, {"name": "t", "url": "y"}]),
            "used twice",
        ),
        (
            json!([{"name": "t", "url": "x", "input_schema": "string"}]),
            "input schema",
        ),
    ];
    for (tools, said) in cases {
        let out = add_rest(&gw, &url, tools, &[]).await;
        assert!(!out.ok, "registered");
        assert!(out.stderr.contains(said), "{said}: {}", out.stderr);
    }
    // A file that is not the JSON expected names itself and where.
    let out = add_rest(&gw, &url, json!({"name": "t"}), &[]).await;
    assert!(
        !out.ok && out.stderr.contains("is not a JSON array of REST endpoints") && out.stderr.contains("line 1"),
        "{}",
        out.stderr
    );
    assert!(clients::backends(&gw.admin).await.is_empty());
}
