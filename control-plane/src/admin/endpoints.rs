//! A backend's other endpoints (replicas): checked before they are stored,
//! as its URL is. Each must be an http(s) URL of its own that answers
//! `initialize` the way the backend's URL does, so a typo is refused at
//! registration rather than found by the circuit breaker under load.

use mcpgw_data_plane::upstream::{Dialect, Link};
use tonic::Status;

/// At most this many endpoints per backend (its URL included).
const MAX_ENDPOINTS: usize = 16;

/// Checks `endpoints` of backend `name` at `url`, reached over `transport`
/// at `protocol_version` (as discovery found them) with `link`'s client.
pub async fn check(
    name: &str,
    url: &str,
    transport: &str,
    protocol_version: &str,
    endpoints: &[String],
    link: &Link,
) -> Result<(), Status> {
    if endpoints.is_empty() {
        return Ok(());
    }
    if !matches!(transport, "streamable_http" | "sse") {
        return Err(Status::invalid_argument(format!(
            "endpoints are for Streamable HTTP and HTTP+SSE backends; backend {name:?} is {transport}"
        )));
    }
    if endpoints.len() + 1 > MAX_ENDPOINTS {
        return Err(Status::invalid_argument(format!(
            "a backend has at most {MAX_ENDPOINTS} endpoints, its URL included; {} were given",
            endpoints.len() + 1
        )));
    }
    for (i, e) in endpoints.iter().enumerate() {
        let uri: http::Uri = e
            .parse()
            .map_err(|err| Status::invalid_argument(format!("endpoint {e:?} is not a URL: {err}")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(Status::invalid_argument(format!(
                "endpoint {e:?} must be an http:// or https:// URL"
            )));
        }
        if e == url || endpoints[..i].contains(e) {
            return Err(Status::invalid_argument(format!(
                "endpoint {e:?} is given twice (the backend's url counts as its first endpoint)"
            )));
        }
    }
    for e in endpoints {
        link.client
            .probe(e, Dialect::of(transport == "sse", protocol_version))
            .await
            .map_err(|err| {
                Status::unavailable(format!(
                    "endpoint {e:?} of backend {name:?} did not answer initialize: {err}; nothing was written"
                ))
            })?;
    }
    Ok(())
}
