//! Gateway-held tasks (see `tasks::held`): a 2026-07-28 client that
//! declares the Tasks extension calls a tool of a backend of an earlier
//! era. The call is relayed as always, but in the background: what it
//! answers within `MCPGW_TASK_AFTER_MS` (its result, an error, an input
//! round) goes back as it would without the extension; past that the
//! client gets a task of the gateway's and the call goes on. Its end, and
//! any input round the backend asks meanwhile (bridged as in `inputs`),
//! land in the task's record: `tasks/get` shows it, `tasks/update`
//! answers the round, `tasks/cancel` cancels the call at the backend.
//!
//! The node relaying the call holds the task. Its record is mirrored in
//! the fleet's Redis with a key that stays alive while the node does, so
//! `tasks/get` on any node reads it (and tells a task whose node stopped
//! from one still working); `tasks/update` and `tasks/cancel` on another
//! node reach the holder as notices, and every status change is told to
//! the fleet for listen streams following the task.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use futures::{StreamExt, stream::BoxStream};
use serde_json::value::RawValue;
use tokio::sync::oneshot;

use super::{Reply, forward::Forward, routed::Target};
use crate::{
    Gateway,
    error::{ErrorKind, McpError},
    fleet::Notice,
    inputs::{Answered, Answers, Call},
    jsonrpc::{self, CowStr, Envelope, RawObject, json_str},
    routing::Route,
    session::Session,
    tasks::held::{Key, Outcome, Pending, Record, Status, hex},
};

/// How often a node says its held tasks are still going, and how long the
/// fleet believes it.
const ALIVE_EVERY: Duration = Duration::from_secs(2);
const ALIVE_FOR: Duration = Duration::from_secs(6);

fn record_name(key: &Key) -> String {
    format!("task:{}", hex(key))
}

fn alive_name(key: &Key) -> String {
    format!("task-alive:{}", hex(key))
}

/// The id the held call goes upstream with in place of the client's.
fn internal_id(key: &Key) -> Box<RawValue> {
    RawValue::from_string(json_str(&format!("mcpgw-held-{}", hex(key)))).expect("a JSON string")
}

/// The call's first ending, for the request that made it while it waits.
type First = Arc<Mutex<Option<oneshot::Sender<Vec<u8>>>>>;

/// Cancels the call if the client's request goes away before the call
/// became a task.
struct AbortUnlessHeld(Option<tokio::task::AbortHandle>);

impl Drop for AbortUnlessHeld {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            h.abort();
        }
    }
}

/// `tools/call` of `route` (a backend of an earlier era) by a client that
/// declared the extension, `req` parsed from `params`: its answer, or a
/// task once it runs long (or `at_once`, for a tool that runs only as a
/// task).
#[allow(clippy::too_many_arguments)]
pub async fn call(
    gw: &Arc<Gateway>,
    session: &Session,
    id: &RawValue,
    req: &Forward<'_>,
    params: Option<&RawValue>,
    via: Option<&str>,
    route: Route,
    at_once: bool,
) -> Result<Reply, McpError> {
    let key: Key = rand::random();
    let (tx, mut first_rx) = oneshot::channel();
    let first: First = Arc::new(Mutex::new(Some(tx)));
    let params: Box<RawValue> = params
        .map(ToOwned::to_owned)
        .ok_or_else(|| McpError::new(ErrorKind::InvalidParams, "tools/call needs params"))?;
    // What the call's input rounds are bound to; the runner parses its
    // own copy of the params, which must outlive this request.
    let digest = req.digest();
    let runner = {
        let (gw, session, via, first) = (gw.clone(), session.clone(), via.map(str::to_owned), first.clone());
        tokio::spawn(async move {
            let internal = internal_id(&key);
            let name = route.name.clone();
            let target = Target("tool", &name);
            let reply = match Forward::parse("tools/call", Some(&params), via.as_deref()) {
                Ok(req) => {
                    req.of(&session)
                        .mirroring(route.param_headers.clone())
                        .send(
                            &gw,
                            &session,
                            &internal,
                            &route.backend,
                            &[("name", &json_str(&name))],
                            &target,
                        )
                        .await
                }
                Err(e) => Err(e),
            };
            drive(&gw, key, reply, Some(first)).await;
        })
    };
    let mut guard = AbortUnlessHeld(Some(runner.abort_handle()));
    let answered = |frame: Vec<u8>| Reply::Message(with_id(&frame, id));
    if !at_once {
        tokio::select! {
            frame = &mut first_rx => return frame.map(answered).map_err(|_| gone()),
            () = tokio::time::sleep(gw.held.after) => {}
        }
    }
    let Some(record) = gw.held.create(key, runner.abort_handle(), digest) else {
        // As many tasks as the node may hold: answered when it ends.
        return first_rx.await.map(answered).map_err(|_| gone());
    };
    if let Err(e) = gw
        .fleet
        .put_record(&record_name(&key), &record_json(&record), gw.held.ttl)
        .await
    {
        tracing::warn!(error = %e, "could not store a held task in the fleet's Redis; only this node knows it");
    }
    gw.fleet.renew([alive_name(&key)], ALIVE_FOR);
    if first.lock().expect("poisoned").take().is_none() {
        // It ended meanwhile: its answer goes back as it is.
        gw.held.forget(&key);
        return first_rx.await.map(answered).map_err(|_| gone());
    }
    guard.0 = None;
    let task_id = gw.tasks.seal_held(&session.principal.0, &key);
    tracing::debug!(task = %hex(&key), "a call of a backend of an earlier era became a held task");
    Ok(Reply::Message(jsonrpc::result_response(id, &record.created(&task_id))))
}

