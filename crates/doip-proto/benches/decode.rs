//! Stream-decode throughput beside a plain memcpy of the same bytes, in the same run.
//!
//! Both sides take the stream in 64 KiB chunks, as a socket read would deliver it: the
//! decoder pushes each chunk and pulls every frame; the baseline copies each chunk into a
//! reused buffer. `cargo xtask bench` prints the ratios.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use doip_proto::{
    DiagnosticMessage, HeaderPolicy, LogicalAddress, Message, ProtocolVersion, StreamDecoder,
};

const CHUNK: usize = 64 * 1024;

fn stream(user_data: &[u8], count: usize) -> Vec<u8> {
    let message: Message<'_> =
        DiagnosticMessage::new(LogicalAddress(0x0E00), LogicalAddress(0x4010), user_data).into();
    let mut wire = Vec::with_capacity(count * message.encoded_len());
    for _ in 0..count {
        message.encode(ProtocolVersion::Iso2012, &mut wire).expect("small payload");
    }
    wire
}

fn decode_all(decoder: &mut StreamDecoder, wire: &[u8]) -> usize {
    let mut frames = 0;
    for chunk in wire.chunks(CHUNK) {
        let mut rest = chunk;
        while !rest.is_empty() {
            rest = &rest[decoder.push(rest)..];
            while let Some(frame) = decoder.next_frame() {
                black_box(frame.expect("valid frame"));
                frames += 1;
            }
        }
    }
    frames
}

fn copy_all(buffer: &mut [u8], wire: &[u8]) {
    for chunk in wire.chunks(CHUNK) {
        buffer[..chunk.len()].copy_from_slice(black_box(chunk));
        black_box(&mut *buffer);
    }
}

fn compare(c: &mut Criterion, group: &str, user_data: &[u8], count: usize, bytes: bool) {
    let wire = stream(user_data, count);
    let mut g = c.benchmark_group(group);
    g.throughput(if bytes {
        Throughput::Bytes(wire.len() as u64)
    } else {
        Throughput::Elements(count as u64)
    });
    let mut decoder = StreamDecoder::new(HeaderPolicy::tcp());
    assert_eq!(decode_all(&mut decoder, &wire), count);
    g.bench_function("doip_proto", |b| b.iter(|| decode_all(&mut decoder, &wire)));
    let mut buffer = vec![0u8; CHUNK];
    g.bench_function("memcpy", |b| b.iter(|| copy_all(&mut buffer, &wire)));
    g.finish();
}

fn benches(c: &mut Criterion) {
    // UDS TesterPresent (3E 00): a 14-byte frame.
    compare(c, "stream_decode_tester_present", &[0x3E, 0x00], 100_000, false);
    // 4 KiB of user data per frame.
    compare(c, "stream_decode_4k_diagnostic", &[0xA5; 4096], 1024, true);
}

criterion_group! {
    name = decode;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(decode);
