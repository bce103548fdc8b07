//! The methods that act on one item, routed to the backend that offers it:
//! `tools/call`, `prompts/get`, `resources/read|subscribe|unsubscribe` and
//! `completion/complete`.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Reply, forward::Forward, recorder::Recorder};
use crate::{
    Gateway,
    cache::Lookup,
    error::{ErrorKind, McpError},
    fleet::Notice,
    jsonrpc::{self, CowStr, RawObject, json_str},
    owned::Owned,
    routing::{Catalog, ResourceRoute, RouteTable},
    session::{Session, subscriptions::Removed},
    upstream::Dialect,
};

/// `tools/call` and `prompts/get`: by exposed name.
pub async fn by_name(
    gw: &Arc<Gateway>,
    session: &Session,
    rec: &Recorder,
    id: &RawValue,
    method: &str,
    params: Option<&RawValue>,
    via: Option<&str>,
) -> Result<Reply, McpError> {
    let req = Forward::parse(method, params, via)?.of(session);
    let (what, hint, pick): (&'static str, &str, fn(&RouteTable) -> &Catalog) = match method {
        "tools/call" => ("tool", "the tool's name as listed by its list method", |r| &r.tools),
        _ => ("prompt", "the prompt's name as listed by its list method", |r| {
            &r.prompts
        }),
    };
    let name = req.str_param("name", hint)?;
    let route = pick(super::view(&gw.snapshot.load(), session)?)
        .get(&name)
        .cloned()
        .ok_or_else(|| McpError::new(ErrorKind::InvalidParams, format!("Unknown {what}: {}", &*name)))?;
    rec.routed(&route.backend.slug, Some(&route.name), what, &name);
    let target = Target(what, &name);
    let fill = match what {
        "tool" if !req.is_retry() => {
            let cached = gw
                .cache
                .tool(
                    &route.backend.id,
                    route.backend.caching,
                    route.caching,
                    &route.name,
                    req.param("arguments"),
                )
                .await;
            match cached {
                Lookup::Hit(result) => return Ok(Reply::Message(jsonrpc::result_response(id, &result))),
                Lookup::Miss(fill) => fill,
            }
        }
        _ => None,
    };
    let call = super::api::Call {
        id,
        route: &route,
        arguments: req.param("arguments"),
        progress_token: req.progress_token,
        target: &target,
    };
    if let Some(owned) = &route.owned {
        return match &**owned {
            Owned::Tool(api) => call.run(gw, api, fill).await,
            Owned::Prompt(p) => {
                let result = p
                    .render(req.param("arguments"))
                    .map_err(|e| McpError::new(ErrorKind::InvalidParams, e.to_string()))?;
                Ok(Reply::Message(jsonrpc::result_response(id, &result)))
            }
            Owned::Resource(_) | Owned::Template(_) => Err(McpError::new(
                ErrorKind::Internal,
                format!("{target} is not a tool or prompt"),
            )),
        };
    }
    if let Some(api) = &route.backend.link().api {
        return call.run(gw, api, fill).await;
    }
    // A backend of an earlier era runs no tasks: the gateway does, at once
    // for a tool that runs only as one.
    if what == "tool" && route.backend.dialect != Dialect::Stateless {
        if req.declares_tasks() {
            let at_once = route.task_required;
            return super::held::call(gw, session, id, &req, params, via, route, at_once).await;
        }
        if route.task_required && req.undeclares_tasks() {
            return Err(super::tasks::undeclared(&format!(
                "{target} runs only as a task of the {} extension",
                crate::tasks::EXTENSION
            )));
        }
    }
    req.filling(fill)
        .mirroring(route.param_headers.clone())
        .send(
            gw,
            session,
            id,
            &route.backend,
            &[("name", &json_str(&route.name))],
            &target,
        )
        .await
}

/// What a request acts on, as errors name it ("tool 'x'"); written out only
/// when an error is, so a call that succeeds formats nothing.
pub(super) struct Target<'a>(pub(super) &'static str, pub(super) &'a str);

impl std::fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} '{}'", self.0, self.1)
    }
}

