//! A protobuf message as a JSON Schema, in the proto3 JSON mapping the
//! calls are transcoded with: fields by their JSON names, 64-bit integers
//! as numbers or strings, bytes as base64, enums by name, the well-known
//! types as their JSON forms. Recursive messages stop at [`MAX_DEPTH`].

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

/// Nesting past this is described as any object.
const MAX_DEPTH: usize = 8;

/// The input schema of a method taking `message`.
pub fn of_message(message: &MessageDescriptor) -> Value {
    message_schema(message, 0)
}

fn message_schema(message: &MessageDescriptor, depth: usize) -> Value {
    if let Some(known) = well_known(message.full_name()) {
        return known;
    }
    if depth >= MAX_DEPTH {
        return json!({"type": "object"});
    }
    let mut properties = Map::new();
    for field in message.fields() {
        properties.insert(field.json_name().to_owned(), field_schema(&field, depth));
    }
    json!({"type": "object", "properties": properties})
}

fn field_schema(field: &FieldDescriptor, depth: usize) -> Value {
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            return json!({"type": "object"});
        };
        let value = entry.map_entry_value_field();
        return json!({"type": "object", "additionalProperties": kind_schema(&value.kind(), depth + 1)});
    }
    let one = kind_schema(&field.kind(), depth + 1);
    if field.is_list() {
        json!({"type": "array", "items": one})
    } else {
        one
    }
}

fn kind_schema(kind: &Kind, depth: usize) -> Value {
    match kind {
        Kind::Double | Kind::Float => json!({"type": "number"}),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => json!({"type": "integer"}),
        Kind::Uint32 | Kind::Fixed32 => json!({"type": "integer", "minimum": 0}),
        // The JSON mapping writes 64-bit integers as strings, and reads both.
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => {
            json!({"type": ["integer", "string"]})
        }
        Kind::Bool => json!({"type": "boolean"}),
        Kind::String => json!({"type": "string"}),
        Kind::Bytes => json!({"type": "string", "contentEncoding": "base64"}),
        Kind::Enum(e) => {
            let names: Vec<String> = e.values().map(|v| v.name().to_owned()).collect();
            json!({"type": "string", "enum": names})
        }
        Kind::Message(m) => message_schema(m, depth),
    }
}

/// The JSON forms of the well-known types.
fn well_known(full_name: &str) -> Option<Value> {
    Some(match full_name {
        "google.protobuf.Timestamp" => json!({"type": "string", "format": "date-time"}),
        "google.protobuf.Duration" => json!({"type": "string", "description": "seconds with an s suffix, e.g. 1.5s"}),
        "google.protobuf.Struct" | "google.protobuf.Any" | "google.protobuf.Empty" => json!({"type": "object"}),
        "google.protobuf.Value" => json!({}),
        "google.protobuf.ListValue" => json!({"type": "array"}),
        "google.protobuf.FieldMask" => json!({"type": "string"}),
        "google.protobuf.StringValue" | "google.protobuf.BytesValue" => json!({"type": "string"}),
        "google.protobuf.BoolValue" => json!({"type": "boolean"}),
        "google.protobuf.DoubleValue" | "google.protobuf.FloatValue" => json!({"type": "number"}),
        "google.protobuf.Int32Value" | "google.protobuf.UInt32Value" => json!({"type": "integer"}),
        "google.protobuf.Int64Value" | "google.protobuf.UInt64Value" => json!({"type": ["integer", "string"]}),
        _ => return None,
    })
}
