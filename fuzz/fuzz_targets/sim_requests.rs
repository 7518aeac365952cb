//! The simulator's request handling: a fuzzer-chosen tester byte stream through the entity's
//! header policy and stream decoder, every diagnostic message handed to the built-in UDS
//! responder (sessions, DIDs, routines, downloads with block counters and CRC, resets).
//! Never panics; every answer is a positive response to the request's service or a
//! well-formed negative response, and the decoder stays within its buffer limit.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| doip_fuzz_checks::sim_requests(data));