/// `resources/read`, `resources/subscribe`, `resources/unsubscribe`: by URI.
pub async fn by_uri(
    gw: &Arc<Gateway>,
    session: &Session,
    rec: &Recorder,
    id: &RawValue,
    method: &str,
    params: Option<&RawValue>,
    via: Option<&str>,
) -> Result<Reply, McpError> {
    let req = Forward::parse(method, params, via)?.of(session);
    let uri = req.str_param("uri", "the resource's URI")?;
    let snapshot = gw.snapshot.load();
    let route = super::view(&snapshot, session)?
        .resource(&uri)
        .ok_or_else(|| unknown_resource(&uri))?;
    let target = Target("resource", &uri);
    let backend = &route.backend;
    rec.routed(&backend.slug, None, "resource", &uri);
    if let Some(owned) = &route.owned {
        return read_owned(gw, id, method, &route, owned, &uri).await;
    }
    let mut fill = None;
    match method {
        "resources/read" if !req.is_retry() => {
            let cached = gw
                .cache
                .resource(&backend.id, backend.caching, route.ttl_secs, &route.uri)
                .await;
            match cached {
                Lookup::Hit(result) => return Ok(Reply::Message(jsonrpc::result_response(id, &result))),
                Lookup::Miss(f) => fill = f,
            }
        }
        // A stateless backend has no session to subscribe in: the node's
        // listen stream with it follows the resource.
        "resources/subscribe" if backend.dialect == Dialect::Stateless => {
            gw.subscriptions.add(session.key, backend.id.clone(), &route.uri, &uri);
            if gw
                .upstream
                .follow(&backend.id, backend.endpoints.primary(), &route.uri)
                .await
            {
                return Ok(Reply::Message(jsonrpc::result_response(id, "{}")));
            }
            if let Removed::Released { backend_id, uri } = gw.subscriptions.remove(session.key, &uri) {
                gw.upstream.unsubscribe(&backend_id, &uri);
            }
            return Err(McpError::new(
                ErrorKind::BackendUnavailable,
                format!(
                    "Backend '{}' did not agree to tell updates of {} (its subscriptions/listen stream did not acknowledge it)",
                    backend.name, &*uri
                ),
            ));
        }
        "resources/subscribe" => {
            gw.subscriptions.add(session.key, backend.id.clone(), &route.uri, &uri);
            gw.upstream.note_subscription(&backend.id, backend.link(), &route.uri);
        }
        "resources/unsubscribe" if backend.dialect == Dialect::Stateless => {
            match gw.subscriptions.remove(session.key, &uri) {
                Removed::Released { backend_id, uri } => gw.upstream.unsubscribe(&backend_id, &uri),
                Removed::NotHere if gw.fleet.is_shared() => gw.fleet.tell(Notice::Unsubscribe {
                    session: session.key,
                    uri: uri.to_string().into(),
                }),
                _ => {}
            }
            return Ok(Reply::Message(jsonrpc::result_response(id, "{}")));
        }
        "resources/unsubscribe" => match gw.subscriptions.remove(session.key, &uri) {
            // Nobody else here wants it: the backend session unsubscribes
            // (this request goes on).
            Removed::Released { .. } => drop(gw.upstream.forget_subscription(&backend.id, &route.uri)),
            removed => {
                // Subscribed through another node, which hears the updates.
                if matches!(removed, Removed::NotHere) && gw.fleet.is_shared() {
                    gw.fleet.tell(Notice::Unsubscribe {
                        session: session.key,
                        uri: uri.to_string().into(),
                    });
                }
                // Another session here still wants it, or this node's
                // backend session never had it: nothing to tell the backend.
                return Ok(Reply::Message(crate::jsonrpc::result_response(id, "{}")));
            }
        },
        _ => {}
    }
    req.filling(fill)
        .send(
            gw,
            session,
            id,
            &route.backend,
            &[("uri", &json_str(&route.uri))],
            &target,
        )
        .await
}