fn gone() -> McpError {
    McpError::new(ErrorKind::Internal, "The call ended without an answer")
}

fn record_json(record: &Record) -> String {
    serde_json::to_string(record).expect("a record serializes")
}

/// `frame`, a response to the held call's internal id, as the response to
/// the client's `id`.
fn with_id(frame: &[u8], id: &RawValue) -> Vec<u8> {
    match RawObject::parse(std::str::from_utf8(frame).unwrap_or_default()) {
        Ok(obj) => obj.to_string_with(&[("id", id.get())]).into_bytes(),
        Err(_) => frame.to_vec(),
    }
}

/// Reads the call's `reply` to its end: to the client's request while it
/// waits (`first`), else into the task's record.
async fn drive(gw: &Arc<Gateway>, key: Key, reply: Result<Reply, McpError>, first: Option<First>) {
    let internal = internal_id(&key);
    let frame = match reply {
        Err(e) => e.with_id(Some(&internal)).body(),
        Ok(Reply::Message(m)) => m,
        Ok(Reply::Stream(s)) => last_response(s).await.unwrap_or_else(|| {
            McpError::new(
                ErrorKind::BackendUnavailable,
                "The backend ended the call without an answer",
            )
            .with_id(Some(&internal))
            .body()
        }),
        Ok(Reply::Accepted) => McpError::new(ErrorKind::Internal, "The call was answered with nothing")
            .with_id(Some(&internal))
            .body(),
    };
    if let Some(first) = first
        && let Some(tx) = first.lock().expect("poisoned").take()
    {
        let _ = tx.send(frame);
        return;
    }
    settle(gw, key, &frame);
}

/// The response that ends a relayed stream (what comes before it, its
/// progress and logs, a task's client does not hear).
async fn last_response(mut s: BoxStream<'static, Vec<u8>>) -> Option<Vec<u8>> {
    while let Some(frame) = s.next().await {
        if Envelope::parse(&frame).is_ok_and(|e| e.method.is_none() && e.id.is_some()) {
            return Some(frame);
        }
    }
    None
}

/// Files the call's ending `frame` in the task's record: its result, its
/// error, or what it asks (the call then held for the answers).
fn settle(gw: &Arc<Gateway>, key: Key, frame: &[u8]) {
    let Ok(env) = Envelope::parse(frame) else {
        return fail(gw, key, "The backend's answer was not JSON-RPC");
    };
    let (status, outcome, pending) = match (env.result, env.error) {
        (_, Some(error)) => (Status::Failed, Outcome::Error(error.to_owned()), None),
        (Some(result), None) => match asks(gw, key, result) {
            Some((requests, pending)) => (Status::InputRequired, Outcome::Asks(requests), Some(pending)),
            None => (Status::Completed, Outcome::Result(result.to_owned()), None),
        },
        (None, None) => return fail(gw, key, "The backend's answer carried neither result nor error"),
    };
    change(gw, key, |e| {
        e.runner = None;
        e.pending = pending;
        e.record.set(status, outcome);
    });
}

/// What an `input_required` result asks and the call held for it.
fn asks(gw: &Gateway, key: Key, result: &RawValue) -> Option<(Box<RawValue>, Pending)> {
    let obj = RawObject::parse(result.get()).ok()?;
    if obj.get("resultType").map(RawValue::get) != Some(r#""input_required""#) {
        return None;
    }
    let requests = obj.get("inputRequests")?;
    let state: CowStr<'_> = serde_json::from_str(obj.get("requestState")?.get()).ok()?;
    let digest = held_digest(gw, &key)?;
    let call = match gw.inputs.open(&state, &digest).ok()?.call {
        Call::Held(call) => call,
        Call::Passed(_) => return None,
    };
    let asked = RawObject::parse(requests.get())
        .map(|r| r.0.iter().map(|(k, _)| k.to_string()).collect())
        .unwrap_or_default();
    Some((
        requests.to_owned(),
        Pending {
            call,
            asked,
            answers: Answers::new(),
        },
    ))
}

