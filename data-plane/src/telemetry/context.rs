//! W3C trace context (`traceparent`, `tracestate`): read where a client put
//! it, written where a backend reads it.

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator},
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use serde_json::value::RawValue;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::jsonrpc::{CowStr, RawObject};

/// The trace context a client's message came with, as text: its
/// `params._meta` members, or its HTTP request's headers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Carried<'a> {
    pub traceparent: Option<&'a str>,
    pub tracestate: Option<&'a str>,
}

impl Extractor for Carried<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => self.traceparent,
            "tracestate" => self.tracestate,
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}

/// The context a message's client sent: `params._meta.traceparent` (with
/// its `tracestate`) when there is one, as the MCP conventions put it and
/// every transport carries it, else the HTTP request's `headers`; an empty
/// context (the request starts a trace) when neither parses.
pub fn parent(params: Option<&RawValue>, headers: Carried<'_>) -> Context {
    let meta = params
        .and_then(|p| RawObject::parse(p.get()).ok())
        .and_then(|p| p.get("_meta").and_then(|m| RawObject::parse(m.get()).ok()));
    let member = |key| -> Option<CowStr<'_>> {
        let raw = meta.as_ref()?.get(key)?;
        serde_json::from_str(raw.get()).ok()
    };
    let (traceparent, tracestate) = (member("traceparent"), member("tracestate"));
    let propagator = TraceContextPropagator::new();
    if let Some(traceparent) = traceparent.as_deref() {
        let from_meta = Carried {
            traceparent: Some(traceparent),
            tracestate: tracestate.as_deref(),
        };
        let cx = propagator.extract(&from_meta);
        if has_span(&cx) {
            return cx;
        }
    }
    propagator.extract(&headers)
}

fn has_span(cx: &Context) -> bool {
    use opentelemetry::trace::TraceContextExt;
    cx.span().span_context().is_valid()
}

/// A span's context as it goes to a backend: in HTTP headers and in
/// `params._meta`.
#[derive(Clone, Debug, Default)]
pub struct Propagated {
    pub traceparent: String,
    /// Empty when the trace carries none.
    pub tracestate: String,
}

impl Injector for Propagated {
    fn set(&mut self, key: &str, value: String) {
        match key {
            "traceparent" => self.traceparent = value,
            "tracestate" => self.tracestate = value,
            _ => {}
        }
    }
}

/// The current span's context for a backend, when tracing is on (else the
/// gateway adds nothing to what it forwards).
pub fn outgoing() -> Option<Propagated> {
    if !super::on() {
        return None;
    }
    let cx = tracing::Span::current().context();
    if !has_span(&cx) {
        return None;
    }
    let mut out = Propagated::default();
    TraceContextPropagator::new().inject_context(&cx, &mut out);
    (!out.traceparent.is_empty()).then_some(out)
}

/// Adds the current span's context to `headers` while tracing is on (a
/// REST or gRPC call's, which has no `_meta`).
pub fn add_current(headers: &mut http::HeaderMap) {
    let Some(trace) = outgoing() else {
        return;
    };
    for (name, value) in [("traceparent", trace.traceparent), ("tracestate", trace.tracestate)] {
        if let Ok(value) = http::HeaderValue::try_from(value)
            && !value.is_empty()
        {
            headers.insert(name, value);
        }
    }
}

/// `req` with `trace` in its `traceparent` and `tracestate` headers.
pub fn headers(req: reqwest::RequestBuilder, trace: Propagated) -> reqwest::RequestBuilder {
    let req = req.header("traceparent", trace.traceparent);
    match trace.tracestate.is_empty() {
        true => req,
        false => req.header("tracestate", trace.tracestate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TraceContextExt;

    const FROM_META: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const FROM_HEADER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn trace_of(cx: &Context) -> String {
        cx.span().span_context().trace_id().to_string()
    }

    #[test]
    fn meta_first_then_headers() {
        let headers = Carried {
            traceparent: Some(FROM_HEADER),
            tracestate: None,
        };
        let params =
            RawValue::from_string(format!(r#"{{"_meta":{{"traceparent":"{FROM_META}"}},"name":"x"}}"#)).unwrap();
        assert_eq!(
            trace_of(&parent(Some(&params), headers)),
            "0af7651916cd43dd8448eb211c80319c"
        );
        let plain = RawValue::from_string(r#"{"name":"x"}"#.into()).unwrap();
        assert_eq!(
            trace_of(&parent(Some(&plain), headers)),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        // A `_meta` value that is not a trace context falls back to the header.
        let bad = RawValue::from_string(r#"{"_meta":{"traceparent":"nonsense"}}"#.into()).unwrap();
        assert_eq!(
            trace_of(&parent(Some(&bad), headers)),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(!has_span(&parent(Some(&bad), Carried::default())));
    }
}
