//! A protobuf message as a JSON Schema, in the proto3 JSON mapping the
//! calls are transcoded with: fields by their JSON names, 64-bit integers
//! as numbers or strings, bytes as base64, enums by name, the well-known
//! types as their JSON forms.
//!
//! A message used by one field only is written in place. One used by
//! several fields (or by itself) is written once under `$defs`, keyed by
//! its full name, and referenced; the request message itself is `#`. So a
//! schema grows with the number of fields reachable, never with the paths
//! through them: a recursive message is described exactly, not cut at a
//! depth, and a tree of shared messages does not blow up.

use std::collections::HashMap;

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

/// The input schema of a method taking `message`.
pub fn of_message(message: &MessageDescriptor) -> Value {
    let mut uses = HashMap::new();
    count_uses(message.full_name(), message, &mut uses);
    let mut writer = Writer {
        root: message.full_name().to_owned(),
        uses,
        defs: Map::new(),
    };
    let mut schema = writer.body(message);
    if !writer.defs.is_empty()
        && let Value::Object(o) = &mut schema
    {
        o.insert("$defs".into(), Value::Object(writer.defs));
    }
    schema
}

/// The message a field's value is (a map's value for a map field), unless
/// it is a well-known type (written as its JSON form).
fn message_of(field: &FieldDescriptor) -> Option<MessageDescriptor> {
    let kind = if field.is_map() {
        match field.kind() {
            Kind::Message(entry) => entry.map_entry_value_field().kind(),
            _ => return None,
        }
    } else {
        field.kind()
    };
    match kind {
        Kind::Message(m) if well_known(m.full_name()).is_none() => Some(m),
        _ => None,
    }
}

/// How many fields of the messages reachable from `message` are of each
/// message type (each reachable message's fields counted once; `root`'s
/// are being counted already).
fn count_uses(root: &str, message: &MessageDescriptor, uses: &mut HashMap<String, usize>) {
    for field in message.fields() {
        if let Some(m) = message_of(&field) {
            let n = uses.entry(m.full_name().to_owned()).or_insert(0);
            *n += 1;
            if *n == 1 && m.full_name() != root {
                count_uses(root, &m, uses);
            }
        }
    }
}

struct Writer {
    root: String,
    uses: HashMap<String, usize>,
    defs: Map<String, Value>,
}

impl Writer {
    fn body(&mut self, message: &MessageDescriptor) -> Value {
        let mut properties = Map::new();
        for field in message.fields() {
            let schema = self.field(&field);
            properties.insert(field.json_name().to_owned(), schema);
        }
        json!({"type": "object", "properties": properties})
    }

    /// A field's value where it is used: in place, or a reference.
    fn message(&mut self, message: &MessageDescriptor) -> Value {
        if let Some(known) = well_known(message.full_name()) {
            return known;
        }
        let name = message.full_name();
        if name == self.root {
            return json!({"$ref": "#"});
        }
        if self.uses.get(name).copied().unwrap_or(0) < 2 {
            return self.body(message);
        }
        if !self.defs.contains_key(name) {
            // Reserved first: the body may refer back to it.
            self.defs.insert(name.to_owned(), Value::Null);
            let body = self.body(message);
            self.defs.insert(name.to_owned(), body);
        }
        json!({"$ref": format!("#/$defs/{name}")})
    }

    fn field(&mut self, field: &FieldDescriptor) -> Value {
        if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                return json!({"type": "object"});
            };
            let value = self.kind(&entry.map_entry_value_field().kind());
            return json!({"type": "object", "additionalProperties": value});
        }
        let one = self.kind(&field.kind());
        if field.is_list() {
            json!({"type": "array", "items": one})
        } else {
            one
        }
    }

    fn kind(&mut self, kind: &Kind) -> Value {
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
            Kind::Message(m) => self.message(m),
        }
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

#[cfg(test)]
mod tests {
    use prost::Message as _;
    use prost_reflect::DescriptorPool;
    use prost_types::{
        DescriptorProto, FieldDescriptorProto, FileDescriptorProto, FileDescriptorSet,
        field_descriptor_proto::{Label, Type},
    };

    use super::*;