fn held_digest(gw: &Gateway, key: &Key) -> Option<[u8; 32]> {
    gw.held.change(key, |e| e.digest).map(|(d, _)| d)
}

fn fail(gw: &Arc<Gateway>, key: Key, why: &str) {
    let error = McpError::new(ErrorKind::Internal, why).error_object();
    change(gw, key, |e| {
        e.runner = None;
        e.pending = None;
        e.record.set(Status::Failed, Outcome::Error(error));
    });
}

/// Changes the task `key` this node holds and tells the fleet its new
/// record (a task that ended stays as it ended).
fn change(gw: &Arc<Gateway>, key: Key, f: impl FnOnce(&mut crate::tasks::held::Entry)) {
    if let Some(((), record)) = gw.held.change(&key, f) {
        publish(gw, key, &record);
    }
}

/// Tells the fleet the task `key` is now `record`: its listen streams hear
/// it, and its Redis stores it for `tasks/get` on other nodes.
fn publish(gw: &Arc<Gateway>, key: Key, record: &Record) {
    let json = record_json(record);
    gw.fleet.tell(Notice::TaskStatus {
        session: key,
        body: Bytes::from(json.clone()),
    });
    if gw.fleet.is_shared() {
        let gw = gw.clone();
        tokio::spawn(async move {
            if let Err(e) = gw.fleet.put_record(&record_name(&key), &json, gw.held.ttl).await {
                tracing::warn!(error = %e, task = %hex(&key), "could not store a held task's status in the fleet's Redis");
            }
        });
    }
}

/// A `tasks/*` request about a task the gateway holds.
pub async fn task(
    gw: &Arc<Gateway>,
    id: &RawValue,
    method: &str,
    task_id: &str,
    key: Key,
    req: &Forward<'_>,
) -> Result<Reply, McpError> {
    let unknown = || {
        McpError::new(
            ErrorKind::InvalidParams,
            format!(
                "Unknown task: {task_id:?} is no longer known to this gateway (it ended longer ago than its ttlMs)"
            ),
        )
    };
    let ack = || {
        Ok(Reply::Message(jsonrpc::result_response(
            id,
            r#"{"resultType":"complete"}"#,
        )))
    };
    let here = gw.held.holds(&key);
    match method {
        "tasks/get" => {
            let record = match gw.held.record(&key) {
                Some(r) => r,
                None => elsewhere(gw, &key).await?.ok_or_else(unknown)?,
            };
            Ok(Reply::Message(jsonrpc::result_response(id, &record.detailed(task_id))))
        }
        "tasks/cancel" => {
            if here {
                cancel(gw, key);
            } else {
                let record = elsewhere(gw, &key).await?.ok_or_else(unknown)?;
                if !record.status.is_terminal() {
                    gw.fleet.tell(Notice::TaskCancel { session: key });
                }
            }
            ack()
        }
        _ => {
            let answers = req
                .param("inputResponses")
                .map(|r| serde_json::from_str::<Answers>(r.get()))
                .transpose()
                .map_err(|e| {
                    McpError::new(
                        ErrorKind::InvalidParams,
                        format!("tasks/update needs params.inputResponses, an object of the answers by the keys the task's inputRequests named: {e}"),
                    )
                })?
                .unwrap_or_default();
            if here {
                update(gw, key, answers);
            } else {
                elsewhere(gw, &key).await?.ok_or_else(unknown)?;
                let body = serde_json::to_vec(&answers).expect("raw JSON serializes");
                gw.fleet.tell(Notice::TaskUpdate {
                    session: key,
                    body: body.into(),
                });
            }
            ack()
        }
    }
}

/// The record of a task another node holds, from the fleet's Redis: a task
/// still going whose node stopped saying so failed with it.
async fn elsewhere(gw: &Gateway, key: &Key) -> Result<Option<Record>, McpError> {
    let got = gw
        .fleet
        .records(&[record_name(key), alive_name(key)])
        .await
        .map_err(|e| {
            McpError::new(
                ErrorKind::BackendUnavailable,
                format!("Cannot read the task from the fleet's Redis: {e}"),
            )
        })?;
    let (Some(Some(json)), alive) = (got.first(), got.get(1).is_some_and(Option::is_some)) else {
        return Ok(None);
    };
    let Ok(mut record) = serde_json::from_str::<Record>(json) else {
        return Ok(None);
    };
    if !record.status.is_terminal() && !alive {
        let error = McpError::new(
            ErrorKind::BackendUnavailable,
            "The gateway node running this task stopped, and the call with it; call the tool again",
        )
        .error_object();
        record.set(Status::Failed, Outcome::Error(error));
    }
    Ok(Some(record))
}

