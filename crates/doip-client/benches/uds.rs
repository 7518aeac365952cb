//! doip-client against the in-process simulator, beside plain blocking TCP of the same frame
//! sizes against a plain in-process peer, in the same run (`cargo xtask bench` prints ratios).
//!
//! - `uds_round_trip`: TesterPresent 3E 00 → ACK (13 B) + 7E 00 (14 B).
//! - `flash_16mib`: RequestDownload, 16 MiB of TransferData in 4093-byte blocks, exit; the
//!   plain side sends frames of the same size stop-and-wait and reads the same 27-byte answers.
//! - `eight_ecus`, `eight_ecus_1ms`: eight ECUs behind one connection of a [`Tester`], one
//!   request to each in flight at once vs the same eight one after another; the ECUs answer
//!   at once, or after 1 ms as real ones take at least.
//! - `uds_round_trip_loaded`: the round trip while two other threads keep both cores busy:
//!   busy-polling must back off there and not be slower than the default mode.

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

mod plain;
use plain::plain_peer;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use doip_client::{Client, ClientBuilder, EcuId, Tester};
use doip_proto::LogicalAddress;
use doip_sim::{EcuConfig, Faults, SimConfig, SimHandle, Simulator};

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

/// An entity with eight ECUs, 0x4010–0x4017, answering after `delay_ms`.
fn eight_ecu_sim(delay_ms: u64) -> SimHandle {
    let mut config = SimConfig::for_tests();
    config.ecus = (0..8)
        .map(|i| EcuConfig {
            name: format!("ecu{i}"),
            logical_address: format!("{:#06x}", 0x4010 + i),
            ..EcuConfig::default()
        })
        .collect();
    config.faults = Faults { response_delay_ms: delay_ms, ..Faults::default() };
    Simulator::new(&config).expect("simulator").spawn().expect("thread")
}

/// Polls `tester` until `id` has its result.
fn wait(tester: &mut Tester, id: EcuId) -> Vec<u8> {
    loop {
        if let Some(result) = tester.take_result(id) {
            return result.expect("answer");
        }
        tester.poll(Duration::from_secs(1)).expect("poll");
    }
}

fn eight_ecus(c: &mut Criterion) {
    for (group, delay) in [("eight_ecus", 0), ("eight_ecus_1ms", 1)] {
        let sim = eight_ecu_sim(delay);
        let mut tester = Tester::new(LogicalAddress(0x0E00)).expect("tester");
        let ids: Vec<EcuId> =
            (0..8).map(|i| tester.add(sim.tcp, LogicalAddress(0x4010 + i)).expect("add")).collect();
        assert!(tester.connect_all(Duration::from_secs(5)).expect("connect").is_empty());
        let request = [0x22, 0xF1, 0x90];
        let timeout = Duration::from_secs(5);
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(8));
        g.bench_function("concurrent", |b| {
            b.iter(|| {
                for &id in &ids {
                    tester.start_request(id, &request, timeout).expect("start");
                }
                for &id in &ids {
                    black_box(wait(&mut tester, id));
                }
            });
        });
        g.bench_function("sequential", |b| {
            b.iter(|| {
                for &id in &ids {
                    tester.start_request(id, &request, timeout).expect("start");
                    black_box(wait(&mut tester, id));
                }
            });
        });
        g.finish();
    }
}

/// Two threads spinning until dropped: both cores of a CI machine busy.
struct Load(Arc<AtomicBool>, Vec<std::thread::JoinHandle<()>>);

impl Load {
    fn start(threads: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let handles = (0..threads)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        x = black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
                    }
                })
            })
            .collect();
        Self(stop, handles)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
        for h in self.1.drain(..) {
            let _ = h.join();
        }
    }
}

fn loaded_round_trips(c: &mut Criterion) {
    let sim = sim();
    let mut g = c.benchmark_group("uds_round_trip_loaded");
    g.throughput(Throughput::Elements(1));
    let modes: [(&str, Mode); 3] = [
        ("doip_client", |b| b),
        ("doip_client_inline", |b| b.background(false)),
        ("doip_client_busy_poll", |b| b.busy_poll(Duration::from_millis(1))),
    ];
    let _load = Load::start(2);
    for (name, tweak) in modes {
        let mut client = client(&sim, tweak);
        g.bench_function(name, |b| {
            b.iter(|| black_box(client.request(ECU, &[0x3E, 0x00]).expect("answer")));
        });
    }
    g.finish();
}

criterion_group! {
    name = uds;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    targets = round_trips, flash, eight_ecus, loaded_round_trips
}
criterion_main!(uds);
