//! The control plane's one mapping from its errors to gRPC statuses.

use mcpgw_data_plane::upstream::UpstreamError;
use tonic::Status;

use crate::registry::RegistryError;

impl From<RegistryError> for Status {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::AlreadyExists(m) => Status::already_exists(m),
            RegistryError::NotFound(m) => Status::not_found(m),
            RegistryError::Invalid(m) => Status::invalid_argument(m),
            RegistryError::Db(e) => {
                tracing::error!(error = %e, "registry database error");
                Status::unavailable(format!("registry database error: {e}"))
            }
            RegistryError::Migrate(e) => Status::internal(format!("registry migration error: {e}")),
        }
    }
}

/// A backend that could not be discovered: unreachable is UNAVAILABLE (try
/// again later), anything that is not MCP is INVALID_ARGUMENT (fix the URL).
pub fn discovery_status(e: UpstreamError) -> Status {
    match e {
        UpstreamError::Unreachable { .. }
        | UpstreamError::Timeout { .. }
        | UpstreamError::Saturated { .. }
        | UpstreamError::TooManyOwned { .. } => Status::unavailable(format!("{e}; nothing was registered")),
        UpstreamError::Http { .. }
        | UpstreamError::NotMcp { .. }
        | UpstreamError::Rpc { .. }
        | UpstreamError::SessionExpired { .. } => {
            Status::invalid_argument(format!("not an MCP server: {e}; nothing was registered"))
        }
        UpstreamError::Credentials { .. } => Status::invalid_argument(format!("{e}; nothing was registered")),
    }
}
