//! A backend's secrets: the credentials every request to it carries and the
//! key of its client certificate. The control plane seals them with the
//! fleet's `AUTH_ENCRYPTION_SECRET` before they reach the registry; they
//! stay sealed in config snapshots, and only the node that calls the backend
//! opens them. Nothing here prints a secret: `Debug` shows what is set, not
//! its value.

use serde::{Deserialize, Serialize};

use crate::seal::Sealer;

/// What is sealed for one backend.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secrets {
    /// Static headers sent with every request, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
    /// PEM private key of the client certificate (mTLS to the backend).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_key_pem: String,
    /// A stdio backend's environment (API keys, mostly).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<(String, String)>,
}

/// How the gateway authenticates to a backend.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer { token: String },
    /// `Authorization: Basic base64(username:password)`.
    Basic { username: String, password: String },
    /// OAuth 2.0 client credentials (RFC 6749 §4.4): each node fetches a
    /// token from `token_url` and renews it before it expires.
    OauthClientCredentials {
        token_url: String,
        client_id: String,
        client_secret: String,
        #[serde(default)]
        scope: String,
    },
}

impl Auth {
    /// The scheme's name as APIs show it.
    pub fn scheme(&self) -> &'static str {
        match self {
            Auth::Bearer { .. } => "bearer",
            Auth::Basic { .. } => "basic",
            Auth::OauthClientCredentials { .. } => "oauth2_client_credentials",
        }
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Bearer { .. } => f.write_str("Bearer(..)"),
            Auth::Basic { username, .. } => write!(f, "Basic({username:?}, ..)"),
            Auth::OauthClientCredentials {
                token_url, client_id, ..
            } => write!(f, "OauthClientCredentials({token_url:?}, {client_id:?}, ..)"),
        }
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Secrets")
            .field("headers", &names)
            .field("auth", &self.auth)
            .field("client_key", &!self.client_key_pem.is_empty())
            .field("env", &self.env.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>())
            .finish()
    }
}

impl Secrets {
    pub fn is_empty(&self) -> bool {
        *self == Secrets::default()
    }
}

/// Why sealed secrets could not be opened.
#[derive(Debug, thiserror::Error)]
#[error(
    "the backend's sealed credentials do not open with this process's AUTH_ENCRYPTION_SECRET; every process of the fleet needs the secret they were stored with"
)]
pub struct OpenError;

/// Seals and opens backends' secrets; each sealed text is bound to its
/// backend's id, so it cannot be moved to another backend.
pub struct SecretBox(Sealer);

impl SecretBox {
    pub fn new(secret: &str) -> Self {
        Self(Sealer::new(secret, b"mcpgw backend secrets v1\0"))
    }

    /// The sealed text of `secrets` (empty for none).
    pub fn seal(&self, backend_id: &str, secrets: &Secrets) -> String {
        if secrets.is_empty() {
            return String::new();
        }
        let plain = serde_json::to_vec(secrets).expect("secrets serialize");
        self.0.seal(&plain, backend_id.as_bytes())
    }

    pub fn open(&self, backend_id: &str, sealed: &str) -> Result<Secrets, OpenError> {
        if sealed.is_empty() {
            return Ok(Secrets::default());
        }
        let plain = self.0.open(sealed, backend_id.as_bytes()).ok_or(OpenError)?;
        serde_json::from_slice(&plain).map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_for_their_backend_only_and_never_print() {
        let secrets = Secrets {
            headers: vec![("x-api-key".into(), "k-123".into())],
            auth: Some(Auth::Basic {
                username: "u".into(),
                password: "p-456".into(),
            }),
            client_key_pem: "KEY-789".into(),
            env: vec![("API_KEY".into(), "env-012".into())],
        };
        let b = SecretBox::new("fleet");
        let sealed = b.seal("b1", &secrets);
        for secret in ["k-123", "p-456", "KEY-789", "env-012"] {
            assert!(!sealed.contains(secret));
            assert!(!format!("{secrets:?}").contains(secret));
        }
        assert_eq!(b.open("b1", &sealed).unwrap(), secrets);
        assert!(b.open("b2", &sealed).is_err());
        assert!(SecretBox::new("other").open("b1", &sealed).is_err());
        assert_eq!(b.seal("b1", &Secrets::default()), "");
        assert!(b.open("b1", "").unwrap().is_empty());
    }
}
