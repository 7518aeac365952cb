//! The UDP datagram decoder: never panics; an accepted datagram re-encodes to itself.
#![no_main]

use doip_proto::{DatagramDecoder, HeaderPolicy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for policy in [HeaderPolicy::udp(), HeaderPolicy::udp().with_unknown_payload_types(true)] {
        match DatagramDecoder::new(policy).decode(data) {
            Ok(frame) => {
                let mut out = Vec::new();
                frame.encode(&mut out).expect("a decoded frame encodes");
                assert_eq!(out, data);
            }
            Err(e) => assert!(e.nack_code().is_some(), "a refused datagram names a NACK: {e}"),
        }
    }
});
