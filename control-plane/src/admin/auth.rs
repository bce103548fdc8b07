//! Admin API authentication: HTTP Basic (`BASIC_AUTH_USER` /
//! `BASIC_AUTH_PASSWORD`) or a JWT bearer signed with `JWT_SECRET_KEY`. Data
//! planes present a JWT of their own (subject `node:<id>`) on the config
//! stream.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::STANDARD};
use mcpgw_data_plane::auth::Jwt;
use tonic::{Request, Status, service::Interceptor};

#[derive(Clone)]
pub struct AdminAuth {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    user: String,
    password: String,
    jwt: Jwt,
}

/// Who passed the check; handlers that need more than "authenticated" (the
/// config stream) read it from the request's extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// Authentication is off.
    Anyone,
    /// HTTP Basic with the admin credentials.
    Admin,
    /// A JWT with this subject.
    Subject(String),
}

impl AdminAuth {
    pub fn new(required: bool, user: &str, password: &str, jwt_secret: &str) -> Self {
        Self {
            inner: required.then(|| {
                Arc::new(Inner {
                    user: user.to_owned(),
                    password: password.to_owned(),
                    jwt: Jwt::new(jwt_secret),
                })
            }),
        }
    }

    /// Who `header` (an `authorization` value) says the caller is.
    pub fn check(&self, header: Option<&str>) -> Result<Caller, Status> {
        let Some(inner) = &self.inner else {
            return Ok(Caller::Anyone);
        };
        let header = header.ok_or_else(|| {
            Status::unauthenticated(
                "missing credentials: send `authorization: Basic ...` or `authorization: Bearer <JWT>`",
            )
        })?;
        if let Some(b64) = header.strip_prefix("Basic ") {
            let decoded = STANDARD.decode(b64.trim()).ok().and_then(|d| String::from_utf8(d).ok());
            let ok = decoded
                .as_deref()
                .and_then(|d| d.split_once(':'))
                .is_some_and(|(u, p)| constant_time_eq(u, &inner.user) & constant_time_eq(p, &inner.password));
            return if ok {
                Ok(Caller::Admin)
            } else {
                Err(Status::unauthenticated("wrong username or password"))
            };
        }
        if let Some(token) = header.strip_prefix("Bearer ") {
            return inner
                .jwt
                .verify(token.trim())
                .map(|c| Caller::Subject(c.sub))
                .map_err(|e| Status::unauthenticated(e.to_string()));
        }
        Err(Status::unauthenticated(
            "the authorization header must be `Basic ...` or `Bearer <JWT>`",
        ))
    }
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Interceptor for AdminAuth {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        let caller = self.check(req.metadata().get("authorization").and_then(|v| v.to_str().ok()))?;
        req.extensions_mut().insert(caller);
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_and_bearer_are_accepted_and_wrong_ones_refused() {
        let auth = AdminAuth::new(true, "admin", "pw", "secret");
        let basic = format!("Basic {}", STANDARD.encode("admin:pw"));
        assert_eq!(auth.check(Some(&basic)).unwrap(), Caller::Admin);
        let wrong = format!("Basic {}", STANDARD.encode("admin:nope"));
        assert_eq!(
            auth.check(Some(&wrong)).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        let token = Jwt::new("secret").mint("ops", 60);
        assert_eq!(
            auth.check(Some(&format!("Bearer {token}"))).unwrap(),
            Caller::Subject("ops".into())
        );
        assert!(auth.check(Some("Bearer junk")).is_err());
        assert!(auth.check(None).is_err());
        assert_eq!(AdminAuth::new(false, "", "", "").check(None).unwrap(), Caller::Anyone);
    }
}
