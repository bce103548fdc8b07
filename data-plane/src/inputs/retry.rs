//! What a 2026-07-28 request carries for a multi-round call:
//! `params.inputResponses` (the client's result for each input request, by
//! key) and `params.requestState` (echoed as the gateway issued it).

use serde_json::value::RawValue;

use crate::{
    error::{ErrorKind, McpError},
    jsonrpc::{CowStr, RawObject},
};

/// The multi-round members of one request's params.
#[derive(Debug, Default)]
pub struct Retry<'a> {
    /// Key → the client's result for that input request, raw.
    pub responses: Vec<(CowStr<'a>, &'a RawValue)>,
    /// The `requestState` echoed, if any.
    pub state: Option<CowStr<'a>>,
}

impl<'a> Retry<'a> {
    /// The members of `params`, or `None` if it has neither; an error (for
    /// the client to fix) when they are not what the spec says.
    pub fn parse(params: &RawObject<'a>) -> Result<Option<Self>, McpError> {
        let invalid = |m: String| McpError::new(ErrorKind::InvalidParams, m);
        let (responses, state) = (params.get("inputResponses"), params.get("requestState"));
        if responses.is_none() && state.is_none() {
            return Ok(None);
        }
        let mut retry = Retry::default();
        if let Some(raw) = responses {
            let map = RawObject::parse(raw.get()).map_err(|_| {
                invalid(format!(
                    "params.inputResponses must be an object mapping each key of the inputRequests to the client's result for it, not {}",
                    short(raw.get())
                ))
            })?;
            for (key, value) in map.0 {
                if !value.get().starts_with('{') {
                    return Err(invalid(format!(
                        "params.inputResponses[{:?}] must be the result object of that input request (an ElicitResult, CreateMessageResult or ListRootsResult), not {}",
                        &*key,
                        short(value.get())
                    )));
                }
                retry.responses.push((key, value));
            }
        }
        if let Some(raw) = state {
            let s: CowStr<'a> = serde_json::from_str(raw.get()).map_err(|_| {
                invalid("params.requestState must be the string the input_required result gave, echoed exactly".into())
            })?;
            retry.state = Some(s);
        }
        Ok(Some(retry))
    }

    /// The answers, owned (for a call held on this node or another).
    pub fn answers(&self) -> super::Answers {
        self.responses
            .iter()
            .map(|(k, v)| (k.to_string(), (*v).to_owned()))
            .collect()
    }
}

/// The start of a JSON value, for an error message.
fn short(raw: &str) -> String {
    match raw.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &raw[..i]),
        None => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(params: &str) -> Result<Option<Retry<'_>>, McpError> {
        Retry::parse(&RawObject::parse(params).unwrap())
    }

    #[test]
    fn responses_and_state_are_read_and_bad_shapes_refused() {
        assert!(parse(r#"{"name":"x"}"#).unwrap().is_none());
        let r = parse(r#"{"inputResponses":{"a":{"action":"accept"}},"requestState":"s1"}"#)
            .unwrap()
            .unwrap();
        assert_eq!(&*r.responses[0].0, "a");
        assert_eq!(r.state.as_deref(), Some("s1"));
        for bad in [
            r#"{"inputResponses":null}"#,
            r#"{"inputResponses":[1]}"#,
            r#"{"inputResponses":{"a":12345}}"#,
            r#"{"requestState":7}"#,
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidParams, "{bad}");
        }
    }
}
