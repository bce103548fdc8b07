//! A stateless backend's input rounds answered for a client of an earlier
//! era (modern backend → legacy client): the backend answers a call, a
//! prompt or a read with `input_required`; the gateway puts each of its
//! `inputRequests` to the client as a real request on the call's stream
//! (under ids that name the round, see `session::asked`), waits for all the
//! answers (which may reach any node, see `inputs::asking`), and calls the
//! backend again with them as `inputResponses` and the backend's own
//! `requestState`, byte for byte; until the backend gives its result. The
//! client sees one call: its progress, the gateway's requests, the result.
//!
//! Every round waits within one deadline for the whole call (the hold time
//! of input rounds, `MCPGW_INPUT_TTL`), a call has at most [`MAX_ROUNDS`],
//! and the client's cancel or departure ends it between rounds as during
//! one.

use std::{collections::BTreeMap, sync::Arc};

use futures::{StreamExt, stream::BoxStream};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use super::{Forward, Reply, relay::passing};
use crate::{
    Gateway,
    error::{ErrorKind, McpError},
    jsonrpc::{self, CowStr, Envelope, Message, json_str},
    routing::{BackendRoute, params::ParamHeader},
    session::{Session, calls::CallGuard},
};

/// Most rounds one call may ask before the gateway gives up on it.
const MAX_ROUNDS: usize = 32;
/// Most input requests one round may hold.
const MAX_INPUTS: usize = 32;

/// What a round the gateway answered sends the backend.
pub struct Answered<'r> {
    /// The backend's `requestState`, raw JSON, if it gave one.
    pub state: Option<&'r str>,
    /// `inputResponses`, a raw JSON object.
    pub responses: &'r str,
}

/// Everything the next round's request is made of, owned: the call goes
/// on after the handler that parsed it returned.
pub struct Again {
    gw: Arc<Gateway>,
    session: Session,
    client_id: Box<RawValue>,
    backend: Arc<BackendRoute>,
    method: String,
    params: Box<RawValue>,
    via_header: Option<String>,
    mirrored: Option<Arc<[ParamHeader]>>,
    replace: Vec<(String, String)>,
    what: String,
}

impl Again {
    pub fn new(
        req: &Forward<'_>,
        gw: &Arc<Gateway>,
        session: &Session,
        client_id: &RawValue,
        backend: &Arc<BackendRoute>,
        replace: &[(&str, &str)],
        what: &(dyn std::fmt::Display + Sync),
    ) -> Self {
        let params = RawValue::from_string(req.params.to_string_with(&[])).expect("an object's members rejoined");
        Self {
            gw: gw.clone(),
            session: session.clone(),
            client_id: client_id.to_owned(),
            backend: backend.clone(),
            method: req.method.to_owned(),
            params,
            via_header: req.via_header.map(str::to_owned),
            mirrored: req.mirrored.clone(),
            replace: replace
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            what: what.to_string(),
        }
    }

    fn fail(&self, e: McpError) -> Vec<u8> {
        e.with_id(Some(&self.client_id)).body()
    }

    /// Relays `reply` (a round's answer) to `out`, then asks the client and
    /// calls the backend again while the backend asks for input.
    async fn run(self, mut reply: BoxStream<'static, Vec<u8>>, out: mpsc::Sender<Vec<u8>>) {
        let deadline = tokio::time::Instant::now() + self.gw.inputs.ttl;
        for _ in 0..=MAX_ROUNDS {
            let mut round = None;
            while let Some(msg) = reply.next().await {
                if asks(&msg) {
                    round = Some(msg);
                    break;
                }
                if out.send(msg).await.is_err() {
                    return;
                }
            }
            let Some(round) = round else { return };
            // The round's relay ends here, and with it its registration for
            // the client's cancel, before the next is registered.
            drop(reply);
            let next = match self.ask(&round, deadline, &out).await {
                Asked::Answered(next) => next,
                Asked::Failed(e) => {
                    let _ = out.send(self.fail(e)).await;
                    return;
                }
                Asked::Gone => return,
            };
            reply = match next.await {
                Ok(Reply::Stream(s)) => s,
                Ok(Reply::Message(m)) => futures::stream::once(async { m }).boxed(),
                Ok(Reply::Accepted) => return,
                Err(e) => futures::stream::once(async move { e }).map(|e| self.fail(e)).boxed(),
            };
        }
        let e = McpError::new(
            ErrorKind::BackendProtocol,
            format!(
                "Backend '{}' asked for input more than {MAX_ROUNDS} times in one call; the gateway stopped it",
                self.backend.name
            ),
        );
        let _ = out.send(self.fail(e)).await;
    }

