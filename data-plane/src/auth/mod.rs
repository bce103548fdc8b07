//! Who is calling: JWT bearer tokens (HS256) for MCP clients, and the settings
//! every plane shares. The admin API adds HTTP Basic on top (control plane).

mod jwt;

use std::sync::Arc;

use axum::http::{HeaderMap, header};

pub use jwt::{Claims, Jwt};

use crate::error::{ErrorKind, McpError};

/// Context Forge's development defaults; a server holding any of them refuses
/// to bind a non-loopback address.
pub const DEFAULT_JWT_SECRET: &str = "my-test-key";
pub const DEFAULT_ENCRYPTION_SECRET: &str = "my-test-salt";

/// Auth settings shared by every mcpgw process (env names follow Context Forge).
#[derive(Clone, Debug, clap::Args)]
pub struct AuthArgs {
    /// HS256 secret that signs and verifies JWT bearer tokens.
    #[arg(long, env = "JWT_SECRET_KEY", default_value = DEFAULT_JWT_SECRET, hide_env_values = true)]
    pub jwt_secret_key: String,
    /// Require authentication on MCP and admin endpoints.
    #[arg(long, env = "AUTH_REQUIRED", default_value_t = true, action = clap::ArgAction::Set)]
    pub auth_required: bool,
    /// Secret that seals session ids; every data plane of a fleet needs the same.
    #[arg(long, env = "AUTH_ENCRYPTION_SECRET", default_value = DEFAULT_ENCRYPTION_SECRET, hide_env_values = true)]
    pub auth_encryption_secret: String,
    /// Whether this process may run stdio backends' commands (discovery on
    /// the control plane, the children on data planes). Default: only
    /// `mcpgw serve` listening on loopback.
    #[arg(long, env = "MCPGW_ALLOW_STDIO_BACKENDS", action = clap::ArgAction::Set)]
    pub allow_stdio_backends: Option<bool>,
}

impl AuthArgs {
    /// Names of settings still at their published default value.
    pub fn default_secrets(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.jwt_secret_key == DEFAULT_JWT_SECRET {
            v.push("JWT_SECRET_KEY");
        }
        if self.auth_encryption_secret == DEFAULT_ENCRYPTION_SECRET {
            v.push("AUTH_ENCRYPTION_SECRET");
        }
        v
    }
}

/// The authenticated caller of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal(pub Arc<str>);

impl Principal {
    pub fn anonymous() -> Self {
        Self(Arc::from("anonymous"))
    }
}

/// Checks MCP client credentials.
pub struct Authenticator {
    required: bool,
    jwt: Jwt,
}

impl Authenticator {
    pub fn new(args: &AuthArgs) -> Self {
        Self {
            required: args.auth_required,
            jwt: Jwt::new(&args.jwt_secret_key),
        }
    }

    pub fn jwt(&self) -> &Jwt {
        &self.jwt
    }

    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, McpError> {
        if !self.required {
            return Ok(Principal::anonymous());
        }
        let unauthorized = |m: String| McpError::new(ErrorKind::Unauthorized, m);
        let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
            unauthorized(
                "Missing bearer token: send `Authorization: Bearer <JWT>` (mint one with `mcpgw token --username NAME`)".into(),
            )
        })?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .ok_or_else(|| unauthorized("The Authorization header must be `Bearer <JWT>`".into()))?;
        let claims = self.jwt.verify(token.trim()).map_err(|e| unauthorized(e.to_string()))?;
        Ok(Principal(Arc::from(claims.sub)))
    }
}
