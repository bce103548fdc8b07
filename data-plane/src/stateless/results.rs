//! What the stateless era requires of the answers: every result says its
//! `resultType` and names the server in `_meta`, cacheable results carry
//! `ttlMs` and `cacheScope`, and a log notification goes out only to a
//! request that asked for logs. The dispatch core's answers (and a
//! backend's, relayed) are rewritten here on their way out.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{SERVER_INFO, SERVER_INFO_KEY};
use crate::jsonrpc::{RawObject, json_str};

/// Results that are cacheable and must say for how long.
fn cacheable(method: &str) -> bool {
    matches!(
        method,
        "server/discover"
            | "tools/list"
            | "prompts/list"
            | "resources/list"
            | "resources/templates/list"
            | "resources/read"
    )
}

/// The cache hint the gateway gives where nobody gave one (the gateway's
/// own lists and `server/discover` carry theirs, a backend of the era its
/// own): not to be kept, and never shared across callers. That is a
/// resource read of a backend of an earlier era, which can change at any
/// moment and differ per caller.
const TTL_MS: &str = "0";
const SCOPE: &str = r#""private""#;

#[derive(Deserialize)]
struct Outgoing<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Option<&'a str>,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    error: Option<ErrorCode>,
}

#[derive(Deserialize)]
struct ErrorCode {
    code: i64,
}

/// One message as the stateless era sends it.
pub struct Rewritten {
    pub msg: Vec<u8>,
    /// An error response with one of the era's framing codes (-32020 to
    /// -32022), which HTTP answers with 400 when nothing was sent before.
    pub framing: bool,
}

/// One message of the answer to a request of `method`, as the stateless
/// era sends it; `None` when it must not be sent (a log notification the
/// request did not ask for, a request to the client). Read once.
pub fn rewrite(msg: Vec<u8>, method: &str, logs: bool) -> Option<Rewritten> {
    let as_is = |msg: Vec<u8>, framing: bool| Some(Rewritten { msg, framing });
    let Ok(out) = serde_json::from_slice::<Outgoing<'_>>(&msg) else {
        return as_is(msg, false);
    };
    match (out.id, out.method, out.result) {
        // A request to the client: this era has none.
        (Some(_), Some(_), _) => None,
        (None, Some("notifications/message"), _) if !logs => None,
        (Some(id), None, Some(result)) => {
            let msg = spliced(&msg, result, method)
                .unwrap_or_else(|| crate::jsonrpc::result_response(id, &complete(result.get(), method)));
            as_is(msg, false)
        }
        _ => {
            let framing = out.error.is_some_and(|e| (-32022..=-32020).contains(&e.code));
            as_is(msg, framing)
        }
    }
}

