//! Resources whose content the registry holds (text or a blob) or fetches
//! (a URL), and resource templates whose reads render a text template with
//! the variables the URI matched.

use base64::Engine;
use mcpgw_proto::v1::{OwnedResource, OwnedResourceTemplate, owned_resource::Content};
use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value, json};

use crate::upstream::{McpHttpClient, UpstreamError};

/// Largest document a URL resource may be.
pub const MAX_FETCHED: usize = 4 << 20;
/// Instructions one template rendering may run.
const FUEL: u64 = 100_000;

fn mime_or(mime: &str, default: &str) -> String {
    if mime.is_empty() { default.into() } else { mime.into() }
}

/// A resource's definition as `resources/list` shows it.
pub(super) fn definition(r: &OwnedResource) -> String {
    let mut def = json!({"uri": r.uri, "name": if r.name.is_empty() { &r.uri } else { &r.name }});
    if !r.description.is_empty() {
        def["description"] = json!(r.description);
    }
    def["mimeType"] = json!(mime_of(r));
    def.to_string()
}

fn mime_of(r: &OwnedResource) -> String {
    let default = match r.content {
        Some(Content::Blob(_)) => "application/octet-stream",
        _ => "text/plain",
    };
    mime_or(&r.mime_type, default)
}

/// A template's definition as `resources/templates/list` shows it.
pub(super) fn template_definition(t: &OwnedResourceTemplate) -> String {
    let name = if t.name.is_empty() { &t.uri_template } else { &t.name };
    let mut def = json!({"uriTemplate": t.uri_template, "name": name});
    if !t.description.is_empty() {
        def["description"] = json!(t.description);
    }
    def["mimeType"] = json!(mime_or(&t.mime_type, "text/plain"));
    def.to_string()
}

/// A resource, ready to read.
pub struct Resource {
    uri: String,
    mime: String,
    body: Body,
}

enum Body {
    /// The whole `resources/read` result, written once.
    Inline(String),
    Url(String),
}

impl Resource {
    pub fn compile(r: &OwnedResource) -> Result<Self, String> {
        let scheme = r.uri.split_once(':').map(|(s, _)| s);
        let ok = scheme
            .is_some_and(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)))
            && !r.uri.chars().any(char::is_whitespace);
        if !ok {
            return Err(format!(
                "resource uri {:?} is not a URI (scheme:rest, no spaces)",
                r.uri
            ));
        }
        let mime = mime_of(r);
        let body = match r.content.as_ref() {
            None => return Err(format!("resource {:?} needs content: text, blob or url", r.uri)),
            Some(Content::Text(text)) => Body::Inline(contents(&r.uri, &mime, "text", text)),
            Some(Content::Blob(blob)) => Body::Inline(contents(
                &r.uri,
                &mime,
                "blob",
                &base64::engine::general_purpose::STANDARD.encode(blob),
            )),
            Some(Content::Url(url)) => {
                let ok = reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
                if !ok {
                    return Err(format!("resource {:?}: url {url:?} is not an http(s) URL", r.uri));
                }
                Body::Url(url.clone())
            }
        };
        Ok(Self {
            uri: r.uri.clone(),
            mime,
            body,
        })
    }

    /// Whether reads fetch the content (and are worth caching).
    pub fn fetches(&self) -> bool {
        matches!(self.body, Body::Url(_))
    }

    /// The `resources/read` result: the content held, or fetched from its
    /// URL now (as text) with `client`.
    pub async fn read(&self, client: &McpHttpClient) -> Result<String, UpstreamError> {
        match &self.body {
            Body::Inline(result) => Ok(result.clone()),
            Body::Url(url) => {
                let text = client.fetch_text(url, MAX_FETCHED).await?;
                Ok(contents(&self.uri, &self.mime, "text", &text))
            }
        }
    }
}

/// A `resources/read` result of one content.
fn contents(uri: &str, mime: &str, field: &str, value: &str) -> String {
    let mut c = Map::new();
    c.insert("uri".into(), json!(uri));
    c.insert("mimeType".into(), json!(mime));
    c.insert(field.into(), json!(value));
    json!({"contents": [c]}).to_string()
}

/// One piece of a URI template: literal text, or a `{name}` variable.
#[derive(Debug, PartialEq)]
enum Part {
    Literal(String),
    Var(String),
}

/// A resource template, ready to read URIs of.
pub struct ResourceTemplate {
    parts: Vec<Part>,
    mime: String,
    env: Environment<'static>,
}

impl ResourceTemplate {
    pub fn compile(t: &OwnedResourceTemplate) -> Result<Self, String> {
        let parts = parse(&t.uri_template)?;
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        env.add_template_owned("text", t.text.clone())
            .map_err(|e| format!("resource template {:?}: its text does not compile: {e}", t.uri_template))?;
        Ok(Self {
            parts,
            mime: mime_or(&t.mime_type, "text/plain"),
            env,
        })
    }