    fn field(name: &str, number: i32, of: &str, repeated: bool) -> FieldDescriptorProto {
        FieldDescriptorProto {
            name: Some(name.into()),
            json_name: Some(name.into()),
            number: Some(number),
            label: Some(if repeated { Label::Repeated } else { Label::Optional } as i32),
            r#type: Some(if of.is_empty() { Type::String } else { Type::Message } as i32),
            type_name: (!of.is_empty()).then(|| format!(".t.{of}")),
            ..Default::default()
        }
    }

    /// A field: its name, its message type ("" for a string), whether it
    /// is repeated.
    type Field<'a> = (&'a str, &'a str, bool);

    /// A pool of messages `(name, fields)` in package `t`.
    fn pool(messages: &[(&str, &[Field])]) -> DescriptorPool {
        let file = FileDescriptorProto {
            name: Some("t.proto".into()),
            package: Some("t".into()),
            syntax: Some("proto3".into()),
            message_type: messages
                .iter()
                .map(|(name, fields)| DescriptorProto {
                    name: Some((*name).into()),
                    field: fields
                        .iter()
                        .enumerate()
                        .map(|(i, (f, of, rep))| field(f, i as i32 + 1, of, *rep))
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        DescriptorPool::decode(FileDescriptorSet { file: vec![file] }.encode_to_vec().as_slice()).expect("a pool")
    }

    #[test]
    fn a_recursive_message_is_described_exactly_and_stays_small() {
        // Before: cut at depth 8, each level twice the last (2^8 copies).
        let pool = pool(&[(
            "Node",
            &[
                ("name", "", false),
                ("left", "Node", false),
                ("right", "Node", false),
                ("children", "Node", true),
            ],
        )]);
        let schema = of_message(&pool.get_message_by_name("t.Node").unwrap());
        assert_eq!(schema["properties"]["left"], json!({"$ref": "#"}));
        assert_eq!(schema["properties"]["children"]["items"], json!({"$ref": "#"}));
        assert!(schema.get("$defs").is_none());
        assert!(schema.to_string().len() < 300, "{schema}");
    }

    #[test]
    fn shared_messages_are_defined_once_and_single_uses_are_in_place() {
        let pool = pool(&[
            (
                "Req",
                &[("a", "Pair", false), ("b", "Pair", false), ("only", "Once", false)],
            ),
            // Pair refers to itself through Leaf: a cycle not through the root.
            ("Pair", &[("x", "Leaf", false), ("y", "", false)]),
            ("Leaf", &[("up", "Pair", false)]),
            ("Once", &[("z", "", false)]),
        ]);
        let schema = of_message(&pool.get_message_by_name("t.Req").unwrap());
        let pair = json!({"$ref": "#/$defs/t.Pair"});
        assert_eq!(schema["properties"]["a"], pair);
        assert_eq!(schema["properties"]["b"], pair);
        assert_eq!(schema["properties"]["only"]["properties"]["z"]["type"], "string");
        let defs = schema["$defs"].as_object().expect("$defs");
        assert_eq!(defs.keys().collect::<Vec<_>>(), ["t.Pair"]);
        // Leaf is used once, so it is in place inside Pair, pointing back.
        assert_eq!(defs["t.Pair"]["properties"]["x"]["properties"]["up"], pair);
    }

    #[test]
    fn a_wide_tree_of_shared_messages_grows_with_its_fields_not_its_paths() {
        // Ten levels, each with four fields of the next: 4^10 paths.
        let names: Vec<String> = (0..=10).map(|i| format!("L{i}")).collect();
        let fields: Vec<Vec<(String, String)>> = (0..10)
            .map(|i| (0..4).map(|f| (format!("f{f}"), names[i + 1].clone())).collect())
            .collect();
        let owned: Vec<Vec<Field>> = fields
            .iter()
            .map(|fs| fs.iter().map(|(f, of)| (f.as_str(), of.as_str(), false)).collect())
            .collect();
        let mut messages: Vec<(&str, &[Field])> = (0..10).map(|i| (names[i].as_str(), owned[i].as_slice())).collect();
        messages.push(("L10", &[("leaf", "", false)]));
        let pool = pool(&messages);
        let schema = of_message(&pool.get_message_by_name("t.L0").unwrap());
        assert_eq!(schema["$defs"].as_object().unwrap().len(), 10);
        assert!(schema.to_string().len() < 4000, "{} bytes", schema.to_string().len());
    }
}
