//! Capture decoding against plain reading of the same bytes, side by side in one run.
//!
//! `read` copies the capture through a 1 MiB buffer, as `cat FILE > /dev/null` does from the
//! page cache; `decode` runs the whole reader (pcap records, Ethernet/IP/TCP, reassembly, DoIP
//! parsing) over the same bytes. The ratio of their throughputs is the figure `cargo xtask
//! bench` reports.

use std::hint::black_box;
use std::io::Read;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use doip_pcap::synth::{CaptureWriter, Format, diagnostic_session};
use doip_pcap::{DecodeOptions, decode_capture};

fn capture(c: &mut Criterion) {
    let mut out = CaptureWriter::new(Vec::new(), Format::Pcap).expect("in memory");
    diagnostic_session(&mut out, 32 << 20).expect("in memory");
    let file = out.into_inner();
    let mut g = c.benchmark_group("capture_32mib");
    g.throughput(Throughput::Bytes(file.len() as u64));
    g.sample_size(10);
    g.bench_function("read", |b| {
        let mut buf = vec![0u8; 1 << 20];
        b.iter(|| {
            let mut source = &file[..];
            let mut total = 0;
            while let Ok(n @ 1..) = source.read(&mut buf) {
                total += black_box(&buf[..n]).len();
            }
            total
        });
    });
    g.bench_function("decode", |b| {
        b.iter(|| {
            let mut messages = 0u64;
            let stats = decode_capture(&file[..], DecodeOptions::default(), |e| {
                black_box(&e);
                messages += 1;
            })
            .expect("valid capture");
            assert_eq!(stats.malformed, 0);
            messages
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    targets = capture
}
criterion_main!(benches);
