//! A REST backend made of an OpenAPI 3.0 document (the REST fixture's own):
//! imported by URL, one tool per operation with its schema from parameters
//! and body (`$ref`s resolved), called through the gateway; filtered by tag;
//! imported again with a changed document, in one registry write; a
//! document that does not parse is refused, naming where.

use mcpgw_tests::{
    clients::{self, tool_call},
    fixture::rest::{RestFixture, openapi},
    harness::{Served, config_version, nodes_at},
};
use serde_json::json;

/// A gateway with backend `name` imported from the REST fixture's document
/// at `path` (`openapi.json`, `openapi.yaml`), served.
async fn imported(api: &RestFixture, name: &str, path: &str) -> Served {
    let gw = Served::start(&[]).await;
    let doc = format!("{}{path}", api.url());
    let out = gw
        .cli(&["backend", "add", "--name", name, "--openapi", &doc], &[])
        .await;
    assert!(
        out.ok && out.stdout.contains("with 3 tools"),
        "{}{}",
        out.stdout,
        out.stderr
    );
    nodes_at(&gw.admin, &[], config_version(&gw.admin).await).await;
    gw
}

#[tokio::test]
async fn an_openapi_document_becomes_tools_that_call_the_api() {
    let api = RestFixture::start(None).await;
    let gw = imported(&api, "fx", "openapi.json").await;
    let b = clients::backend(&gw.admin, "fx").await;
    assert_eq!(
        b.url,
        api.url(),
        "the document's relative server resolved against where it came from"
    );

    let client = clients::mcp(&gw.proc.url("/mcp"), Some(&clients::token("pat"))).await;
    let tools = client.list_all_tools().await.unwrap();
    let weather = tools.iter().find(|t| t.name == "fx-getWeather").expect("listed");
    assert_eq!(weather.input_schema["required"], json!(["city"]));
    assert_eq!(
        weather.input_schema["properties"]["units"]["enum"],
        json!(["metric", "imperial"])
    );
    assert!(
        tools.iter().any(|t| t.name == "fx-get_fail"),
        "an operation without operationId is named for its method and path"
    );

    let r = client
        .call_tool(tool_call(
            "fx-getWeather",
            json!({"city": "Paris", "units": "imperial"}),
        ))
        .await
        .unwrap();
    assert_eq!(r.structured_content.unwrap()["units"], "imperial");
    assert_eq!(api.seen().last().unwrap().line, "GET /weather/Paris?units=imperial");
    let note = json!({"title": "from openapi", "tags": ["x"]});
    let r = client
        .call_tool(tool_call("fx-createNote", note.clone()))
        .await
        .unwrap();
    assert_eq!(r.structured_content.unwrap()["saved"], note);
    client.cancel().await.unwrap();

    // Imported again from a document that lost an operation and gained
    // one: one write, the kept tool keeps its id.
    let before = clients::backend(&gw.admin, "fx").await;
    let kept_id = tool_id(&gw, "fx-getWeather").await;
    let mut changed = openapi();
    changed["paths"].as_object_mut().unwrap().remove("/fail");
    changed["paths"]["/weather/{city}"]["delete"] = json!({"operationId": "forgetWeather", "responses": {}});
    let update = mcpgw_proto::v1::UpdateBackendRequest {
        backend: "fx".into(),
        openapi: Some(mcpgw_proto::v1::OpenApiImport {
            document: changed.to_string(),
            server_url: api.url(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let after = gw
        .admin
        .clone()
        .update_backend(update)
        .await
        .unwrap()
        .into_inner()
        .backend
        .unwrap();
    assert_eq!(after.config_version, before.config_version + 1, "one registry write");
    assert_eq!(after.tool_count, 3);
    assert_eq!(tool_id(&gw, "fx-getWeather").await, kept_id);
    nodes_at(&gw.admin, &[], after.config_version).await;
    let names = clients::tool_names(&gw.proc.url("/mcp"), &clients::token("pat")).await;
    assert!(
        names.contains(&"fx-forgetWeather".to_owned()) && !names.contains(&"fx-get_fail".to_owned()),
        "{names:?}"
    );
}

async fn tool_id(gw: &Served, exposed: &str) -> String {
    let req = mcpgw_proto::v1::GetToolRequest { tool: exposed.into() };
    gw.admin
        .clone()
        .get_tool(req)
        .await
        .unwrap()
        .into_inner()
        .tool
        .unwrap()
        .id
}

#[tokio::test]
async fn an_import_takes_only_the_tags_asked_for_and_bad_documents_are_refused() {
    let api = RestFixture::start(None).await;
    let gw = Served::start(&[]).await;
    let doc = format!("{}openapi.json", api.url());
    let out = gw
        .cli(
            &[
                "backend",
                "add",
                "--name",
                "notes",
                "--openapi",
                &doc,
                "--openapi-tag",
                "notes",
            ],
            &[],
        )
        .await;
    assert!(
        out.ok && out.stdout.contains("with 1 tools"),
        "{}{}",
        out.stdout,
        out.stderr
    );

    let file = std::env::temp_dir().join(format!("mcpgw-openapi-{}.json", uuid::Uuid::new_v4().simple()));
    let mut broken = openapi();
    broken["paths"]["/notes"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"] =
        json!("#/components/schemas/Missing");
    let cases = [
        ("{\"openapi\": \"3.0.3\",\n  \"paths\": [".to_owned(), "line 2"),
        (
            broken.to_string(),
            "paths./notes.post.requestBody: $ref \"#/components/schemas/Missing\" points at nothing",
        ),
        (json!({"swagger": "2.0"}).to_string(), "only OpenAPI 3.0 and 3.1"),
    ];
    for (text, said) in cases {
        std::fs::write(&file, text).unwrap();
        let server = api.url();
        let args = [
            "backend",
            "add",
            "--name",
            "bad",
            "--openapi",
            file.to_str().unwrap(),
            "--openapi-server",
            &server,
        ];
        let out = gw.cli(&args, &[]).await;
        assert!(!out.ok && out.stderr.contains(said), "{said}: {}", out.stderr);
    }
    std::fs::remove_file(&file).unwrap();
    let names: Vec<String> = clients::backends(&gw.admin).await.into_iter().map(|b| b.name).collect();
    assert_eq!(names, ["notes"]);
}

#[tokio::test]
async fn a_yaml_openapi_document_imports_the_same_tools() {
    let api = RestFixture::start(None).await;
    let gw = imported(&api, "fy", "openapi.yaml").await;
    let client = clients::mcp(&gw.proc.url("/mcp"), Some(&clients::token("pat"))).await;
    let r = client
        .call_tool(tool_call("fy-getWeather", json!({"city": "Oslo"})))
        .await
        .unwrap();
    assert_eq!(r.structured_content.unwrap()["city"], "Oslo");
    client.cancel().await.unwrap();
}
