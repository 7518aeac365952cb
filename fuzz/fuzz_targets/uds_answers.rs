//! UDS answers through doip-uds: describing never panics; decoders accept only their own service.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| doip_fuzz_checks::uds_answers(data));
