//! encode → decode over arbitrary typed messages is the identity.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| doip_fuzz_checks::round_trip(data));
