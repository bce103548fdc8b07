//! OAuth 2.0 client credentials (RFC 6749 §4.4) for a backend: each node
//! fetches its own token, keeps it, and renews it before it expires.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use http::{HeaderValue, header};
use serde::Deserialize;

use crate::upstream::{error_chain, read_capped};

/// An OAuth 2.0 client-credentials token source: one token at a time per
/// backend per process, renewed by the first request that finds it due
/// (the others wait for that one fetch).
pub(super) struct OAuth {
    token_url: reqwest::Url,
    form: Vec<(&'static str, String)>,
    http: reqwest::Client,
    timeout: Duration,
    current: Mutex<Option<Token>>,
    renewing: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct Token {
    header: HeaderValue,
    renew_at: Instant,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// How long a token that states no lifetime is used before it is renewed.
const UNSTATED_LIFETIME: Duration = Duration::from_secs(300);
/// Largest token endpoint answer read.
const MAX_TOKEN_RESPONSE: usize = 64 * 1024;

impl OAuth {
    pub(super) fn new(
        token_url: reqwest::Url,
        form: Vec<(&'static str, String)>,
        http: reqwest::Client,
        timeout: Duration,
    ) -> Self {
        Self {
            token_url,
            form,
            http,
            timeout,
            current: Mutex::new(None),
            renewing: tokio::sync::Mutex::new(()),
        }
    }

    /// Drops the token (the backend refused it): the next request fetches one.
    pub(super) fn forget(&self) {
        self.current.lock().expect("poisoned").take();
    }

    fn valid(&self) -> Option<HeaderValue> {
        let current = self.current.lock().expect("poisoned");
        current
            .as_ref()
            .filter(|t| Instant::now() < t.renew_at)
            .map(|t| t.header.clone())
    }

    pub(super) async fn token(&self) -> Result<HeaderValue, String> {
        if let Some(h) = self.valid() {
            return Ok(h);
        }
        let _renewing = self.renewing.lock().await;
        if let Some(h) = self.valid() {
            return Ok(h);
        }
        let token = self.fetch().await?;
        let header = token.header.clone();
        *self.current.lock().expect("poisoned") = Some(token);
        Ok(header)
    }

    async fn fetch(&self) -> Result<Token, String> {
        // The lifetime counts from before the request: the token is renewed
        // before the endpoint's own clock says it expired.
        let asked = Instant::now();
        let mut res = self
            .http
            .post(self.token_url.clone())
            .header(header::ACCEPT, "application/json")
            .form(&self.form)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "the token endpoint {} is unreachable: {}",
                    self.token_url,
                    error_chain(&e)
                )
            })?;
        let status = res.status();
        let body = read_capped(&mut res, MAX_TOKEN_RESPONSE)
            .await
            .map_err(|e| error_chain(&e))?
            .ok_or_else(|| format!("the token endpoint's answer is over {MAX_TOKEN_RESPONSE} bytes"))?;
        if !status.is_success() {
            let excerpt: String = String::from_utf8_lossy(&body).chars().take(200).collect();
            return Err(format!(
                "the token endpoint answered HTTP {}: {excerpt}",
                status.as_u16()
            ));
        }
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| format!("the token endpoint's answer has no access_token: {e}"))?;
        let lifetime = parsed.expires_in.map_or(UNSTATED_LIFETIME, Duration::from_secs);
        let margin = (lifetime / 10).min(Duration::from_secs(30));
        let mut header = HeaderValue::from_str(&format!("Bearer {}", parsed.access_token))
            .map_err(|_| "the token endpoint's access_token is not a valid header value".to_owned())?;
        header.set_sensitive(true);
        Ok(Token {
            header,
            renew_at: asked + lifetime - margin,
        })
    }
}
