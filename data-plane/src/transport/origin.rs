//! `Origin` validation for every MCP endpoint (DNS-rebinding protection):
//! MCP requires servers to validate `Origin`, and 2025-11-25 says a foreign
//! one gets 403. Requests without `Origin` (non-browser clients) pass;
//! loopback origins pass; others only when listed in `ALLOWED_ORIGINS`.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{Uri, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{
    Gateway,
    error::{ErrorKind, McpError},
};

/// Whether a request with this `Origin` value may proceed.
pub fn allowed(origin: &str, allowed: &[String]) -> bool {
    if allowed
        .iter()
        .any(|a| a == "*" || a.trim_end_matches('/') == origin.trim_end_matches('/'))
    {
        return true;
    }
    let Ok(uri) = origin.parse::<Uri>() else { return false };
    match uri.host() {
        Some("localhost") => true,
        Some(h) => h
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

pub async fn check(State(gw): State<Arc<Gateway>>, req: Request, next: Next) -> Response {
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        if !allowed(origin, &gw.limits.allowed_origins) {
            let why = format!(
                "Origin {origin:?} is not allowed; add it to ALLOWED_ORIGINS to let browsers on it call this gateway"
            );
            return McpError::new(ErrorKind::Forbidden, why).into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::allowed;

    #[test]
    fn loopback_and_listed_origins_pass_others_do_not() {
        let listed = vec!["https://app.example.com".to_owned()];
        for ok in [
            "http://localhost:3000",
            "http://127.0.0.1",
            "http://[::1]:8080",
            "https://app.example.com",
        ] {
            assert!(allowed(ok, &listed), "{ok}");
        }
        for bad in [
            "http://evil.example",
            "https://app.example.com.evil.example",
            "null",
            "http://127.0.0.1.nip.io",
        ] {
            assert!(!allowed(bad, &listed), "{bad}");
        }
        assert!(allowed("http://anything.example", &["*".to_owned()]));
    }
}
