//! doip-client against the in-process simulator, beside plain blocking TCP of the same frame
//! sizes against a plain in-process peer, in the same run (`cargo xtask bench` prints ratios).
//!
//! - `uds_round_trip`: TesterPresent 3E 00 → ACK (13 B) + 7E 00 (14 B).
//! - `flash_16mib`: RequestDownload, 16 MiB of TransferData in 4093-byte blocks, exit; the
//!   plain side sends frames of the same size stop-and-wait and reads the same 27-byte answers.

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use doip_client::{Client, ClientBuilder};
use doip_proto::LogicalAddress;
use doip_sim::{SimConfig, SimHandle, Simulator};

const ECU: LogicalAddress = LogicalAddress(0x4011);
const IMAGE: usize = 16 << 20;
const BLOCK: usize = 4093;

fn sim() -> SimHandle {
    let mut config = SimConfig::for_tests();
    config.identity.max_data_size = 1 << 20;
    Simulator::new(&config).expect("simulator").spawn().expect("thread")
}

fn client(sim: &SimHandle, tweak: impl FnOnce(ClientBuilder) -> ClientBuilder) -> Client {
    tweak(ClientBuilder::new(sim.tcp.ip(), ECU).tcp_port(sim.tcp.port()).udp_port(sim.udp.port()))
        .connect()
        .expect("connect")
}

/// A plain peer: reads `request` bytes, answers `answer` bytes in two writes (ACK, then
/// response), forever.
fn plain_peer(request: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            std::thread::spawn(move || {
                s.set_nodelay(true).expect("nodelay");
                let mut buf = vec![0u8; request];
                while s.read_exact(&mut buf).is_ok() {
                    if s.write_all(&[0u8; 13]).is_err() || s.write_all(&[0u8; 14]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn plain_client(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    s
}

/// A client configuration variant.
type Mode = fn(ClientBuilder) -> ClientBuilder;

fn round_trips(c: &mut Criterion) {
    let sim = sim();
    let mut g = c.benchmark_group("uds_round_trip");
    g.throughput(Throughput::Elements(1));
    let modes: [(&str, Mode); 3] = [
        ("doip_client", |b| b),
        ("doip_client_inline", |b| b.background(false)),
        ("doip_client_busy_poll", |b| b.busy_poll(Duration::from_millis(1))),
    ];
    for (name, tweak) in modes {
        let mut client = client(&sim, tweak);
        g.bench_function(name, |b| {
            b.iter(|| black_box(client.request(ECU, &[0x3E, 0x00]).expect("answer")));
        });
    }
    let mut plain = plain_client(plain_peer(14));
    let mut answer = [0u8; 27];
    g.bench_function("std_tcp", |b| {
        b.iter(|| {
            plain.write_all(&[0u8; 14]).expect("write");
            plain.read_exact(&mut answer).expect("read");
        });
    });
    g.finish();
}

fn flash(c: &mut Criterion) {
    let sim = sim();
    let image: Vec<u8> = (0..IMAGE).map(|i| (i * 31) as u8).collect();
    let mut g = c.benchmark_group("flash_16mib");
    g.throughput(Throughput::Bytes(IMAGE as u64));
    g.sample_size(10);
    let size = u32::try_from(IMAGE).expect("fits").to_be_bytes();
    let modes: [(&str, Mode); 2] = [
        ("doip_client", |b| b),
        ("doip_client_busy_poll", |b| b.busy_poll(Duration::from_millis(1))),
    ];
    for (name, tweak) in modes {
        let mut client = client(&sim, tweak);
        let mut block = Vec::with_capacity(BLOCK + 2);
        g.bench_function(name, |b| {
            b.iter(|| {
                let request = [&[0x34, 0x00, 0x44, 0, 0, 0, 0][..], &size].concat();
                assert_eq!(client.request(ECU, &request).expect("34")[0], 0x74);
                for (i, chunk) in image.chunks(BLOCK).enumerate() {
                    block.clear();
                    block.extend_from_slice(&[0x36, (i + 1) as u8]);
                    block.extend_from_slice(chunk);
                    let answer = client.request(ECU, &block).expect("36");
                    assert_eq!(answer[0], 0x76);
                }
                assert_eq!(client.request(ECU, &[0x37]).expect("37")[0], 0x77);
            });
        });
    }
    // The same frames, stop-and-wait, over plain TCP.
    let frame = 8 + 4 + 2 + BLOCK;
    let mut plain = plain_client(plain_peer(frame));
    let mut out = vec![0u8; frame];
    let mut answer = [0u8; 27];
    g.bench_function("std_tcp", |b| {
        b.iter(|| {
            for chunk in image.chunks(BLOCK) {
                out[14..14 + chunk.len()].copy_from_slice(chunk);
                plain.write_all(&out).expect("write");
                plain.read_exact(&mut answer).expect("read");
            }
        });
    });
    g.finish();
}

criterion_group! {
    name = uds;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    targets = round_trips, flash
}
criterion_main!(uds);
