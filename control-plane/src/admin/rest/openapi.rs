//! The REST API's description: the OpenAPI 3.1 document (`/openapi.json`),
//! gathered by `utoipa` from the handlers' own annotations and the request
//! and answer types, and a page that reads it (`/docs`), rendered once at
//! start on the server with no script and nothing fetched from elsewhere,
//! so it works where the gateway has no internet.

use std::sync::Arc;

use axum::{
    Router,
    http::header,
    response::{Html, IntoResponse},
    routing::get,
};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{Http, HttpAuthScheme, SecurityScheme},
};

/// What the document says before the routes add themselves.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "mcpgw admin API",
        description = "The registry of mcpgw in Context Forge's REST shapes and paths. Every path is also \
            served under /v1. Authenticate with Basic (the admin user) or a JWT bearer; /openapi.json and \
            /docs need neither. POST /{kind}/{id}/state is served as an alias of /toggle.",
        license(name = "Apache-2.0"),
    ),
    modifiers(&Credentials),
    security(("basic" = []), ("bearer" = [])),
    tags(
        (name = "tools", description = "Every backend's tools, and the registry's own REST tools"),
        (name = "prompts", description = "Every backend's prompts, and the registry's own templates"),
        (name = "resources", description = "Resources and resource templates"),
        (name = "servers", description = "Virtual servers: a chosen set of items under one MCP URL"),
        (name = "gateways", description = "MCP servers and peer gateways (backends)"),
        (name = "protocol", description = "MCP's handshake and ping over REST, and the version"),
        (name = "transfer", description = "Export and import of the whole registry"),
    )
)]
struct Base;

struct Credentials;

impl Modify for Credentials {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme("basic", SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)));
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.bearer_format = Some("JWT".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = Base::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    doc
}

/// `/openapi.json` and `/docs`.
pub fn router<S: Clone + Send + Sync + 'static>(doc: Arc<utoipa::openapi::OpenApi>) -> Router<S> {
    let json: Arc<str> = serde_json::to_string(&*doc).expect("the document serializes").into();
    let page: Arc<str> = docs_page(&doc).into();
    Router::new()
        .route(
            "/openapi.json",
            get(move || {
                let json = json.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], json.to_string()) }
            }),
        )
        .route(
            "/docs",
            get(move || {
                let page = page.clone();
                async move { Html(page.to_string()).into_response() }
            }),
        )
}

/// One operation as the page shows it.
#[derive(Serialize)]
struct Operation {
    method: String,
    path: String,
    anchor: String,
    summary: String,
    description: String,
    params: Vec<Field>,
    body: Option<String>,
    responses: Vec<Field>,
}

/// A parameter, a response or a schema's property: a name, a type, words.
#[derive(Serialize)]
struct Field {
    name: String,
    kind: String,
    link: Option<String>,
    required: bool,
    about: String,
}

#[derive(Serialize)]
struct Section {
    name: String,
    about: String,
    operations: Vec<Operation>,
}

#[derive(Serialize)]
struct Schema {
    name: String,
    about: String,
    fields: Vec<Field>,
}

const PAGE: &str = include_str!("docs.html");

/// The page, rendered from the document.
fn docs_page(doc: &utoipa::openapi::OpenApi) -> String {
    let doc = serde_json::to_value(doc).expect("the document serializes");
    let mut sections: Vec<Section> = doc["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| Section {
            name: str_of(&t["name"]),
            about: str_of(&t["description"]),
            operations: Vec::new(),
        })
        .collect();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let tag = op["tags"][0].as_str().unwrap_or_default();
            let Some(section) = sections.iter_mut().find(|s| s.name == tag) else {
                continue;
            };
            section.operations.push(operation(path, method, op));
        }
    }
    let schemas: Vec<Schema> = doc["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, s)| schema(name, s))
        .collect();
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_template("docs", PAGE).expect("the docs template parses");
    env.get_template("docs")
        .expect("added")
        .render(minijinja::context! {
            title => doc["info"]["title"],
            version => doc["info"]["version"],
            about => doc["info"]["description"],
            sections,
            schemas,
        })
        .expect("the docs page renders")
}

fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn operation(path: &str, method: &str, op: &Value) -> Operation {
    let params = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let (kind, link) = type_of(&p["schema"]);
            Field {
                name: format!("{} ({})", str_of(&p["name"]), str_of(&p["in"])),
                kind,
                link,
                required: p["required"].as_bool().unwrap_or(false),
                about: str_of(&p["description"]),
            }
        })
        .collect();
    let body = op["requestBody"]["content"]
        .as_object()
        .and_then(|c| c.values().next())
        .map(|c| type_of(&c["schema"]).0);
    let responses = op["responses"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(status, r)| {
            let (kind, link) = r["content"]
                .as_object()
                .and_then(|c| c.values().next())
                .map_or((String::new(), None), |c| type_of(&c["schema"]));
            Field {
                name: status.clone(),
                kind,
                link,
                required: false,
                about: str_of(&r["description"]),
            }
        })
        .collect();
    let description = str_of(&op["description"]);
    Operation {
        method: method.to_ascii_uppercase(),
        path: path.to_owned(),
        anchor: format!("{method}{}", path.replace(['/', '{', '}'], "-")),
        summary: str_of(&op["summary"]),
        description,
        params,
        body,
        responses,
    }
}

fn schema(name: &str, s: &Value) -> Schema {
    let required: Vec<&str> = s["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let empty = Map::new();
    let fields = s["properties"]
        .as_object()
        .unwrap_or(&empty)
        .iter()
        .map(|(field, p)| {
            let (kind, link) = type_of(p);
            Field {
                name: field.clone(),
                kind,
                link,
                required: required.contains(&field.as_str()),
                about: str_of(&p["description"]),
            }
        })
        .collect::<Vec<_>>();
    let about = match (str_of(&s["description"]), fields.is_empty()) {
        (d, true) if d.is_empty() => format!("one of: {}", type_of(s).0),
        (d, _) => d,
    };
    Schema {
        name: name.to_owned(),
        about,
        fields,
    }
}

/// A schema in a few words (`ToolRead`, `array of ToolRead`, `string`), and
/// the component it names, to link to.
fn type_of(s: &Value) -> (String, Option<String>) {
    if let Some(r) = s["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or(r).to_owned();
        return (name.clone(), Some(name));
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(all) = s[key].as_array() {
            let words: Vec<String> = all.iter().map(|v| type_of(v).0).collect();
            let link = all.iter().find_map(|v| type_of(v).1);
            return (words.join(" | "), link);
        }
    }
    let ty = match &s["type"] {
        Value::Array(t) => t.iter().map(str_of).collect::<Vec<_>>().join(" | "),
        Value::String(t) => t.clone(),
        _ => "any".into(),
    };
    if ty.starts_with("array") {
        let (inner, link) = type_of(&s["items"]);
        return (format!("array of {inner}"), link);
    }
    (ty, None)
}
