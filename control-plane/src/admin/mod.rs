//! Admin APIs of the control plane.

pub mod auth;
mod backends;
mod connection;
pub mod grpc;
mod servers;