    /// Asks the client the round `msg` (the backend's `input_required`
    /// answer) and waits for all its answers: then the backend's next
    /// round, to await.
    async fn ask<'s>(
        &'s self,
        msg: &[u8],
        deadline: tokio::time::Instant,
        out: &mpsc::Sender<Vec<u8>>,
    ) -> Asked<impl Future<Output = Result<Reply, McpError>> + 's> {
        let round = match self.read(msg) {
            Ok(round) => round,
            Err(e) => return Asked::Failed(e),
        };
        let Some(mut waiting) = self.gw.inputs.asking.open(round.requests.len()) else {
            return Asked::Failed(McpError::new(
                ErrorKind::BackendUnavailable,
                "This gateway node waits on as many input rounds as it may; try again later",
            ));
        };
        for (key, request) in &round.requests {
            let id = self.gw.sessions.seal_round(&self.session.key, &waiting.id, key);
            let params = request.params.map_or("{}", RawValue::get);
            if out
                .send(jsonrpc::request(&json_str(&id), &request.method, Some(params)))
                .await
                .is_err()
            {
                return Asked::Gone;
            }
        }
        // Between rounds the client's cancel is the call's.
        let (_registered, mut cancelled) = CallGuard::register(&self.gw.calls, self.session.key, self.client_id.get());
        let mut answers: BTreeMap<&str, Box<RawValue>> = BTreeMap::new();
        while answers.len() < round.requests.len() {
            tokio::select! {
                replied = waiting.answers.recv() => {
                    let Some(replied) = replied else { return Asked::Gone };
                    let Some((key, request)) = round.requests.get_key_value(replied.key.as_str()) else {
                        continue;
                    };
                    match (replied.result, replied.error) {
                        (Some(result), _) => {
                            answers.insert(key, result);
                        }
                        (None, error) => {
                            let said = error.as_deref().map_or("", RawValue::get);
                            return Asked::Failed(McpError::new(
                                ErrorKind::InvalidRequest,
                                format!("The client refused the {} the backend '{}' asked for ({key}): {said}", &*request.method, self.backend.name),
                            ));
                        }
                    }
                }
                () = tokio::time::sleep_until(deadline) => {
                    return Asked::Failed(McpError::new(
                        ErrorKind::BackendTimeout,
                        format!(
                            "The client did not answer what backend '{}' asked for within {} s",
                            self.backend.name,
                            self.gw.inputs.ttl.as_secs()
                        ),
                    ));
                }
                Ok(()) = &mut cancelled => return Asked::Gone,
                () = out.closed() => return Asked::Gone,
            }
        }
        let mut responses = String::from("{");
        for (i, (key, result)) in answers.iter().enumerate() {
            if i > 0 {
                responses.push(',');
            }
            responses.push_str(&json_str(key));
            responses.push(':');
            responses.push_str(result.get());
        }
        responses.push('}');
        let state = round.state.map(|s| s.get().to_owned());
        Asked::Answered(async move {
            let answered = Answered {
                state: state.as_deref(),
                responses: &responses,
            };
            self.again(answered).await
        })
    }

    /// The backend's next round, with `answered`.
    async fn again(&self, answered: Answered<'_>) -> Result<Reply, McpError> {
        let req = Forward::parse(&self.method, Some(&self.params), self.via_header.as_deref())?
            .mirroring(self.mirrored.clone());
        let replace: Vec<(&str, &str)> = self.replace.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        req.send_round(
            &self.gw,
            &self.session,
            &self.client_id,
            &self.backend,
            &replace,
            &self.what,
            Some(answered),
        )
        .await
    }

    /// The round in the backend's answer `msg`, checked against what the
    /// client declared it answers.
    fn read<'m>(&self, msg: &'m [u8]) -> Result<Round<'m>, McpError> {
        let bad = |why: &str| {
            McpError::new(
                ErrorKind::BackendProtocol,
                format!("Backend '{}' asked for input in a round that {why}", self.backend.name),
            )
        };
        let result = Envelope::parse(msg)
            .ok()
            .and_then(|e| e.result)
            .ok_or_else(|| bad("is not a result"))?;
        let round: Round<'m> = serde_json::from_str(result.get()).map_err(|_| {
            bad("the gateway cannot read (inputRequests must map keys to requests, requestState be a string)")
        })?;
        if round.requests.is_empty() || round.requests.len() > MAX_INPUTS {
            return Err(bad(&format!(
                "asks {} inputs (1 to {MAX_INPUTS} may be asked)",
                round.requests.len()
            )));
        }
        if let Some(state) = round.state
            && !state.get().starts_with('"')
        {
            return Err(bad("has a requestState that is not a string"));
        }
        if let Some((_, r)) = round
            .requests
            .iter()
            .find(|(_, r)| !self.session.caps.answers(&r.method) || &*r.method == "ping")
        {
            return Err(bad(&format!(
                "asks for {}, which this client's session did not declare it answers",
                &*r.method
            )));
        }
        Ok(round)
    }
}

