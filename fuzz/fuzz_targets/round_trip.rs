//! encode → decode over arbitrary typed messages is the identity.
#![no_main]

use doip_proto::{Frame, Message, ProtocolVersion};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Message<'_>, u8)| {
    let (message, version) = input;
    // `Unknown` with a named payload type decodes as the typed message, by design.
    if let Message::Unknown { payload_type, .. } = &message {
        if payload_type.is_named() {
            return;
        }
    }
    let version = ProtocolVersion::from(version);
    let wire = message.to_bytes(version).expect("fuzzer payloads fit in 4 GiB");
    let (frame, rest) = Frame::parse(&wire).expect("an encoded message parses");
    assert!(rest.is_empty());
    assert_eq!(frame.header.version, version);
    assert_eq!(frame.message, message);
});
