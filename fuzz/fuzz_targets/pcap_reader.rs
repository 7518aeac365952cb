//! The capture reader on fuzzer-chosen files: never panics, and every event it reports lies
//! within the packets it read (typed errors for broken files, `Malformed` for broken DoIP).
#![no_main]

use doip_pcap::{CaptureReader, Content, DecodeOptions, decode_with};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|file: &[u8]| {
    let mut events = 0u64;
    let mut last_packet = 0u64;
    // A small buffer: records larger than it exercise the growth path too.
    let Ok(reader) = CaptureReader::with_buffer(file, 4096) else { return };
    let result = decode_with(reader, DecodeOptions::default(), |e| {
        events += 1;
        last_packet = last_packet.max(e.packet);
        if let Content::Message { header, message } = &e.content {
            assert_eq!(header.payload_type, message.payload_type());
        }
    });
    if let Ok(stats) = result {
        assert_eq!(stats.messages + stats.malformed + stats.tls_records, events);
        assert!(last_packet <= stats.packets);
    }
});
