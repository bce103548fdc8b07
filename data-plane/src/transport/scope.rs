//! Which part of the gateway a request addresses: everything (`/mcp`, ...)
//! or one virtual server (`/servers/{id or name}/mcp`, ...). Resolved once,
//! here, for every transport: an unknown server is a 404 before anything
//! else happens.

use std::sync::Arc;

use axum::{
    extract::{FromRef, FromRequestParts, RawPathParams},
    http::request::Parts,
};

use crate::{
    Gateway,
    error::{ErrorKind, McpError},
};

/// The virtual server's id, or `None` for the whole gateway.
pub struct Scope(pub Option<Arc<str>>);

impl<S> FromRequestParts<S> for Scope
where
    Arc<Gateway>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = McpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let gw = Arc::<Gateway>::from_ref(state);
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| McpError::new(ErrorKind::Internal, "Could not read the request path"))?;
        let Some((_, key)) = params.iter().find(|(name, _)| *name == "server") else {
            return Ok(Self(None));
        };
        let snapshot = gw.snapshot.load();
        let id = snapshot.server_id(key).ok_or_else(|| {
            McpError::new(
                ErrorKind::NotFound,
                format!("Unknown virtual server {key:?}: ask the gateway operator for the server's id or name"),
            )
        })?;
        Ok(Self(Some(Arc::from(id))))
    }
}
