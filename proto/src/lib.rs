//! The gRPC API of mcpgw: the admin `RegistryService` and the data-plane
//! `ConfigService`, generated from `proto/mcpgw/v1/*.proto`.

/// Generated types and services of package `mcpgw.v1`.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("mcpgw.v1");

    /// The encoded `FileDescriptorSet` of every mcpgw proto, for gRPC server
    /// reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/mcpgw_descriptor.bin"));
}
