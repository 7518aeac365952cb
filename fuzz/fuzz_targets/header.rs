//! Header parsing and validation under every policy shape: never panics, and a header that
//! parses re-encodes to the same 8 bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| doip_fuzz_checks::header(data));
