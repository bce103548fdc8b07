//! Context Forge's sealed `auth_value`: AES-256-GCM under SHA-256 of its
//! `AUTH_ENCRYPTION_SECRET`, base64url(nonce ‖ ciphertext), holding the
//! JSON object of headers it sends (`{"Authorization": "Bearer …"}`). An
//! import opens it to register the gateway with the same credentials.

use std::collections::HashMap;

use aes_gcm::{Aes256Gcm, KeyInit, Nonce, aead::Aead};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE},
};
use mcpgw_proto::v1::{self as pb, backend_credentials::Auth};
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 12;

/// Why an `auth_value` did not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CfAuthError {
    #[error(
        "its auth_value does not open with this AUTH_ENCRYPTION_SECRET; give the secret of the Context Forge that wrote the file as source_secret"
    )]
    Sealed,
    #[error("its auth_value holds no JSON object of headers")]
    NotHeaders,
}

/// The headers a Context Forge `auth_value` holds.
pub fn open(auth_value: &str, secret: &str) -> Result<HashMap<String, String>, CfAuthError> {
    let padded = format!("{auth_value}{}", "=".repeat((4 - auth_value.len() % 4) % 4));
    let raw = URL_SAFE.decode(padded).map_err(|_| CfAuthError::Sealed)?;
    if raw.len() <= NONCE_LEN {
        return Err(CfAuthError::Sealed);
    }
    let key = Sha256::digest(secret.as_bytes());
    let cipher = Aes256Gcm::new(&key);
    let (nonce, sealed) = raw.split_at(NONCE_LEN);
    let plain = cipher
        .decrypt(Nonce::from_slice(nonce), sealed)
        .map_err(|_| CfAuthError::Sealed)?;
    let headers: HashMap<String, serde_json::Value> =
        serde_json::from_slice(&plain).map_err(|_| CfAuthError::NotHeaders)?;
    headers
        .into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k, s)),
            _ => Err(CfAuthError::NotHeaders),
        })
        .collect()
}

/// The credentials those headers are: a lone `Authorization: Bearer` or
/// `Basic` header becomes that scheme (so it shows as one), anything else
/// stays headers.
pub fn credentials(auth_type: &str, mut headers: HashMap<String, String>) -> pb::BackendCredentials {
    let mut c = pb::BackendCredentials::default();
    let authorization = headers
        .keys()
        .find(|k| k.eq_ignore_ascii_case("authorization"))
        .cloned();
    if let Some(key) = authorization.filter(|_| headers.len() == 1) {
        let value = &headers[&key];
        if let Some(token) = value.strip_prefix("Bearer ").filter(|_| auth_type != "authheaders") {
            c.auth = Some(Auth::Bearer(pb::BearerAuth { token: token.into() }));
            return c;
        }
        let basic = value
            .strip_prefix("Basic ")
            .and_then(|b| STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok());
        if let Some((username, password)) = basic.as_deref().and_then(|b| b.split_once(':')) {
            c.auth = Some(Auth::Basic(pb::BasicAuth {
                username: username.into(),
                password: password.into(),
            }));
            return c;
        }
    }
    c.headers = std::mem::take(&mut headers);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seals as Context Forge's `encode_auth` does.
    fn seal(headers: &serde_json::Value, secret: &str) -> String {
        let key = Sha256::digest(secret.as_bytes());
        let nonce = [7u8; NONCE_LEN];
        let mut out = nonce.to_vec();
        out.extend(
            Aes256Gcm::new(&key)
                .encrypt(Nonce::from_slice(&nonce), headers.to_string().as_bytes())
                .unwrap(),
        );
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
    }

    #[test]
    fn opens_what_context_forge_seals_and_maps_schemes() {
        let bearer = seal(&serde_json::json!({"Authorization": "Bearer t-1"}), "s");
        let c = credentials("bearer", open(&bearer, "s").unwrap());
        assert_eq!(c.auth, Some(Auth::Bearer(pb::BearerAuth { token: "t-1".into() })));
        assert_eq!(open(&bearer, "other"), Err(CfAuthError::Sealed));

        let basic = seal(&serde_json::json!({"Authorization": "Basic dTpwOnE="}), "s");
        let c = credentials("basic", open(&basic, "s").unwrap());
        assert_eq!(
            c.auth,
            Some(Auth::Basic(pb::BasicAuth {
                username: "u".into(),
                password: "p:q".into()
            }))
        );

        let headers = seal(&serde_json::json!({"X-Api-Key": "k", "X-Org": "o"}), "s");
        let c = credentials("authheaders", open(&headers, "s").unwrap());
        assert_eq!(c.auth, None);
        assert_eq!(c.headers.len(), 2);

        let not_headers = seal(&serde_json::json!(["x"]), "s");
        assert_eq!(open(&not_headers, "s"), Err(CfAuthError::NotHeaders));
        assert_eq!(open("@@", "s"), Err(CfAuthError::Sealed));
    }
}
