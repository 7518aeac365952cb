//! The tokio driver (feature `tokio`) against the in-process simulator, beside its baselines
//! in the same run (`cargo xtask bench` prints ratios):
//!
//! - `tokio_round_trip`: TesterPresent 3E 00 → ACK + 7E 00 through `doip_client::tokio` on a
//!   current-thread runtime vs plain tokio `TcpStream` ping-pong of the same sizes, both run
//!   in a spawned task (as a service runs them), and again each round trip its own `block_on`.
//! - `thousand_ecus`: 1,000 ECUs (ten entities with a hundred each) × 100 round trips each,
//!   every ECU at once (one request per ECU in flight) on one runtime thread, vs the blocking
//!   `Tester` doing the same on one thread, in rounds (every ECU's request started, then every
//!   answer taken: its API has no "next finished"). An iteration is 100,000 round trips.
//!
//! Memory per ECU session is printed once (resident memory before and after 1,000 sessions
//! were opened and used).

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

mod plain;
use plain::plain_peer;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use doip_client::{ClientBuilder, EcuId, Tester};
use doip_proto::LogicalAddress;
use doip_sim::{EcuConfig, SimConfig, SimHandle, Simulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ECU: LogicalAddress = LogicalAddress(0x4011);
const ENTITIES: usize = 10;
const ECUS: u16 = 100;
/// Round trips per ECU in one `thousand_ecus` iteration.
const ROUNDS: usize = 100;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

fn builder(sim: &SimHandle, ecu: LogicalAddress) -> ClientBuilder {
    ClientBuilder::new(sim.tcp.ip(), ecu).tcp_port(sim.tcp.port()).udp_port(sim.udp.port())
}

/// Times `iters` round trips run by `body` in a task spawned on `rt`, as a service runs its
/// requests. (A `block_on` future is woken through the runtime's eventfd, a spawned task from
/// the run queue: the `_block_on` functions measure that harness too.)
fn in_task<T: Send + 'static>(
    rt: &tokio::runtime::Runtime,
    body: impl Future<Output = T> + Send + 'static,
) -> T {
    rt.block_on(rt.spawn(body)).expect("task")
}

fn round_trips(c: &mut Criterion) {
    let sim = Simulator::new(&SimConfig::for_tests()).expect("sim").spawn().expect("thread");
    let rt = runtime();
    let client = rt.block_on(builder(&sim, ECU).connect_tokio()).expect("connect");
    let mut plain = Some(rt.block_on(async {
        let s = tokio::net::TcpStream::connect(plain_peer(14)).await.expect("connect");
        s.set_nodelay(true).expect("nodelay");
        s
    }));
    let mut g = c.benchmark_group("tokio_round_trip");
    g.throughput(Throughput::Elements(1));
    g.bench_function("doip_client_tokio", |b| {
        b.iter_custom(|iters| {
            let client = client.clone();
            in_task(&rt, async move {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(client.request(ECU, &[0x3E, 0x00]).await.expect("answer"));
                }
                start.elapsed()
            })
        });
    });
    g.bench_function("tokio_tcp", |b| {
        b.iter_custom(|iters| {
            let mut s = plain.take().expect("stream");
            let (s, took) = in_task(&rt, async move {
                let mut answer = [0u8; 27];
                let start = Instant::now();
                for _ in 0..iters {
                    s.write_all(&[0u8; 14]).await.expect("write");
                    s.read_exact(&mut answer).await.expect("read");
                }
                (s, start.elapsed())
            });
            plain = Some(s);
            took
        });
    });
    g.bench_function("doip_client_tokio_block_on", |b| {
        b.iter(|| black_box(rt.block_on(client.request(ECU, &[0x3E, 0x00])).expect("answer")));
    });
    let mut plain = plain.expect("stream");
    let mut answer = [0u8; 27];
    g.bench_function("tokio_tcp_block_on", |b| {
        b.iter(|| {
            rt.block_on(async {
                plain.write_all(&[0u8; 14]).await.expect("write");
                plain.read_exact(&mut answer).await.expect("read");
            });
        });
    });
    g.finish();
}

