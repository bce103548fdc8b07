//! A slot's session over time: created on first use, listened on while it
//! is live (its standalone `GET` stream), renewed when the backend forgets
//! it, and subscribed again to what the session it replaces was.

use std::{sync::Arc, time::Duration};

use tokio::sync::mpsc;

use super::{Core, Outside, ResourceUpdated, Slot};
use crate::{
    error::{ErrorKind, McpError},
    jsonrpc::{self, Envelope, Message, RawObject},
    upstream::{EventStream, UpstreamError, UpstreamSession},
};

/// Longest pause between attempts to listen on a backend again.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The live session of a slot, initializing it if there is none.
/// Concurrent callers share one `initialize`. A new session subscribes to
/// what the one it replaces was subscribed to, and is listened on. Its
/// standalone stream is open before it is used: what a backend sends there
/// right after a call (a resource update just subscribed to, a request for
/// the client of its own session) must find the gateway listening.
pub(super) async fn session_of(core: &Arc<Core>, slot: &Arc<Slot>) -> Result<Arc<UpstreamSession>, UpstreamError> {
    let cell = slot.session.lock().expect("poisoned").clone();
    cell.get_or_try_init(|| async {
        let caps = slot.owner.map(|o| o.caps);
        let session = Arc::new(slot.link.client.initialize_as(&slot.link.url, caps).await?);
        if *slot.retired.borrow() && slot.owner.is_some() {
            // Ended while it was being opened: the backend need not keep it.
            let ended = session.clone();
            tokio::spawn(async move { ended.client.terminate(&ended).await });
        }
        resubscribe(slot, &session);
        let opened = session.client.listen(&session).await;
        listen(core.clone(), slot.clone(), session.clone(), opened);
        Ok(session)
    })
    .await
    .cloned()
}

/// Subscribes a new session to the slot's resources, in the background.
fn resubscribe(slot: &Slot, session: &Arc<UpstreamSession>) {
    let uris: Vec<String> = slot.subscribed.lock().expect("poisoned").iter().cloned().collect();
    if !uris.is_empty() {
        on_resources(session.clone(), "resources/subscribe", uris);
    }
}

/// Calls `method` (`resources/subscribe` or `unsubscribe`) for each of
/// `uris` in `session`, in the background.
pub(super) fn on_resources(session: Arc<UpstreamSession>, method: &'static str, uris: Vec<String>) {
    tokio::spawn(async move {
        for uri in uris {
            let params = format!(r#"{{"uri":{}}}"#, jsonrpc::json_str(&uri));
            if let Err(e) = session.client.call(&session, method, Some(&params)).await {
                tracing::warn!(backend = %session.url, %uri, error = %e, "{method} in a backend session failed");
            }
        }
    });
}

/// Listens on a session's standalone stream (`first`: its first opening)
/// while it is the live session of a slot in use: a stream that ends or
/// fails is opened again (with backoff), and a backend that forgot the
/// session gets a new one, which takes over. Ends for a backend that offers
/// no standalone stream, and when the session or its slot is replaced.
fn listen(core: Arc<Core>, slot: Arc<Slot>, session: Arc<UpstreamSession>, first: Result<EventStream, UpstreamError>) {
    tokio::spawn(async move {
        let mut first = Some(first);
        let mut retired = slot.retired.subscribe();
        let mut backoff = Duration::from_millis(250);
        loop {
            let listening = async {
                let opened = match first.take() {
                    Some(opened) => opened,
                    None => session.client.listen(&session).await,
                };
                let mut events = opened?;
                while let Ok(Some(ev)) = events.next_event(&session.url).await {
                    backoff = Duration::from_millis(250);
                    heard(&core, &slot, &session, ev.data).await;
                }
                Ok(())
            };
            let outcome = tokio::select! {
                outcome = listening => outcome,
                _ = retired.wait_for(|r| *r) => return,
            };
            match outcome {
                // A 404 is a forgotten session, or no standalone stream at
                // this URL: a ping in the session tells which.
                Err(UpstreamError::Http { status: 404, .. }) => {
                    if let Err(UpstreamError::SessionExpired { .. }) = session.client.call(&session, "ping", None).await
                    {
                        slot.forget(&session);
                        renew(&core, &slot, backoff).await;
                    }
                    return;
                }
                Err(UpstreamError::Http { status: 405, .. }) => return,
                Ok(()) | Err(_) => {}
            }
            if !core.serves(&slot, &session) {
                return;
            }
            back_off(&mut backoff).await;
        }
    });
}

/// One message from a backend's standalone stream. On the node's shared
/// session a resource update goes to the node's sessions and a request is
/// answered or refused ([`answer_shared`]). On a client's own session the
/// requests and log messages are the client's ([`Outside`]); resource
/// updates are not (subscriptions live on the shared session).
async fn heard(core: &Core, slot: &Slot, session: &Arc<UpstreamSession>, data: String) {
    let Some(owner) = slot.owner else {
        if let Some(uri) = updated_uri(data.as_bytes()) {
            let _ = core.updates.send(Arc::new(ResourceUpdated {
                backend_id: slot.backend_id.clone(),
                uri,
            }));
        } else if let Some(answer) = answer_shared(data.as_bytes()) {
            reply(session, answer).await;
        }
        return;
    };
    let Some(request) = for_the_client(data.as_bytes()) else {
        return;
    };
    if owner.is_pooled() {
        return for_the_lessee(slot, session, data, request).await;
    }
    let outside = Outside {
        owner,
        backend_id: slot.backend_id.clone(),
        session: session.clone(),
        message: data,
    };
    if core.outside.try_send(outside).is_err()
        && let Some((id, method)) = request
    {
        let why = format!("mcpgw could not pass {method} on to the client (too many are waiting)");
        reply(session, refusal(&id, &why)).await;
    }
}

/// A request on a leased session's standalone stream goes to the call in
/// flight there (see `lease`), which asks its client or refuses; one that
/// comes while no call is, or several are, is refused (a ping answered).
/// Log messages there are dropped: a 2026-07-28 client hears logs only on
/// its call's stream, when it asked.
async fn for_the_lessee(slot: &Slot, session: &UpstreamSession, data: String, request: Option<Request>) {
    let Some((id, method)) = request else {
        return;
    };
    let sent = match slot.lessees.lock().expect("poisoned").as_slice() {
        [(_, call)] => call.try_send(data).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => "too many of the backend's requests are waiting",
            mpsc::error::TrySendError::Closed(_) => "the call it was made during has ended",
        }),
        [] => Err("it came outside any call, and its client can be asked only during one"),
        _ => Err("several calls share this backend session now, so it cannot tell whose request this is"),
    };
    let Err(why) = sent else {
        return;
    };
    let answer = match method.as_str() {
        "ping" => jsonrpc::response(&id, ("result", "{}")),
        _ => refusal(
            &id,
            &format!("mcpgw could not pass {method} on to a 2026-07-28 client: {why}"),
        ),
    };
    reply(session, answer).await;
}

