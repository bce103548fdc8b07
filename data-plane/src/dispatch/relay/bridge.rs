//! A 2026-07-28 client's call to a backend of an earlier era, whose
//! requests mid-call (sampling, elicitation, roots) become input rounds:
//! what the backend asks is gathered into one `input_required` result, the
//! call is held (see `inputs`), and the client's answers go back to the
//! backend as the responses to its requests.
//!
//! Each input request is named by `_meta["mcpgw/inputKey"]` of the
//! backend's request where it gives one (a backend that knows it sits
//! behind mcpgw can choose stable keys), else by the request's id. Answers
//! a client gives up front, on a first call without `requestState`, answer
//! the backend's requests of the same keys at once.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::{
    error::{ErrorKind, McpError},
    inputs::Answers,
    jsonrpc::{self, CowStr, RawObject, json_str},
};

/// The `_meta` member a backend's request may name its input key with.
const INPUT_KEY: &str = "mcpgw/inputKey";
/// Most requests one round asks; past it a backend's request is refused.
const MAX_ROUND: usize = 32;

/// One request of the backend, asked of the client in the current round.
pub struct Asked {
    pub key: String,
    /// The backend's id for it, raw: its answer goes back under it.
    pub id: Box<RawValue>,
    /// `{"method":…,"params":…}` as the client gets it, raw.
    pub request: String,
}

/// What a bridged call carries besides the relay.
pub struct Bridge {
    /// What each round's `requestState` is bound to.
    pub digest: [u8; 32],
    pub principal: std::sync::Arc<str>,
    /// Answers given before they were asked, by key.
    offered: Answers,
    /// Asked and not yet answered.
    pub round: Vec<Asked>,
    /// When the round is complete: a backend asking several things at once
    /// sends them within moments, and they go out in one round; a round
    /// gathers for ten times that at most.
    quiet_until: Option<Instant>,
    round_opened: Option<Instant>,
    gather: Duration,
    /// When the call was first held: all its rounds together wait at most
    /// the hold's time.
    first_held: Option<Instant>,
}

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow)]
    method: CowStr<'a>,
    #[serde(borrow)]
    params: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Params<'a> {
    #[serde(borrow, rename = "_meta")]
    meta: Option<Meta<'a>>,
}

#[derive(Deserialize)]
struct Meta<'a> {
    #[serde(borrow, rename = "mcpgw/inputKey")]
    key: Option<CowStr<'a>>,
}

impl Bridge {
    pub fn new(digest: [u8; 32], principal: std::sync::Arc<str>, offered: Answers, gather: Duration) -> Self {
        Self {
            digest,
            principal,
            offered,
            round: Vec::new(),
            quiet_until: None,
            round_opened: None,
            gather,
            first_held: None,
        }
    }

    /// How long the call may still be held, of `ttl` for all its rounds;
    /// `None` once that is spent.
    pub fn time_left(&mut self, ttl: Duration) -> Option<Duration> {
        let first = *self.first_held.get_or_insert_with(Instant::now);
        Some(ttl.saturating_sub(first.elapsed())).filter(|left| !left.is_zero())
    }

    /// Takes the backend's request `msg` (id `id`): what to answer the
    /// backend at once (the client's answer given up front, or a refusal),
    /// else `None` (it joins the round).
    pub fn ask(&mut self, msg: &str, id: &RawValue) -> Option<Vec<u8>> {
        let refuse = |why: &str| Some(McpError::new(ErrorKind::InvalidRequest, why).with_id(Some(id)).body());
        let Ok(req) = serde_json::from_str::<Request<'_>>(msg) else {
            return refuse("The gateway could not read this request to ask its client");
        };
        if self.round.len() >= MAX_ROUND {
            return refuse("Too many requests asked of the client at once (the gateway asks at most 32 per round)");
        }
        let named = req
            .params
            .and_then(|p| serde_json::from_str::<Params<'_>>(p.get()).ok())
            .and_then(|p| p.meta?.key)
            .map(|k| k.to_string())
            .filter(|k| !k.is_empty());
        let base = named.unwrap_or_else(|| match serde_json::from_str::<CowStr<'_>>(id.get()) {
            Ok(s) => s.to_string(),
            Err(_) => id.get().to_owned(),
        });
        if let Some(answer) = self.offered.remove(&base) {
            return Some(jsonrpc::response(id.get(), ("result", answer.get())));
        }
        let mut key = base.clone();
        let mut n = 1;
        while self.round.iter().any(|a| a.key == key) {
            n += 1;
            key = format!("{base}-{n}");
        }
        let params = req.params.map_or_else(|| "{}".to_owned(), without_key);
        let request = format!(r#"{{"method":{},"params":{params}}}"#, json_str(&req.method));
        self.round.push(Asked {
            key,
            id: id.to_owned(),
            request,
        });
        let now = Instant::now();
        let opened = *self.round_opened.get_or_insert(now);
        self.quiet_until = Some((now + self.gather).min(opened + self.gather * 10));
        None
    }

