//! Admin APIs of the control plane.

pub mod auth;
mod backends;
mod cache;
pub mod cf;
mod connection;
mod endpoints;
pub mod grpc;
mod items;
pub mod peers;
pub mod rest;
mod servers;
pub mod traced;
pub mod transfer;
