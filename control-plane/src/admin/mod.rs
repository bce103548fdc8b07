//! Admin APIs of the control plane.

pub mod auth;
pub mod grpc;
mod servers;