/// The common case of [`complete`] done in one copy of the message: a
/// result that is not cacheable and names neither `resultType` nor `_meta`
/// anywhere (a backend of an earlier era's call result, most often) gets
/// both written before its closing brace, the rest of the message kept as
/// it is; `None` for any other, which goes the long way. `result` must be
/// borrowed from `msg`.
fn spliced(msg: &[u8], result: &RawValue, method: &str) -> Option<Vec<u8>> {
    let r = result.get();
    if cacheable(method) || !r.starts_with('{') || r.contains("\"resultType\"") || r.contains("\"_meta\"") {
        return None;
    }
    let start = (r.as_ptr() as usize).checked_sub(msg.as_ptr() as usize)?;
    let close = start + r.len().checked_sub(1)?;
    if msg.get(close) != Some(&b'}') {
        return None;
    }
    let empty = r[1..r.len() - 1].trim().is_empty();
    let mut out = Vec::with_capacity(msg.len() + SERVER_INFO.len() + SERVER_INFO_KEY.len() + 48);
    out.extend_from_slice(&msg[..close]);
    if !empty {
        out.push(b',');
    }
    out.extend_from_slice(br#""_meta":{""#);
    out.extend_from_slice(SERVER_INFO_KEY.as_bytes());
    out.extend_from_slice(br#"":"#);
    out.extend_from_slice(SERVER_INFO.as_bytes());
    out.extend_from_slice(br#"},"resultType":"complete""#);
    out.extend_from_slice(&msg[close..]);
    Some(out)
}

/// `result` with what every result of the era carries added where it is
/// missing (a backend of the era gives its own `resultType` and hints,
/// which are kept).
pub fn complete(result: &str, method: &str) -> String {
    let Ok(obj) = RawObject::parse(result) else {
        return result.to_owned();
    };
    let meta = match obj.get("_meta").and_then(|m| RawObject::parse(m.get()).ok()) {
        Some(m) if m.get(SERVER_INFO_KEY).is_some() => m.to_string_with(&[]),
        Some(m) => m.to_string_with(&[(SERVER_INFO_KEY, SERVER_INFO)]),
        None => format!("{{{}:{SERVER_INFO}}}", json_str(SERVER_INFO_KEY)),
    };
    let mut add: Vec<(&str, &str)> = vec![("_meta", &meta)];
    let result_type = obj.get("resultType");
    if result_type.is_none() {
        add.push(("resultType", r#""complete""#));
    }
    // Only a complete result is cacheable (never an input round).
    if cacheable(method) && result_type.is_none_or(|t| t.get() == r#""complete""#) {
        if obj.get("ttlMs").is_none() {
            add.push(("ttlMs", TTL_MS));
        }
        if obj.get("cacheScope").is_none() {
            add.push(("cacheScope", SCOPE));
        }
    }
    obj.to_string_with(&add)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_gets_its_type_identity_and_hints_and_keeps_its_own() {
        let out = complete(r#"{"tools":[],"_meta":{"x":1}}"#, "tools/list");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["resultType"], "complete");
        assert_eq!(v["_meta"]["x"], 1);
        assert_eq!(v["_meta"][SERVER_INFO_KEY]["name"], "mcpgw");
        assert_eq!(v["ttlMs"], 0);
        assert_eq!(v["cacheScope"], "private");
        let own = complete(r#"{"resultType":"input_required","ttlMs":5}"#, "tools/call");
        let v: serde_json::Value = serde_json::from_str(&own).unwrap();
        assert_eq!(v["resultType"], "input_required");
        assert!(v.get("cacheScope").is_none(), "a call's result is not cacheable");
        let round = complete(
            r#"{"resultType":"input_required","requestState":"s"}"#,
            "resources/read",
        );
        let v: serde_json::Value = serde_json::from_str(&round).unwrap();
        assert!(v.get("ttlMs").is_none(), "an input round is never cacheable");
    }

    #[test]
    fn the_one_copy_path_writes_what_the_long_way_does() {
        for result in [
            r#"{"content":[{"type":"text","text":"hi"}]}"#,
            r#"{ }"#,
            r#"{"content":[],"isError":true}"#,
        ] {
            let msg = format!(r#"{{"jsonrpc":"2.0","id":7,"result":{result}}}"#);
            let fast = rewrite(msg.clone().into_bytes(), "tools/call", false).unwrap().msg;
            let fast: serde_json::Value = serde_json::from_slice(&fast).unwrap();
            let slow = crate::jsonrpc::result_response(
                RawValue::from_string("7".into()).unwrap().as_ref(),
                &complete(result, "tools/call"),
            );
            let slow: serde_json::Value = serde_json::from_slice(&slow).unwrap();
            assert_eq!(fast, slow, "{result}");
        }
        // What names either member anywhere goes the long way, and keeps
        // its own.
        let own = br#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"task","taskId":"t"}}"#;
        assert!(
            spliced(
                own,
                RawValue::from_string(r#"{"resultType":"task","taskId":"t"}"#.into())
                    .unwrap()
                    .as_ref(),
                "tools/call"
            )
            .is_none()
        );
        let out: serde_json::Value =
            serde_json::from_slice(&rewrite(own.to_vec(), "tools/call", false).unwrap().msg).unwrap();
        assert_eq!(out["result"]["resultType"], "task");
    }

    #[test]
    fn logs_go_out_only_when_asked_and_requests_never() {
        let log = br#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}"#;
        assert!(rewrite(log.to_vec(), "tools/call", false).is_none());
        assert!(rewrite(log.to_vec(), "tools/call", true).is_some());
        let ask = br#"{"jsonrpc":"2.0","id":3,"method":"sampling/createMessage","params":{}}"#;
        assert!(rewrite(ask.to_vec(), "tools/call", true).is_none());
        let progress = br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}"#;
        assert_eq!(
            rewrite(progress.to_vec(), "tools/call", false).unwrap().msg,
            progress.to_vec()
        );
        let framing = br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32021,"message":"x"}}"#;
        assert!(rewrite(framing.to_vec(), "tools/call", false).unwrap().framing);
        let other = br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"x"}}"#;
        assert!(!rewrite(other.to_vec(), "tools/call", false).unwrap().framing);
    }
}
