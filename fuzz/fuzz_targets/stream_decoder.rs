//! The TCP stream decoder fed in fuzzer-chosen chunks under a fuzzer-chosen size limit:
//! never panics, never buffers beyond its limit, and yields the same results as one push.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| doip_fuzz_checks::stream_decoder(data));
