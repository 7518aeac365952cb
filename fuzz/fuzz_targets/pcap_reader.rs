//! The capture reader on fuzzer-chosen files: never panics, and every event it reports lies
//! within the packets it read (typed errors for broken files, `Malformed` for broken DoIP).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| doip_fuzz_checks::pcap_reader(data));
