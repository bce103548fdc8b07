//! JSON-RPC 2.0 messages handled as raw JSON.
//!
//! The gateway parses only the envelope and the few fields routing needs
//! (method, id, `params.name`, `_meta.progressToken`) and rewrites those; every
//! other byte of a message passes through untouched, so unknown fields,
//! extensions and future methods survive the gateway.

use std::{borrow::Cow, fmt};

use serde::{
    Deserialize, Deserializer,
    de::{self, MapAccess, Visitor},
};
use serde_json::value::RawValue;

/// A string borrowed from the input where it has no escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CowStr<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

impl std::ops::Deref for CowStr<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// A JSON object whose members stay raw, in their original order.
#[derive(Debug, Default)]
pub struct RawObject<'a>(pub Vec<(CowStr<'a>, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for RawObject<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawObject<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some((k, v)) = map.next_entry::<CowStr<'de>, &'de RawValue>()? {
                    members.push((k, v));
                }
                Ok(RawObject(members))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'a> RawObject<'a> {
    pub fn parse(raw: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(raw)
    }

    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(k, _)| &**k == key).map(|(_, v)| *v)
    }

    /// Writes the object with `replace`d members swapped for new raw JSON
    /// values (members not present are appended), every other member as it
    /// was. A replacement that is empty (never valid JSON) drops the member.
    pub fn write_with(&self, out: &mut Vec<u8>, replace: &[(&str, &str)]) {
        out.push(b'{');
        let mut first = true;
        let mut member = |out: &mut Vec<u8>, k: &str, v: &str| {
            if v.is_empty() {
                return;
            }
            if !std::mem::take(&mut first) {
                out.push(b',');
            }
            write_json_str(out, k);
            out.push(b':');
            out.extend_from_slice(v.as_bytes());
        };
        for (k, v) in &self.0 {
            let v = match replace.iter().find(|(rk, _)| *rk == &**k) {
                Some((_, nv)) => nv,
                None => v.get(),
            };
            member(out, k, v);
        }
        for (rk, nv) in replace {
            if self.get(rk).is_none() {
                member(out, rk, nv);
            }
        }
        out.push(b'}');
    }

    pub fn to_string_with(&self, replace: &[(&str, &str)]) -> String {
        let mut out = Vec::with_capacity(self.0.iter().map(|(k, v)| k.len() + v.get().len() + 4).sum::<usize>() + 16);
        self.write_with(&mut out, replace);
        // Only valid UTF-8 went in: the input was a &str and the keys were re-escaped.
        String::from_utf8(out).expect("JSON written from str is UTF-8")
    }
}

/// Appends `s` as a JSON string literal.
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(out, s).expect("writing a str to a Vec cannot fail");
}

/// A JSON string literal for `s`.
pub fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("a str always serializes")
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// The JSON-RPC envelope of one message; `params`, `result` and `error` stay raw.
#[derive(Debug, Deserialize)]
pub struct Envelope<'a> {
    #[serde(borrow, default)]
    pub jsonrpc: Option<CowStr<'a>>,
    /// `Some("null")` for an explicit null id, `None` when absent.
    #[serde(borrow, default, deserialize_with = "present")]
    pub id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub method: Option<CowStr<'a>>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub error: Option<&'a RawValue>,
    /// The chain of gateways the HTTP request carrying this message names
    /// in its [`crate::protocol::VIA_HEADER`] (set by the transport; not
    /// part of the body).
    #[serde(skip)]
    pub via: Option<&'a str>,
    /// The W3C trace context headers of that HTTP request (set by the
    /// transport while tracing is on).
    #[serde(skip)]
    pub traceparent: Option<&'a str>,
    #[serde(skip)]
    pub tracestate: Option<&'a str>,
}

/// What a message is, from its envelope.
#[derive(Debug)]
pub enum Message<'e, 'a> {
    Request { id: &'a RawValue, method: &'e str },
    Notification { method: &'e str },
    Response { id: &'a RawValue },
}

/// Why an envelope is not a valid JSON-RPC 2.0 message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("\"jsonrpc\" must be \"2.0\"")]
    Version,
    #[error("\"id\" must be a string or a number")]
    Id,
    #[error("a message needs a \"method\" (request or notification) or a \"result\"/\"error\" (response)")]
    Shape,
}

impl<'a> Envelope<'a> {
    pub fn parse(raw: &'a [u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(raw)
    }

    pub fn classify(&self) -> Result<Message<'_, 'a>, EnvelopeError> {
        if self.jsonrpc.as_deref() != Some("2.0") {
            return Err(EnvelopeError::Version);
        }
        if let Some(id) = self.id
            && !matches!(id.get().as_bytes().first(), Some(b'"' | b'-' | b'0'..=b'9'))
        {
            return Err(EnvelopeError::Id);
        }
        match (&self.method, self.id) {
            (Some(m), Some(id)) => Ok(Message::Request { id, method: m }),
            (Some(m), None) => Ok(Message::Notification { method: m }),
            (None, Some(id)) if self.result.is_some() || self.error.is_some() => Ok(Message::Response { id }),
            _ => Err(EnvelopeError::Shape),
        }
    }
}

/// A complete JSON-RPC success response.
pub fn result_response(id: &RawValue, result: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(result.len() + id.get().len() + 32);
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id.get().as_bytes());
    out.extend_from_slice(b",\"result\":");
    out.extend_from_slice(result.as_bytes());
    out.push(b'}');
    out
}

/// A complete JSON-RPC request.
pub fn request(id: &str, method: &str, params: Option<&str>) -> Vec<u8> {
    message(Some(id), method, params)
}

/// A notification (no id).
pub fn notification(method: &str, params: Option<&str>) -> Vec<u8> {
    message(None, method, params)
}

fn message(id: Option<&str>, method: &str, params: Option<&str>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + params.map_or(0, str::len));
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",");
    if let Some(id) = id {
        out.extend_from_slice(b"\"id\":");
        out.extend_from_slice(id.as_bytes());
        out.push(b',');
    }
    out.extend_from_slice(b"\"method\":");
    write_json_str(&mut out, method);
    if let Some(p) = params {
        out.extend_from_slice(b",\"params\":");
        out.extend_from_slice(p.as_bytes());
    }
    out.push(b'}');
    out
}

/// A response under `id` (raw JSON) carrying `outcome`: `("result", raw)` or
/// `("error", raw)`.
pub fn response(id: &str, outcome: (&str, &str)) -> Vec<u8> {
    let mut out = Vec::with_capacity(40 + id.len() + outcome.1.len());
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id.as_bytes());
    out.push(b',');
    write_json_str(&mut out, outcome.0);
    out.push(b':');
    out.extend_from_slice(outcome.1.as_bytes());
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests;
