//! Header parsing and validation under every policy shape: never panics, and a header that
//! parses re-encodes to the same 8 bytes.
#![no_main]

use doip_proto::{HeaderPolicy, ProtocolVersion, parse_header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((_, header)) = parse_header(data) else {
        assert!(data.len() < 8);
        return;
    };
    assert_eq!(header.to_bytes(), data[..8]);
    let max = data.get(8).map_or(4096, |&b| u32::from(b) << 8);
    for policy in [HeaderPolicy::tcp(), HeaderPolicy::udp()] {
        for policy in [
            policy.clone(),
            policy.clone().with_max_payload_length(max).with_unknown_payload_types(true),
            policy.with_supported_versions(&[ProtocolVersion::Iso2019]),
        ] {
            if let Err(e) = policy.validate(&header) {
                assert!(e.nack_code().is_some(), "a refused header names a NACK: {e}");
            }
        }
    }
});