    /// Until when the round may still grow, if one is open.
    pub fn gathering_until(&self) -> Option<Instant> {
        self.quiet_until.filter(|_| !self.round.is_empty())
    }

    /// Answers the round's requests named in `answers` (the backend's
    /// responses, to send), keeping those not answered; answers given up
    /// front no longer apply. What remains asked goes out again at once.
    pub fn answer(&mut self, answers: &Answers) -> Vec<Vec<u8>> {
        self.offered.clear();
        let mut responses = Vec::new();
        self.round.retain(|asked| match answers.get(&asked.key) {
            Some(answer) => {
                responses.push(jsonrpc::response(asked.id.get(), ("result", answer.get())));
                false
            }
            None => true,
        });
        self.quiet_until = Some(Instant::now());
        responses
    }

    /// The round's `inputRequests`, raw.
    pub fn input_requests(&self) -> String {
        let mut out = String::from("{");
        for (i, a) in self.round.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&json_str(&a.key));
            out.push(':');
            out.push_str(&a.request);
        }
        out.push('}');
        out
    }

    /// Ends the round: its requests are in the result the client got.
    pub fn close_round(&mut self) {
        self.quiet_until = None;
        self.round_opened = None;
    }
}

/// A request's params as the client gets them: without the gateway's own
/// `_meta` member (and without `_meta` if that was all it held).
fn without_key(params: &RawValue) -> String {
    let Ok(obj) = RawObject::parse(params.get()) else {
        return params.get().to_owned();
    };
    let Some(meta) = obj.get("_meta").and_then(|m| RawObject::parse(m.get()).ok()) else {
        return params.get().to_owned();
    };
    if meta.get(INPUT_KEY).is_none() {
        return params.get().to_owned();
    }
    let rest = meta.to_string_with(&[(INPUT_KEY, "")]);
    let rest = if rest == "{}" { "" } else { rest.as_str() };
    obj.to_string_with(&[("_meta", rest)])
}

/// The `input_required` answer to the client's request `client_id`.
pub fn input_required(client_id: &RawValue, input_requests: &str, state: &str) -> Vec<u8> {
    let result = format!(
        r#"{{"resultType":"input_required","inputRequests":{input_requests},"requestState":{}}}"#,
        json_str(state)
    );
    jsonrpc::result_response(client_id, &result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.into()).unwrap()
    }

    #[test]
    fn requests_are_keyed_by_their_name_or_id_and_answered_by_key() {
        let offered = Answers::from([("early".into(), raw(r#"{"a":1}"#))]);
        let mut b = Bridge::new([0; 32], "p".into(), offered, Duration::ZERO);
        let named = r#"{"jsonrpc":"2.0","id":7,"method":"elicitation/create","params":{"message":"?","_meta":{"mcpgw/inputKey":"user_name"}}}"#;
        assert!(b.ask(named, &raw("7")).is_none());
        assert!(
            b.ask(
                r#"{"jsonrpc":"2.0","id":"fx-1","method":"roots/list"}"#,
                &raw(r#""fx-1""#)
            )
            .is_none()
        );
        assert!(
            b.ask(
                r#"{"jsonrpc":"2.0","id":9,"method":"roots/list","params":{"_meta":{"mcpgw/inputKey":"user_name"}}}"#,
                &raw("9")
            )
            .is_none()
        );
        let keys: Vec<&str> = b.round.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, ["user_name", "fx-1", "user_name-2"]);
        let requests: serde_json::Value = serde_json::from_str(&b.input_requests()).unwrap();
        assert_eq!(requests["user_name"]["method"], "elicitation/create");
        assert_eq!(
            requests["user_name"]["params"],
            serde_json::json!({"message": "?"}),
            "the gateway's own key is not passed on"
        );
        assert_eq!(requests["fx-1"]["params"], serde_json::json!({}));
        // Given up front: answered at once, never asked.
        let early = b.ask(
            r#"{"jsonrpc":"2.0","id":3,"method":"roots/list","params":{"_meta":{"mcpgw/inputKey":"early"}}}"#,
            &raw("3"),
        );
        let early: serde_json::Value = serde_json::from_slice(&early.unwrap()).unwrap();
        assert_eq!(
            early,
            serde_json::json!({"jsonrpc": "2.0", "id": 3, "result": {"a": 1}})
        );
        let sent = b.answer(&Answers::from([
            ("fx-1".into(), raw(r#"{"roots":[]}"#)),
            ("stray".into(), raw("{}")),
        ]));
        assert_eq!(sent.len(), 1);
        let sent: serde_json::Value = serde_json::from_slice(&sent[0]).unwrap();
        assert_eq!(sent["id"], "fx-1");
        assert_eq!(b.round.len(), 2, "what was not answered stays asked");
    }
}
