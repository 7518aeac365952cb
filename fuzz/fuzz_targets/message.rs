//! `Frame::parse` over arbitrary bytes: never panics; every frame it accepts re-encodes to
//! the bytes it was parsed from.
#![no_main]

use doip_proto::Frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = data;
    while let Ok((frame, rest)) = Frame::parse(input) {
        let consumed = &input[..input.len() - rest.len()];
        let mut out = Vec::new();
        frame.encode(&mut out).expect("a parsed frame encodes");
        // The header is re-derived on encode, so only a valid inverse byte can match.
        if frame.header.has_valid_pattern() {
            assert_eq!(out, consumed);
        }
        input = rest;
    }
});
