//! The registry's own protobuf messages as proto3 JSON (camelCase fields,
//! enums by name, bytes in base64), read through the descriptors the API is
//! built from: what Context Forge's format cannot say goes into an export
//! readable and editable, not as opaque bytes.

use std::sync::LazyLock;

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use serde_json::Value;

static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(mcpgw_proto::v1::FILE_DESCRIPTOR_SET).expect("the API's own descriptors decode")
});

fn descriptor(name: &str) -> prost_reflect::MessageDescriptor {
    POOL.get_message_by_name(name)
        .unwrap_or_else(|| panic!("message {name} is in the API's descriptors"))
}

/// `msg` (of message type `name`, e.g. `mcpgw.v1.OwnedItem`) as JSON,
/// leaving out fields at their defaults.
pub fn to_json<M: Message>(msg: &M, name: &str) -> Value {
    let dynamic = DynamicMessage::decode(descriptor(name), msg.encode_to_vec().as_slice())
        .expect("a message decodes with its own descriptor");
    dynamic
        .serialize_with_options(serde_json::value::Serializer, &SerializeOptions::new())
        .expect("a message serializes to JSON")
}

/// A message of type `name` read from JSON, or why it does not fit.
pub fn from_json<M: Message + Default>(value: Value, name: &str) -> Result<M, String> {
    let dynamic = DynamicMessage::deserialize(descriptor(name), value).map_err(|e| e.to_string())?;
    M::decode(dynamic.encode_to_vec().as_slice()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use mcpgw_proto::v1 as pb;

    use super::*;

    #[test]
    fn a_request_survives_json_and_reads_as_proto_json() {
        let req = pb::CreateBackendRequest {
            name: "w".into(),
            url: "http://127.0.0.1:1/mcp".into(),
            transport: pb::BackendTransport::Sse.into(),
            cache_ttl_seconds: Some(0),
            grpc: Some(pb::GrpcServices {
                descriptor_set: vec![1, 2, 3],
                ..Default::default()
            }),
            ..Default::default()
        };
        let json = to_json(&req, "mcpgw.v1.CreateBackendRequest");
        assert_eq!(json["transport"], "BACKEND_TRANSPORT_SSE");
        assert_eq!(json["cacheTtlSeconds"], 0);
        assert_eq!(json["grpc"]["descriptorSet"], "AQID");
        let back: pb::CreateBackendRequest = from_json(json, "mcpgw.v1.CreateBackendRequest").unwrap();
        assert_eq!(back, req);
        let bad = from_json::<pb::CreateBackendRequest>(
            serde_json::json!({"transport": "NO_SUCH"}),
            "mcpgw.v1.CreateBackendRequest",
        );
        assert!(bad.unwrap_err().contains("NO_SUCH"));
    }
}
