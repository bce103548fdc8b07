use super::*;

#[test]
fn rewrites_one_member_and_keeps_every_other_byte() {
    let raw = r#"{"name":"fx-echo","arguments":{"b": [1, 2.50, "x"],"a":null},"x-ext":{"k":"v"}}"#;
    let obj = RawObject::parse(raw).unwrap();
    assert_eq!(obj.get("name").unwrap().get(), r#""fx-echo""#);
    let out = obj.to_string_with(&[("name", r#""echo""#)]);
    assert_eq!(
        out,
        r#"{"name":"echo","arguments":{"b": [1, 2.50, "x"],"a":null},"x-ext":{"k":"v"}}"#
    );
}

#[test]
fn appends_members_that_were_absent_and_reescapes_keys() {
    let obj = RawObject::parse(r#"{"we\"ird":1}"#).unwrap();
    assert_eq!(obj.to_string_with(&[("id", "7")]), r#"{"we\"ird":1,"id":7}"#);
}

#[test]
fn classifies_requests_notifications_and_responses() {
    let e = Envelope::parse(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).unwrap();
    assert!(matches!(e.classify(), Ok(Message::Request { method: "ping", .. })));
    let e = Envelope::parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
    assert!(matches!(e.classify(), Ok(Message::Notification { .. })));
    let e = Envelope::parse(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#).unwrap();
    assert!(matches!(e.classify(), Ok(Message::Response { .. })));
}

#[test]
fn rejects_bad_envelopes_with_a_reason() {
    let e = Envelope::parse(br#"{"id":1,"method":"ping"}"#).unwrap();
    assert_eq!(e.classify().unwrap_err(), EnvelopeError::Version);
    let e = Envelope::parse(br#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#).unwrap();
    assert_eq!(e.classify().unwrap_err(), EnvelopeError::Id);
    let e = Envelope::parse(br#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#).unwrap();
    assert_eq!(e.classify().unwrap_err(), EnvelopeError::Id);
    let e = Envelope::parse(br#"{"jsonrpc":"2.0","id":3}"#).unwrap();
    assert_eq!(e.classify().unwrap_err(), EnvelopeError::Shape);
}

#[test]
fn builds_responses_around_a_raw_id() {
    let e = Envelope::parse(br#"{"jsonrpc":"2.0","id":"abc","method":"ping"}"#).unwrap();
    let out = result_response(e.id.unwrap(), "{}");
    assert_eq!(out, br#"{"jsonrpc":"2.0","id":"abc","result":{}}"#);
}
