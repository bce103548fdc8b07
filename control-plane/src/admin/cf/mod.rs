//! Context Forge's request and response shapes, shared by the REST API and
//! by export and import (whose file format is Context Forge's too): what a
//! `ToolCreate` or `GatewayCreate` becomes here, and how items read back.

mod gateway;
pub mod reads;
pub mod shapes;

pub use gateway::{GatewayIn, transport_name};

/// What is wrong with a body in Context Forge's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShapeError {
    /// The request asks for something this gateway does not do.
    BadRequest(String),
    /// A field is missing or does not fit (`None`: the body as a whole).
    Invalid { field: Option<String>, msg: String },
}

impl ShapeError {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::BadRequest(msg.into())
    }

    pub fn invalid_body(field: Option<&str>, msg: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.map(str::to_owned),
            msg: msg.into(),
        }
    }
}

impl std::fmt::Display for ShapeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadRequest(m) | Self::Invalid { field: None, msg: m } => f.write_str(m),
            Self::Invalid {
                field: Some(field),
                msg,
            } => write!(f, "{field}: {msg}"),
        }
    }
}
