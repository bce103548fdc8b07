//! `notifications/tasks` on a listen stream (the Tasks extension's
//! `taskIds` filter): the tasks a client names by the gateway's ids are
//! followed on listen streams of their backends' own, one per backend the
//! client's tasks run on, open as long as the client's stream is; each
//! status goes out naming the task as the client does. An id another
//! caller got, or one of a backend that left the view, is not honoured.
//! A task the gateway holds itself is followed on the statuses the fleet
//! tells of it (see `held`).

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures::{StreamExt, stream::BoxStream};

use crate::{
    Gateway,
    jsonrpc::{CowStr, Envelope, RawObject, json_str},
    session::Session,
    tasks::EXTENSION,
    upstream::{EventStream, UpstreamSession},
};

/// Most tasks one stream may follow.
pub const MAX_TASKS: usize = 64;
/// How long the backend has to acknowledge what it follows.
const ACK_WAIT: Duration = Duration::from_secs(10);

/// One backend's tasks a stream follows: the backend's own id → the
/// client's.
type Named = HashMap<String, String>;

/// The tasks honoured (the client's ids) and their statuses as they come.
pub async fn follow(
    gw: &Arc<Gateway>,
    session: &Session,
    ids: &[CowStr<'_>],
) -> (Vec<String>, Option<BoxStream<'static, Vec<u8>>>) {
    let mut by_backend: HashMap<Arc<str>, (Arc<UpstreamSession>, Named)> = HashMap::new();
    let mut held = Vec::new();
    {
        let snapshot = gw.snapshot.load();
        let Ok(view) = super::view(&snapshot, session) else {
            return (Vec::new(), None);
        };
        for id in ids {
            if let Some(key) = gw.tasks.open_held(id, &session.principal.0) {
                held.push((key, id.to_string()));
                continue;
            }
            let Some((backend_id, own)) = gw.tasks.open(id, &session.principal.0) else {
                continue;
            };
            let Some(backend) = super::tasks::runner(view, &backend_id) else {
                continue;
            };
            let Ok(upstream) = backend.endpoints.primary().stateless_session() else {
                continue;
            };
            by_backend
                .entry(backend.id.clone())
                .or_insert_with(|| (upstream, Named::new()))
                .1
                .insert(own, id.to_string());
        }
    }
    let mut honoured: Vec<String> = held.iter().map(|(_, id)| id.clone()).collect();
    let mut streams = Vec::new();
    if !held.is_empty() {
        streams.push(super::held::follow(gw, held));
    }
    for (_, (upstream, named)) in by_backend {
        if let Some((acked, events)) = listen(&upstream, named).await {
            honoured.extend(acked);
            streams.push(events);
        }
    }
    let events = (!streams.is_empty()).then(|| futures::stream::select_all(streams).boxed());
    (honoured, events)
}

/// Listens to one backend for the tasks `named`: what it acknowledged (the
/// client's ids) and the statuses renamed for the client.
async fn listen(upstream: &Arc<UpstreamSession>, named: Named) -> Option<(Vec<String>, BoxStream<'static, Vec<u8>>)> {
    let own: Vec<String> = named.keys().map(|t| json_str(t)).collect();
    let filter = format!(r#"{{"taskIds":[{}]}}"#, own.join(","));
    let extensions = format!("{{{}:{{}}}}", json_str(EXTENSION));
    let mut events = match upstream.client.subscribe(upstream, &filter, &extensions).await {
        Ok(e) => e,
        Err(e) => {
            tracing::debug!(backend = %upstream.url, error = %e, "could not follow tasks");
            return None;
        }
    };
    let acked = tokio::time::timeout(ACK_WAIT, acknowledged(&mut events, &upstream.url))
        .await
        .ok()
        .flatten()?;
    let honoured: Vec<String> = acked.iter().filter_map(|t| named.get(t).cloned()).collect();
    let url = upstream.url.clone();
    let statuses = futures::stream::unfold(Some(events), move |events| {
        let url = url.clone();
        async move {
            let mut events = events?;
            match events.next_event(&url).await {
                Ok(Some(ev)) => Some((Some(ev.data), Some(events))),
                _ => None,
            }
        }
    })
    .filter_map(move |data| std::future::ready(data.and_then(|d| renamed(&d, &named))))
    .boxed();
    Some((honoured, statuses))
}

/// The task ids the backend's acknowledgement honours (the first message).
async fn acknowledged(events: &mut EventStream, url: &str) -> Option<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Ack {
        params: AckParams,
    }
    #[derive(serde::Deserialize)]
    struct AckParams {
        notifications: AckFilter,
    }
    #[derive(serde::Deserialize)]
    struct AckFilter {
        #[serde(rename = "taskIds", default)]
        task_ids: Vec<String>,
    }
    let ev = events.next_event(url).await.ok()??;
    serde_json::from_str::<Ack>(&ev.data)
        .ok()
        .map(|a| a.params.notifications.task_ids)
}

/// A backend's `notifications/tasks` about one of `named`, naming the task
/// as the client does; `None` for anything else.
fn renamed(msg: &str, named: &Named) -> Option<Vec<u8>> {
    let env = Envelope::parse(msg.as_bytes()).ok()?;
    if env.method.as_deref() != Some("notifications/tasks") {
        return None;
    }
    let params = RawObject::parse(env.params?.get()).ok()?;
    let own: CowStr<'_> = serde_json::from_str(params.get("taskId")?.get()).ok()?;
    let theirs = named.get(&*own)?;
    let params = params.to_string_with(&[("taskId", &json_str(theirs)), ("_meta", "")]);
    let obj = RawObject::parse(msg).ok()?;
    Some(obj.to_string_with(&[("params", &params)]).into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_is_renamed_for_the_client_and_others_are_dropped() {
        let named: Named = [("own-1".to_owned(), "mcpgw-task-x".to_owned())].into();
        let note = r#"{"jsonrpc":"2.0","method":"notifications/tasks","params":{"taskId":"own-1","status":"completed","_meta":{"io.modelcontextprotocol/subscriptionId":"listen"}}}"#;
        let out: serde_json::Value = serde_json::from_slice(&renamed(note, &named).unwrap()).unwrap();
        assert_eq!(out["params"]["taskId"], "mcpgw-task-x");
        assert_eq!(out["params"]["status"], "completed");
        assert!(
            out["params"].get("_meta").is_none(),
            "the backend's tag is not the client's"
        );
        let other = note.replace("own-1", "own-2");
        assert!(renamed(&other, &named).is_none());
        let list = r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#;
        assert!(renamed(list, &named).is_none());
    }
}
