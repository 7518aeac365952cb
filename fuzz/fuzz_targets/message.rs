//! `Frame::parse` over arbitrary bytes: never panics; every frame it accepts re-encodes to
//! the bytes it was parsed from.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| doip_fuzz_checks::message(data));
