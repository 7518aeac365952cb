//! The UDP datagram decoder: never panics; an accepted datagram re-encodes to itself.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| doip_fuzz_checks::datagram_decoder(data));
