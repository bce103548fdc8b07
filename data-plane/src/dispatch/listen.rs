//! `subscriptions/listen` (MCP 2026-07-28): a client's one stream of the
//! notifications it opts in to, in place of a session's standalone stream.
//! The filter names list changes (`toolsListChanged`, `promptsListChanged`,
//! `resourcesListChanged`), resources (`resourceSubscriptions`) and, for a
//! request declaring the Tasks extension, tasks (`taskIds`, see
//! `task_status`).
//!
//! List changes are the view's own, whatever the era of the backends behind
//! it: the control plane follows every backend's catalog (a session's
//! `list_changed`, a stateless backend's listen stream) and each new config
//! tells the views whose lists changed (see `config::changes`). A resource
//! is subscribed in its backend's shared session as a session client's
//! subscription is, under the stream's own key, and unsubscribed when the
//! stream ends; one of a stateless backend is followed on the one listen
//! stream this node holds with that backend for all its subscribers (see
//! `upstream::pool::follows`). Updates reach the stream from whichever node
//! hears them. The first message acknowledges what is honoured (a
//! resource nobody serves, or its backend does not acknowledge, is not);
//! every message carries the listen's id as
//! `_meta["io.modelcontextprotocol/subscriptionId"]`.

use std::sync::Arc;

use futures::{StreamExt, stream::BoxStream};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Reply, routed};
use crate::{
    Gateway,
    error::{ErrorKind, McpError},
    jsonrpc::{self, CowStr, Envelope, RawObject, json_str},
    session::{Session, subscriptions::Removed},
    upstream::Dialect,
};

/// Where every notification of a listen stream names it.
pub const SUBSCRIPTION_ID_KEY: &str = "io.modelcontextprotocol/subscriptionId";
/// Most resources one stream may follow.
pub const MAX_RESOURCES: usize = 64;

#[derive(Deserialize)]
struct Params<'a> {
    #[serde(borrow)]
    notifications: Filter<'a>,
    #[serde(borrow, rename = "_meta")]
    meta: Option<&'a RawValue>,
}

/// What the client opts in to (members this gateway does not honour are
/// left out of the acknowledgement).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Filter<'a> {
    #[serde(default)]
    tools_list_changed: bool,
    #[serde(default)]
    prompts_list_changed: bool,
    #[serde(default)]
    resources_list_changed: bool,
    #[serde(borrow, default)]
    resource_subscriptions: Vec<CowStr<'a>>,
    #[serde(borrow, default)]
    task_ids: Option<Vec<CowStr<'a>>>,
}