    /// The variables `uri` gives, if this template could have produced it.
    fn matches(&self, uri: &str) -> Option<Map<String, Value>> {
        let mut vars = Map::new();
        matches_from(&self.parts, uri, &mut vars).then_some(vars)
    }

    /// The `resources/read` result for `uri`, if the template matches it:
    /// the text rendered with its variables, or why it could not be.
    pub fn read(&self, uri: &str) -> Option<Result<String, String>> {
        let vars = self.matches(uri)?;
        let rendered = self
            .env
            .get_template("text")
            .and_then(|t| t.render(&vars))
            .map_err(|e| format!("the resource template could not be rendered: {e}"));
        Some(rendered.map(|text| contents(uri, &self.mime, "text", &text)))
    }
}

/// Level-1 RFC 6570 templates only (`{name}`): each variable one value with
/// no `/`, `?` or `#`, matched between the literals around it.
fn parse(template: &str) -> Result<Vec<Part>, String> {
    let bad = |why: &str| format!("uri template {template:?} {why}");
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(Part::Literal(rest[..open].into()));
        }
        let close = rest[open..].find('}').ok_or_else(|| bad("has an unclosed {"))? + open;
        let name = &rest[open + 1..close];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad("may only use simple {name} variables (letters, digits, _)"));
        }
        if matches!(parts.last(), Some(Part::Var(_))) {
            return Err(bad("has two variables with nothing between them"));
        }
        parts.push(Part::Var(name.into()));
        rest = &rest[close + 1..];
    }
    if rest.contains('}') {
        return Err(bad("has a } with no {"));
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest.into()));
    }
    if !parts.iter().any(|p| matches!(p, Part::Var(_))) {
        return Err(bad("has no variable: register a resource instead"));
    }
    Ok(parts)
}

fn matches_from(parts: &[Part], uri: &str, vars: &mut Map<String, Value>) -> bool {
    match parts.split_first() {
        None => uri.is_empty(),
        Some((Part::Literal(l), rest)) => uri
            .strip_prefix(l.as_str())
            .is_some_and(|u| matches_from(rest, u, vars)),
        Some((Part::Var(name), rest)) => {
            // Values end at the first character a variable cannot hold, or
            // earlier where the next literal starts; shortest first.
            let limit = uri.find(['/', '?', '#']).unwrap_or(uri.len());
            for end in (1..=limit).filter(|&e| uri.is_char_boundary(e)) {
                if matches_from(rest, &uri[end..], vars) {
                    vars.insert(name.clone(), json!(&uri[..end]));
                    return true;
                }
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_reads_the_uris_it_matches_with_their_variables() {
        let t = ResourceTemplate::compile(&OwnedResourceTemplate {
            uri_template: "notes://{user}/{id}.txt".into(),
            text: "note {{ id }} of {{ user }}".into(),
            ..Default::default()
        })
        .unwrap();
        let out: Value = serde_json::from_str(&t.read("notes://ada/7.txt").unwrap().unwrap()).unwrap();
        assert_eq!(out["contents"][0]["text"], "note 7 of ada");
        assert_eq!(out["contents"][0]["uri"], "notes://ada/7.txt");
        assert!(t.read("notes://ada/7.md").is_none());
        assert!(t.read("notes://a/b/7.txt").is_none(), "a variable holds no /");
    }

    #[test]
    fn only_simple_templates_are_taken() {
        let compile = |u: &str| {
            ResourceTemplate::compile(&OwnedResourceTemplate {
                uri_template: u.into(),
                text: "x".into(),
                ..Default::default()
            })
        };
        assert!(compile("a://{+path}").is_err());
        assert!(compile("a://{x}{y}").is_err());
        assert!(compile("a://fixed").is_err());
        assert!(compile("a://{x").is_err());
        assert!(compile("a://{x}/y").is_ok());
    }

    #[test]
    fn inline_content_is_the_whole_result() {
        let r = Resource::compile(&OwnedResource {
            uri: "docs://readme".into(),
            content: Some(Content::Blob(vec![0, 1, 2])),
            ..Default::default()
        })
        .unwrap();
        let Body::Inline(result) = &r.body else {
            panic!("inline")
        };
        let out: Value = serde_json::from_str(result).unwrap();
        assert_eq!(out["contents"][0]["blob"], "AAEC");
        assert_eq!(out["contents"][0]["mimeType"], "application/octet-stream");
        let no_content = OwnedResource {
            uri: "docs://x".into(),
            ..Default::default()
        };
        assert!(Resource::compile(&no_content).is_err());
    }
}
