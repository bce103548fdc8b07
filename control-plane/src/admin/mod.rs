//! Admin APIs of the control plane.

pub mod auth;
mod backends;
mod cache;
mod connection;
pub mod grpc;
mod servers;