fn entity() -> SimHandle {
    let mut config = SimConfig::for_tests();
    config.ecus = (0..ECUS)
        .map(|i| EcuConfig {
            name: format!("ecu{i}"),
            logical_address: format!("0x{:04X}", 0x4100 + i),
            ..EcuConfig::default()
        })
        .collect();
    Simulator::new(&config).expect("sim").spawn().expect("thread")
}

/// Polls every future to completion on this task.
struct JoinAll<F: Future>(Vec<(Pin<Box<F>>, bool)>);

impl<F: Future> Future for JoinAll<F> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut done = true;
        for (f, finished) in &mut self.0 {
            if !*finished {
                if f.as_mut().poll(cx).is_ready() {
                    *finished = true;
                } else {
                    done = false;
                }
            }
        }
        if done { Poll::Ready(()) } else { Poll::Pending }
    }
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

fn thousand_ecus(c: &mut Criterion) {
    let sims: Vec<SimHandle> = (0..ENTITIES).map(|_| entity()).collect();
    let rt = runtime();
    let before = rss_kib();
    let clients: Vec<_> = sims
        .iter()
        .map(|s| rt.block_on(builder(s, LogicalAddress(0x4100)).connect_tokio()).expect("connect"))
        .collect();
    let all = |rounds: usize| {
        JoinAll(
            clients
                .iter()
                .flat_map(|c| {
                    (0..ECUS).map(move |i| {
                        Box::pin(async move {
                            for _ in 0..rounds {
                                let a = c.request(LogicalAddress(0x4100 + i), &[0x3E, 0x00]).await;
                                assert_eq!(a.expect("answer"), [0x7E, 0x00]);
                            }
                        })
                    })
                })
                .map(|f| (f, false))
                .collect(),
        )
    };
    rt.block_on(all(1));
    if let (Some(b), Some(a)) = (before, rss_kib()) {
        let per = (a.saturating_sub(b) * 1024) / (ENTITIES as u64 * u64::from(ECUS));
        println!(
            "tokio: 1000 ECU sessions on {ENTITIES} connections: {per} bytes of RSS per ECU session"
        );
    }
    // Another tester address: the tokio clients stay connected (their runtime idles between
    // iterations, so an entity asking them for an alive check then would get no answer).
    let mut tester = Tester::new(LogicalAddress(0x0E01)).expect("tester");
    let ids: Vec<EcuId> = sims
        .iter()
        .flat_map(|s| (0..ECUS).map(|i| (s.tcp, LogicalAddress(0x4100 + i))).collect::<Vec<_>>())
        .map(|(addr, ecu)| tester.add(addr, ecu).expect("add"))
        .collect();
    assert!(tester.connect_all(Duration::from_secs(10)).expect("connect").is_empty());
    let mut g = c.benchmark_group("thousand_ecus");
    g.throughput(Throughput::Elements(ENTITIES as u64 * u64::from(ECUS) * ROUNDS as u64));
    // An iteration takes seconds: criterion's fewest samples, time to take them.
    g.sample_size(10).warm_up_time(Duration::from_millis(100));
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("tokio_one_thread", |b| b.iter(|| rt.block_on(all(ROUNDS))));
    g.bench_function("blocking_tester", |b| {
        b.iter(|| {
            for _ in 0..ROUNDS {
                for &id in &ids {
                    tester
                        .start_request(id, &[0x3E, 0x00], Duration::from_secs(10))
                        .expect("start");
                }
                for &id in &ids {
                    loop {
                        if let Some(r) = tester.take_result(id) {
                            black_box(r.expect("answer"));
                            break;
                        }
                        tester.poll(Duration::from_secs(1)).expect("poll");
                    }
                }
            }
        });
    });
    g.finish();
}

criterion_group! {
    name = tokio_driver;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    targets = round_trips, thousand_ecus
}
criterion_main!(tokio_driver);