/// Cancels the task `key` this node holds: its call, running or held for
/// input, is cancelled at the backend.
fn cancel(gw: &Arc<Gateway>, key: Key) {
    let mut pending = None;
    change(gw, key, |e| {
        if let Some(runner) = e.runner.take() {
            runner.abort();
        }
        pending = e.pending.take();
        e.record.set(Status::Cancelled, Outcome::None);
    });
    // Dropped: the backend is told.
    drop(pending.and_then(|p| gw.inputs.take(&p.call)));
}

/// Answers what the task `key` this node holds asks; once every key it
/// asked is answered, its call goes on.
fn update(gw: &Arc<Gateway>, key: Key, answers: Answers) {
    let ready = gw.held.change(&key, |e| {
        let pending = e.pending.as_mut()?;
        let before = pending.answers.len();
        for (k, v) in answers {
            if pending.asked.contains(&k) {
                pending.answers.insert(k, v);
            }
        }
        if pending.asked.iter().all(|k| pending.answers.contains_key(k)) {
            return Some(e.pending.take());
        }
        if pending.answers.len() == before {
            return None;
        }
        // Answered in part: it asks only what is left.
        let left = e.record.input_requests.as_deref().and_then(|asked| {
            let asked = RawObject::parse(asked.get()).ok()?;
            let drop: Vec<(&str, &str)> = pending.answers.keys().map(|k| (k.as_str(), "")).collect();
            RawValue::from_string(asked.to_string_with(&drop)).ok()
        });
        if let Some(left) = left {
            e.record.set(Status::InputRequired, Outcome::Asks(left));
        }
        Some(None)
    });
    let pending = match ready {
        Some((Some(Some(pending)), _)) => pending,
        Some((Some(None), record)) => return publish(gw, key, &record),
        _ => return,
    };
    let Some(call) = gw.inputs.take(&pending.call) else {
        return fail(
            gw,
            key,
            "The call waited for its input longer than the gateway holds it; call the tool again",
        );
    };
    let frames = call.resume(Answered {
        id: internal_id(&key),
        progress_token: None,
        answers: pending.answers,
    });
    let runner = {
        let gw = gw.clone();
        tokio::spawn(async move { drive(&gw, key, Ok(Reply::Stream(frames)), None).await })
    };
    let abort = runner.abort_handle();
    change(gw, key, |e| {
        e.runner = Some(abort);
        e.record.set(Status::Working, Outcome::None);
    });
}

/// What the fleet says about held tasks: on the node holding the task, a
/// cancel or answers another node took; on every node, a status change.
pub fn from_fleet(gw: &Arc<Gateway>, notice: Notice) {
    match notice {
        Notice::TaskCancel { session } if gw.held.holds(&session) => cancel(gw, session),
        Notice::TaskUpdate { session, body } if gw.held.holds(&session) => match serde_json::from_slice(&body) {
            Ok(answers) => update(gw, session, answers),
            Err(e) => tracing::warn!(error = %e, "ignored a held task's answers the fleet garbled"),
        },
        Notice::TaskStatus { session, body } => {
            if let Ok(json) = std::str::from_utf8(&body) {
                gw.held.heard(session, json.into());
            }
        }
        _ => {}
    }
}

/// Keeps this node's held tasks alive in the fleet, and forgets those past
/// their time to live, until the node stops.
pub fn keep_alive(gw: &Arc<Gateway>) {
    let gw = Arc::downgrade(gw);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(ALIVE_EVERY);
        loop {
            every.tick().await;
            let Some(gw) = gw.upgrade() else {
                return;
            };
            let going = gw.held.sweep();
            gw.fleet.renew(going.iter().map(alive_name), ALIVE_FOR);
        }
    });
}

/// The statuses of the held tasks `keys` (the client's id of each) as they
/// change, for a listen stream.
pub fn follow(gw: &Gateway, keys: Vec<(Key, String)>) -> BoxStream<'static, Vec<u8>> {
    let statuses = tokio_stream::wrappers::BroadcastStream::new(gw.held.statuses());
    statuses
        .filter_map(move |heard| {
            let note = heard.ok().and_then(|(key, json)| {
                let (_, id) = keys.iter().find(|(k, _)| *k == key)?;
                let record: Record = serde_json::from_str(&json).ok()?;
                Some(record.note(id))
            });
            std::future::ready(note)
        })
        .boxed()
}