/// `resources/read` of one of the registry's own resources (cached like
/// any read) or of a URI one of its templates matches; subscribing to them
/// is accepted, and nothing more: their content changes only with the
/// registry, which clients hear of as `list_changed`.
async fn read_owned(
    gw: &Arc<Gateway>,
    id: &RawValue,
    method: &str,
    route: &ResourceRoute<'_>,
    owned: &Owned,
    uri: &str,
) -> Result<Reply, McpError> {
    if method != "resources/read" {
        return Ok(Reply::Message(jsonrpc::result_response(id, "{}")));
    }
    let result = match owned {
        Owned::Resource(r) => {
            let backend = &route.backend;
            // Content held in the snapshot is read from there; only what is
            // fetched is cached.
            let lookup = match r.fetches() {
                true => {
                    gw.cache
                        .resource(&backend.id, backend.caching, route.ttl_secs, &route.uri)
                        .await
                }
                false => Lookup::Miss(None),
            };
            let fill = match lookup {
                Lookup::Hit(result) => return Ok(Reply::Message(jsonrpc::result_response(id, &result))),
                Lookup::Miss(fill) => fill,
            };
            let result = r.read(&backend.link().client).await.map_err(|e| {
                McpError::new(
                    ErrorKind::BackendUnavailable,
                    format!("Resource {uri} could not be fetched: {e}"),
                )
            })?;
            if let Some(fill) = fill {
                fill.result(&result);
            }
            result
        }
        Owned::Template(t) => t
            .read(&route.uri)
            .ok_or_else(|| unknown_resource(uri))?
            .map_err(|e| McpError::new(ErrorKind::Internal, format!("Resource {uri}: {e}")))?,
        Owned::Tool(_) | Owned::Prompt(_) => return Err(unknown_resource(uri)),
    };
    Ok(Reply::Message(jsonrpc::result_response(id, &result)))
}

fn unknown_resource(uri: &str) -> McpError {
    McpError::new(
        ErrorKind::ResourceNotFound,
        format!("Resource not found: {uri} (no backend lists it or has a template that matches it)"),
    )
}

#[derive(Deserialize)]
struct Reference<'a> {
    #[serde(rename = "type", borrow)]
    kind: CowStr<'a>,
    #[serde(borrow, default)]
    name: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    uri: Option<CowStr<'a>>,
}

/// `completion/complete`: by the prompt name or resource (template) URI in
/// `params.ref`.
pub async fn complete(
    gw: &Arc<Gateway>,
    session: &Session,
    rec: &Recorder,
    id: &RawValue,
    params: Option<&RawValue>,
    via: Option<&str>,
) -> Result<Reply, McpError> {
    let req = Forward::parse("completion/complete", params, via)?.of(session);
    let invalid = |m: &str| McpError::new(ErrorKind::InvalidParams, m);
    let raw_ref = req
        .param("ref")
        .ok_or_else(|| invalid("completion/complete needs params.ref, a ref/prompt or ref/resource"))?;
    let reference: Reference<'_> = serde_json::from_str(raw_ref.get())
        .map_err(|_| invalid("params.ref must be an object with a \"type\" of ref/prompt or ref/resource"))?;
    let ref_obj = RawObject::parse(raw_ref.get()).map_err(|_| invalid("params.ref must be a JSON object"))?;
    let snapshot = gw.snapshot.load();
    let routes = super::view(&snapshot, session)?;
    // The registry's own prompts and templates (`owned`) offer no completions.
    let (backend, field, original, target, owned) = match (&*reference.kind, reference.name, reference.uri) {
        ("ref/prompt", Some(name), _) => {
            let r = routes
                .prompts
                .get(&name)
                .ok_or_else(|| McpError::new(ErrorKind::InvalidParams, format!("Unknown prompt: {}", &*name)))?;
            (
                r.backend.clone(),
                "name",
                r.name.to_string(),
                format!("prompt '{}'", &*name),
                r.owned.is_some(),
            )
        }
        ("ref/resource", _, Some(uri)) => match routes.templates.get(&uri) {
            Some(r) => (
                r.backend.clone(),
                "uri",
                r.name.to_string(),
                format!("resource template '{}'", &*uri),
                r.owned.is_some(),
            ),
            None => {
                let r = routes.resource(&uri).ok_or_else(|| unknown_resource(&uri))?;
                let owned = r.owned.is_some();
                (
                    r.backend,
                    "uri",
                    r.uri.into_owned(),
                    format!("resource '{}'", &*uri),
                    owned,
                )
            }
        },
        _ => {
            return Err(invalid(
                "params.ref must be {\"type\":\"ref/prompt\",\"name\":...} or {\"type\":\"ref/resource\",\"uri\":...}",
            ));
        }
    };
    rec.routed(&backend.slug, None, "completion", "");
    if owned {
        return Ok(Reply::Message(jsonrpc::result_response(
            id,
            r#"{"completion":{"values":[],"total":0,"hasMore":false}}"#,
        )));
    }
    let new_ref = ref_obj.to_string_with(&[(field, &json_str(&original))]);
    req.send(gw, session, id, &backend, &[("ref", &new_ref)], &target).await
}