/// A round put to the client.
enum Asked<F> {
    /// All answered: the backend's next round.
    Answered(F),
    /// The call fails with this.
    Failed(McpError),
    /// The client cancelled or went away: nothing more to send.
    Gone,
}

#[derive(Deserialize)]
struct Round<'a> {
    #[serde(rename = "inputRequests", borrow)]
    requests: BTreeMap<&'a str, Request<'a>>,
    #[serde(rename = "requestState", borrow, default)]
    state: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow)]
    method: CowStr<'a>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
}

/// Whether `msg` is a backend's answer asking for input.
fn asks(msg: &[u8]) -> bool {
    // Cheap first: most messages are progress or the result.
    if !std::str::from_utf8(msg).is_ok_and(|t| t.contains("input_required")) {
        return false;
    }
    let Ok(env) = Envelope::parse(msg) else { return false };
    matches!(env.classify(), Ok(Message::Response { .. })) && env.result.is_some_and(passing::asks_input)
}

/// The client's reply to a call the gateway may answer rounds of: as it
/// is when the backend asked nothing; else the call goes on in a task that
/// asks the client, and the reply is what it sends.
pub fn rounds(first: Reply, again: Again) -> Reply {
    let first = match first {
        Reply::Message(m) if !asks(&m) => return Reply::Message(m),
        Reply::Message(m) => futures::stream::once(async { m }).boxed(),
        Reply::Stream(s) => s,
        Reply::Accepted => return Reply::Accepted,
    };
    let (out, sent) = mpsc::channel(16);
    tokio::spawn(again.run(first, out));
    Reply::Stream(tokio_stream::wrappers::ReceiverStream::new(sent).boxed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_response_asking_for_input_is_a_round() {
        let round = br#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required","inputRequests":{}}}"#;
        assert!(asks(round));
        assert!(!asks(
            br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"input_required"}]}}"#
        ));
        assert!(!asks(
            br#"{"jsonrpc":"2.0","method":"notifications/message","params":{"resultType":"input_required"}}"#
        ));
    }
}
