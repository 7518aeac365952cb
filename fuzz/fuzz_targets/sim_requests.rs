//! The simulator's request handling: a fuzzer-chosen tester byte stream through the entity's
//! header policy and stream decoder, every diagnostic message handed to the built-in UDS
//! responder (sessions, DIDs, routines, downloads with block counters and CRC, resets).
//! Never panics; every answer is a positive response to the request's service or a
//! well-formed negative response, and the decoder stays within its buffer limit.
#![no_main]

use doip_proto::{HeaderPolicy, Message, StreamDecoder};
use doip_sim::{Responder, UdsHandler, UdsReply};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|stream: &[u8]| {
    let mut decoder = StreamDecoder::new(HeaderPolicy::tcp().with_max_payload_length(4 * 4096));
    let mut ecu = Responder::new(b"WDOIPRS0000000001");
    let mut rest = stream;
    while !rest.is_empty() {
        rest = &rest[decoder.push(rest)..];
        assert!(decoder.buffer_capacity() <= decoder.buffer_limit());
        while let Some(frame) = decoder.next_frame() {
            let Ok(frame) = frame else { continue };
            let Message::DiagnosticMessage(m) = frame.message else { continue };
            let Some(&sid) = m.user_data.first() else { continue };
            let answer = match ecu.handle(&m.user_data) {
                UdsReply::Respond(a)
                | UdsReply::Reset { response: a, .. }
                | UdsReply::Pending { response: a, .. } => a,
                _ => continue, // no answer (suppressed), or a future variant
            };
            match answer.as_slice() {
                [0x7F, s, _nrc] => assert_eq!(*s, sid),
                [positive, ..] => assert_eq!(*positive, sid.wrapping_add(0x40)),
                [] => panic!("empty answer to {sid:#04x}"),
            }
        }
    }
});