/// Serves the listen `id` of `session` (a stateless client's).
pub async fn listen(
    gw: &Arc<Gateway>,
    session: &Session,
    id: &RawValue,
    params: Option<&RawValue>,
) -> Result<Reply, McpError> {
    let invalid = |m: String| McpError::new(ErrorKind::InvalidParams, m);
    let params: Params<'_> = params
        .ok_or_else(|| invalid("subscriptions/listen needs params.notifications".into()))
        .and_then(|p| {
            serde_json::from_str(p.get()).map_err(|e| {
                invalid(format!(
                    "subscriptions/listen params.notifications must be a filter object (toolsListChanged, promptsListChanged, resourcesListChanged: booleans; resourceSubscriptions: an array of URIs): {e}"
                ))
            })
        })?;
    let filter = params.notifications;
    let meta = params.meta.and_then(|m| RawObject::parse(m.get()).ok());
    let tasks_declared = crate::tasks::declared_in(meta.as_ref());
    if filter
        .task_ids
        .as_ref()
        .is_some_and(|t| t.len() > super::task_status::MAX_TASKS)
    {
        return Err(invalid(format!(
            "subscriptions/listen may follow at most {} tasks on one stream; open another stream for more",
            super::task_status::MAX_TASKS
        )));
    }
    if filter.resource_subscriptions.len() > MAX_RESOURCES {
        return Err(invalid(format!(
            "subscriptions/listen may follow at most {MAX_RESOURCES} resources on one stream; open another stream for more"
        )));
    }
    super::view(&gw.snapshot.load(), session)?;
    // Heard from now on: nothing that changes after the acknowledgement
    // is missed.
    let changes = crate::config::changes::for_view(gw.list_changes.subscribe(), session.server.clone());
    let updates = gw.listeners.listen(session.key);
    let followed = Followed {
        gw: gw.clone(),
        key: session.key,
        uris: Vec::new(),
    };
    let followed = follow(gw, session, &filter.resource_subscriptions, followed).await;
    let (tasks, statuses) = match (&filter.task_ids, tasks_declared) {
        (Some(ids), true) => super::task_status::follow(gw, session, ids).await,
        _ => (Vec::new(), None),
    };

    let mut honoured = Vec::new();
    for (on, name) in [
        (filter.tools_list_changed, "toolsListChanged"),
        (filter.prompts_list_changed, "promptsListChanged"),
        (filter.resources_list_changed, "resourcesListChanged"),
    ] {
        if on {
            honoured.push(format!("{}:true", json_str(name)));
        }
    }
    if !filter.resource_subscriptions.is_empty() {
        let uris: Vec<String> = followed.uris.iter().map(|u| json_str(u)).collect();
        honoured.push(format!(r#""resourceSubscriptions":[{}]"#, uris.join(",")));
    }
    if filter.task_ids.is_some() && tasks_declared {
        let ids: Vec<String> = tasks.iter().map(|t| json_str(t)).collect();
        honoured.push(format!(r#""taskIds":[{}]"#, ids.join(",")));
    }
    let tag = Arc::<str>::from(id.get());
    let ack = format!(
        r#"{{"notifications":{{{}}},"_meta":{{{}:{}}}}}"#,
        honoured.join(","),
        json_str(SUBSCRIPTION_ID_KEY),
        tag
    );
    let ack = jsonrpc::notification("notifications/subscriptions/acknowledged", Some(&ack));

    let wanted = [
        (filter.tools_list_changed, "notifications/tools/list_changed"),
        (filter.prompts_list_changed, "notifications/prompts/list_changed"),
        (filter.resources_list_changed, "notifications/resources/list_changed"),
    ]
    .into_iter()
    .filter_map(|(on, method)| on.then_some(method))
    .collect::<Vec<_>>();
    let changes = changes.filter(move |m| std::future::ready(wanted.iter().any(|w| method_is(m, w))));
    let events: BoxStream<'static, Vec<u8>> = match followed.uris.is_empty() {
        true => changes.boxed(),
        false => futures::stream::select(changes, updates).boxed(),
    };
    let events = match statuses {
        Some(statuses) => futures::stream::select(events, statuses).boxed(),
        None => events,
    };
    // The stream keeps the subscriptions until the client closes it.
    let open = gw.metrics.stream(crate::metrics::StreamKind::Listen);
    let events = events.map(move |m| {
        let _kept = (&followed, &open);
        tagged(&m, &tag)
    });
    Ok(Reply::Stream(
        futures::stream::once(async { ack })
            .chain(events)
            .take_until(gw.drained())
            .boxed(),
    ))
}

/// The resources a stream follows, unsubscribed when it ends.
struct Followed {
    gw: Arc<Gateway>,
    key: [u8; 16],
    /// As the client named them.
    uris: Vec<String>,
}

impl Drop for Followed {
    fn drop(&mut self) {
        for uri in &self.uris {
            if let Removed::Released { backend_id, uri } = self.gw.subscriptions.remove(self.key, uri) {
                self.gw.upstream.unsubscribe(&backend_id, &uri);
            }
        }
    }
}

/// Subscribes to each of `uris` the view serves, as `followed`'s: in the
/// backend's shared session, on the node's listen stream with a stateless
/// backend, or (for the registry's own resources, which change only with
/// it) by accepting it.
async fn follow(gw: &Arc<Gateway>, session: &Session, uris: &[CowStr<'_>], mut followed: Followed) -> Followed {
    for uri in uris {
        let stateless = {
            let snapshot = gw.snapshot.load();
            match super::view(&snapshot, session).ok().and_then(|v| v.resource(uri)) {
                None => continue,
                Some(r) if r.owned.is_none() && r.backend.dialect == Dialect::Stateless => {
                    Some((r.backend.clone(), r.uri.to_string()))
                }
                Some(_) => None,
            }
        };
        if followed.uris.iter().any(|u| u == &**uri) {
            continue;
        }
        if let Some((backend, backend_uri)) = stateless {
            gw.subscriptions.add(session.key, backend.id.clone(), &backend_uri, uri);
            followed.uris.push(uri.to_string());
            if !gw
                .upstream
                .follow(&backend.id, backend.endpoints.primary(), &backend_uri)
                .await
            {
                followed.uris.pop();
                if let Removed::Released { backend_id, uri } = gw.subscriptions.remove(session.key, uri) {
                    gw.upstream.unsubscribe(&backend_id, &uri);
                }
            }
            continue;
        }
        let params = RawValue::from_string(format!(r#"{{"uri":{}}}"#, json_str(uri))).expect("an object");
        let id = RawValue::from_string("0".into()).expect("a number");
        // Part of the listen request, which is what is counted: this
        // recorder is never finished.
        let part = super::recorder::Recorder::part(&gw.metrics, "resources/subscribe");
        let subscribed = routed::by_uri(gw, session, &part, &id, "resources/subscribe", Some(&params), None).await;
        let ok = match subscribed {
            Ok(Reply::Message(m)) => Envelope::parse(&m).is_ok_and(|e| e.result.is_some()),
            Ok(Reply::Stream(s)) => s
                .collect::<Vec<_>>()
                .await
                .last()
                .is_some_and(|m| Envelope::parse(m).is_ok_and(|e| e.result.is_some())),
            Ok(Reply::Accepted) | Err(_) => false,
        };
        if ok {
            followed.uris.push(uri.to_string());
        } else if let Removed::Released { backend_id, uri } = gw.subscriptions.remove(session.key, uri) {
            // Noted before the backend refused it.
            gw.upstream.forget_subscription(&backend_id, &uri);
        }
    }
    followed
}

/// Whether notification `msg` is of `method`.
fn method_is(msg: &[u8], method: &str) -> bool {
    Envelope::parse(msg).is_ok_and(|e| e.method.as_deref() == Some(method))
}

/// `msg` with the stream's id in its params' `_meta`.
fn tagged(msg: &[u8], tag: &str) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(msg) else {
        return msg.to_vec();
    };
    let Ok(obj) = RawObject::parse(text) else {
        return msg.to_vec();
    };
    let params = obj
        .get("params")
        .and_then(|p| RawObject::parse(p.get()).ok())
        .unwrap_or_default();
    let meta = params
        .get("_meta")
        .and_then(|m| RawObject::parse(m.get()).ok())
        .unwrap_or_default()
        .to_string_with(&[(SUBSCRIPTION_ID_KEY, tag)]);
    let params = params.to_string_with(&[("_meta", &meta)]);
    obj.to_string_with(&[("params", &params)]).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_is_tagged_with_the_stream_id_keeping_its_params() {
        let plain = jsonrpc::notification("notifications/tools/list_changed", None);
        let v: serde_json::Value = serde_json::from_slice(&tagged(&plain, r#""L-1""#)).unwrap();
        assert_eq!(v["params"]["_meta"][SUBSCRIPTION_ID_KEY], "L-1");
        let update = br#"{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"file:///a","_meta":{"x":1}}}"#;
        let v: serde_json::Value = serde_json::from_slice(&tagged(update, "7")).unwrap();
        assert_eq!(v["params"]["uri"], "file:///a");
        assert_eq!(
            v["params"]["_meta"],
            serde_json::json!({"x": 1, SUBSCRIPTION_ID_KEY: 7})
        );
    }
}
