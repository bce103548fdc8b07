//! HS256 JWTs: minting (`mcpgw token`, node credentials) and verification.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iat: u64,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
}

/// Why a token was refused, worded for the person holding it.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("Bearer token expired; mint a new one (`mcpgw token --username NAME`)")]
    Expired,
    #[error("Bearer token signature does not match this gateway's JWT_SECRET_KEY")]
    BadSignature,
    #[error("Bearer token is not a valid HS256 JWT: {0}")]
    Invalid(String),
}

pub struct Jwt {
    enc: EncodingKey,
    dec: DecodingKey,
    validation: Validation,
}

pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Jwt {
    pub fn new(secret: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_aud = false;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            enc: EncodingKey::from_secret(secret.as_bytes()),
            dec: DecodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    /// A token for `sub` valid for `ttl_secs`.
    pub fn mint(&self, sub: &str, ttl_secs: u64) -> String {
        let iat = now_secs();
        let claims = Claims {
            sub: sub.to_owned(),
            iat,
            exp: iat + ttl_secs,
            iss: Some("mcpgw".into()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.enc)
            .expect("HS256 signing of plain claims cannot fail")
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        jsonwebtoken::decode::<Claims>(token, &self.dec, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                _ => TokenError::Invalid(e.to_string()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_verify_and_others_do_not() {
        let jwt = Jwt::new("s3cret");
        let t = jwt.mint("alice", 60);
        assert_eq!(jwt.verify(&t).unwrap().sub, "alice");
        assert!(matches!(Jwt::new("other").verify(&t), Err(TokenError::BadSignature)));
        assert!(matches!(jwt.verify("not-a-jwt"), Err(TokenError::Invalid(_))));
        let claims = Claims {
            sub: "bob".into(),
            iat: 1,
            exp: 2,
            iss: None,
        };
        let old = jsonwebtoken::encode(&Header::default(), &claims, &EncodingKey::from_secret(b"s3cret")).unwrap();
        assert!(matches!(jwt.verify(&old), Err(TokenError::Expired)));
    }
}