async fn reply(session: &UpstreamSession, answer: Vec<u8>) {
    if let Err(e) = session.deliver(answer).await {
        tracing::debug!(backend = %session.url, error = %e, "could not answer the backend");
    }
}

/// Waits `backoff`, and doubles it for next time (up to [`MAX_BACKOFF`]).
async fn back_off(backoff: &mut Duration) {
    tokio::time::sleep(*backoff).await;
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
}

/// Makes the slot a new session (which listens on its own), retrying while
/// the backend is down and nobody else has made one.
async fn renew(core: &Arc<Core>, slot: &Arc<Slot>, mut backoff: Duration) {
    loop {
        match session_of(core, slot).await {
            Ok(_) => return,
            Err(e) => tracing::debug!(backend = %slot.link.url, error = %e, "backend session not renewed yet"),
        }
        back_off(&mut backoff).await;
        if *slot.retired.borrow() || slot.session.lock().expect("poisoned").initialized() {
            return;
        }
    }
}

/// The answer to a request a backend sends on the standalone stream of the
/// node's shared session. That session serves only clients that declared
/// they answer nothing, so a `ping` is answered and anything else refused.
fn answer_shared(data: &[u8]) -> Option<Vec<u8>> {
    let env = Envelope::parse(data).ok()?;
    let Message::Request { id, method } = env.classify().ok()? else {
        return None;
    };
    Some(match method {
        "ping" => jsonrpc::result_response(id, "{}"),
        _ => refusal(
            id.get(),
            &format!("No client behind this gateway session can answer {method} (none declared it)"),
        ),
    })
}

fn refusal(id: &str, why: &str) -> Vec<u8> {
    let id = serde_json::value::RawValue::from_string(id.to_owned()).ok();
    McpError::new(ErrorKind::MethodNotFound, why)
        .with_id(id.as_deref())
        .body()
}

/// A request id and method as raw JSON and text.
type Request = (String, String);

/// Whether a message on a client's own session is for that client: a
/// request (`Some` with its id and method), or a log message (`None`
/// inside).
fn for_the_client(data: &[u8]) -> Option<Option<Request>> {
    let env = Envelope::parse(data).ok()?;
    match env.classify().ok()? {
        Message::Request { id, method } => Some(Some((id.get().to_owned(), method.to_owned()))),
        Message::Notification {
            method: "notifications/message",
        } => Some(None),
        _ => None,
    }
}

/// The URI of a `notifications/resources/updated` message.
pub(super) fn updated_uri(data: &[u8]) -> Option<String> {
    let env = Envelope::parse(data).ok()?;
    if env.method.as_deref() != Some("notifications/resources/updated") {
        return None;
    }
    let params = RawObject::parse(env.params?.get()).ok()?;
    serde_json::from_str(params.get("uri")?.get()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_session_answers_pings_refuses_requests_and_reads_updates() {
        let ping = answer_shared(br#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#).unwrap();
        assert_eq!(ping, br#"{"jsonrpc":"2.0","id":3,"result":{}}"#);
        let refused: serde_json::Value = serde_json::from_slice(
            &answer_shared(br#"{"jsonrpc":"2.0","id":"s","method":"sampling/createMessage"}"#).unwrap(),
        )
        .unwrap();
        assert_eq!(refused["id"], "s");
        assert_eq!(refused["error"]["code"], -32601);
        assert!(answer_shared(br#"{"jsonrpc":"2.0","method":"notifications/message"}"#).is_none());
        assert_eq!(
            updated_uri(br#"{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"a://b"}}"#)
                .as_deref(),
            Some("a://b")
        );
        assert_eq!(
            updated_uri(br#"{"jsonrpc":"2.0","method":"other","params":{"uri":"a://b"}}"#),
            None
        );
    }

    #[test]
    fn a_clients_own_session_passes_it_requests_and_logs_only() {
        let asked = for_the_client(br#"{"jsonrpc":"2.0","id":"q","method":"roots/list"}"#);
        assert_eq!(asked, Some(Some((r#""q""#.into(), "roots/list".into()))));
        let log = br#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}"#;
        assert_eq!(for_the_client(log), Some(None));
        let update = br#"{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"a://b"}}"#;
        assert_eq!(for_the_client(update), None);
        assert_eq!(for_the_client(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#), None);
    }
}
