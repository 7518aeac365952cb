//! The TCP stream decoder fed in fuzzer-chosen chunks under a fuzzer-chosen size limit:
//! never panics, never buffers beyond its limit, and yields the same results as one push.
#![no_main]

use arbitrary::Arbitrary;
use doip_proto::{HeaderPolicy, Message, StreamDecoder};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    max_payload_length: u16,
    accept_unknown: bool,
    chunk_sizes: Vec<u8>,
    stream: Vec<u8>,
}

fn decode(policy: &HeaderPolicy, stream: &[u8], sizes: &[u8]) -> Vec<Result<Message<'static>, doip_proto::Error>> {
    let mut decoder = StreamDecoder::new(policy.clone());
    let mut results = Vec::new();
    let mut sizes = sizes.iter().map(|&s| usize::from(s).max(1)).cycle();
    let mut rest = stream;
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(rest.len()).min(rest.len());
        let mut chunk = &rest[..n];
        rest = &rest[n..];
        while !chunk.is_empty() {
            chunk = &chunk[decoder.push(chunk)..];
            assert!(decoder.buffer_capacity() <= decoder.buffer_limit());
            while let Some(r) = decoder.next_frame() {
                results.push(r.map(|f| f.message.into_owned()));
            }
        }
    }
    results
}

fuzz_target!(|input: Input| {
    let policy = HeaderPolicy::tcp()
        .with_max_payload_length(u32::from(input.max_payload_length))
        .with_unknown_payload_types(input.accept_unknown);
    let split = decode(&policy, &input.stream, &input.chunk_sizes);
    let whole = decode(&policy, &input.stream, &[]);
    assert_eq!(split, whole);
});
