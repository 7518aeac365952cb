//! Soak: 64 concurrent testers against the simulator, mixed traffic, random connection
//! drops; at the end every UDS request is accounted for exactly once and every download's
//! CRC matches. Run through `cargo xtask soak --minutes N` (release build).
//!
//! Each tester has its own ECU (so downloads do not interfere) and, for a minute or more,
//! picks at random: ReadDataByIdentifier F190 (60 %), TesterPresent (15 %), an alive check
//! (8 %), a 64 KiB flash download with CRC check (8 %), a functional TesterPresent answered by
//! every ECU (2 %), or dropping its own connection and reconnecting (7 %). Eight testers also
//! have the entity close their connection after every 40 messages. Accounting: the entity
//! counts every diagnostic message it receives; the testers count every one they sent and
//! whether it was answered or failed. Every request is answered or failed; the entity
//! received every answered one, and beyond those at most the ones that failed as "may have
//! been delivered" (a request written just as the entity closed): nothing is sent twice.
//! Only the eight testers whose entity closes on them may see failures, and only those of a
//! lost connection.
#![allow(clippy::unwrap_used)] // a harness: fail loudly
#![allow(clippy::cast_precision_loss)] // rates for printing

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use doip_client::{Client, ClientBuilder, Error};
use doip_proto::LogicalAddress;
use doip_sim::{EcuConfig, Faults, SimConfig, SimEvent, Simulator};

const TESTERS: u16 = 64;
const FUNCTIONAL: LogicalAddress = LogicalAddress(0xE400);

#[derive(Default)]
struct Tally {
    sent: u64,
    answered: u64,
    failed: BTreeMap<String, u64>,
    /// UDS requests that failed as "may have been delivered".
    maybe_delivered: u64,
    /// Failures a tester must not see: any on a tester whose connection nobody else closes,
    /// or any but a lost connection on one whose entity closes it.
    unexpected: u64,
    /// Alive checks and reconnects that failed (not UDS requests).
    other_failures: BTreeMap<String, u64>,
    latencies: Vec<Duration>,
    downloads: u64,
    crc_mismatches: u64,
    alive_checks: u64,
    drops: u64,
}

fn ecu_of(tester: u16) -> LogicalAddress {
    LogicalAddress(0x4100 + tester)
}

fn config() -> SimConfig {
    let mut c = SimConfig::for_tests();
    c.bind = IpAddr::V4(Ipv4Addr::LOCALHOST);
    c.identity.max_sockets = 100;
    c.timing.general_inactivity_ms = 600_000;
    for t in 0..TESTERS {
        c.ecus.push(EcuConfig {
            name: format!("ecu-{t}"),
            logical_address: format!("{:#06x}", ecu_of(t).0),
            ..EcuConfig::default()
        });
    }
    for t in 0..8 {
        let faults = Faults { close_after_messages: Some(40), ..Faults::default() };
        c.faults_by_tester.insert(format!("{:#06x}", 0x0E00 + t), faults);
    }
    c
}

/// One UDS request, counted.
fn request(
    client: &mut Client,
    tally: &mut Tally,
    target: LogicalAddress,
    payload: &[u8],
) -> Option<Vec<u8>> {
    tally.sent += 1;
    let started = Instant::now();
    match client.request(target, payload) {
        Ok(answer) if answer.first() == payload.first().map(|s| s + 0x40).as_ref() => {
            tally.latencies.push(started.elapsed());
            tally.answered += 1;
            Some(answer)
        }
        Ok(answer) => {
            *tally
                .failed
                .entry(format!("negative {:02X?}", &answer[..answer.len().min(3)]))
                .or_default() += 1;
            None
        }
        Err(e) => {
            tally.maybe_delivered += u64::from(matches!(e, Error::MaybeDelivered { .. }));
            *tally
                .failed
                .entry(e.to_string().split(" from ").next().unwrap_or_default().to_owned())
                .or_default() += 1;
            None
        }
    }
}

/// Whether `e` is what a connection the entity closes under a request gives.
fn lost_connection(e: &Error) -> bool {
    use doip_transport::Error as T;
    matches!(
        e,
        Error::MaybeDelivered { .. }
            | Error::Transport(T::ClosedByPeer { .. } | T::NotConnected { .. } | T::Io { .. })
    )
}

fn flash(client: &mut Client, tally: &mut Tally, ecu: LogicalAddress, seed: u64) {
    let image: Vec<u8> = (0..16 * 4093u64).map(|i| (i.wrapping_mul(seed | 1) >> 3) as u8).collect();
    let size = u32::try_from(image.len()).unwrap().to_be_bytes();
    let start = [&[0x34, 0x00, 0x44, 0, 0, 0, 0][..], &size].concat();
    if request(client, tally, ecu, &start).is_none() {
        return;
    }
    for (i, block) in image.chunks(4093).enumerate() {
        let transfer = [&[0x36, (i + 1) as u8][..], block].concat();
        if request(client, tally, ecu, &transfer).is_none() {
            return;
        }
    }
    if let Some(exit) = request(client, tally, ecu, &[0x37]) {
        tally.downloads += 1;
        if exit.get(1..5) != Some(&crc32fast::hash(&image).to_be_bytes()[..]) {
            tally.crc_mismatches += 1;
        }
    }
}

fn tester(index: u16, sim: (u16, u16), until: Instant) -> Tally {
    let mut tally = Tally::default();
    let ecu = ecu_of(index);
    let mut rng = fastrand::Rng::with_seed(u64::from(index));
    // The first eight testers' entity closes their connection every 40 messages.
    let faulted = index < 8;
    let mut client = ClientBuilder::new(IpAddr::V4(Ipv4Addr::LOCALHOST), ecu)
        .tcp_port(sim.0)
        .udp_port(sim.1)
        .client_logical_address(LogicalAddress(0x0E00 + index))
        .auto_reconnect_tcp(true)
        .connect_timeout(Duration::from_secs(5))
        .uds_timing(Duration::from_secs(2), Duration::from_secs(5))
        .connect()
        .unwrap();
    while Instant::now() < until {
        match rng.u32(0..100) {
            0..60 => {
                request(&mut client, &mut tally, ecu, &[0x22, 0xF1, 0x90]);
            }
            60..75 => {
                request(&mut client, &mut tally, ecu, &[0x3E, 0x00]);
            }
            75..83 => match client.request_alive_check() {
                Ok(_) => tally.alive_checks += 1,
                Err(e) => {
                    tally.unexpected += u64::from(!(faulted && lost_connection(&e)));
                    *tally.other_failures.entry(format!("alive check: {e}")).or_default() += 1;
                }
            },
            83..91 => flash(&mut client, &mut tally, ecu, rng.u64(..)),
            91..93 => {
                tally.sent += 1;
                let started = Instant::now();
                match client.functional_request(
                    FUNCTIONAL,
                    &[0x3E, 0x00],
                    Duration::from_millis(300),
                ) {
                    // The gateway and every ECU behind it answer.
                    Ok(answers) if answers.len() == usize::from(TESTERS) + 3 => {
                        tally.latencies.push(started.elapsed());
                        tally.answered += 1;
                    }
                    Ok(answers) => {
                        *tally
                            .failed
                            .entry(format!("functional: {} answers", answers.len()))
                            .or_default() += 1;
                    }
                    Err(e) => {
                        tally.maybe_delivered +=
                            u64::from(matches!(e, Error::MaybeDelivered { .. }));
                        *tally.failed.entry(format!("functional: {e}")).or_default() += 1;
                    }
                }
            }
            _ => {
                tally.drops += 1;
                if let Err(e) = client.reconnect(Duration::ZERO) {
                    tally.unexpected += 1;
                    *tally.other_failures.entry(format!("reconnect: {e}")).or_default() += 1;
                }
            }
        }
    }
    let _ = client.close();
    let failures = tally.failed.values().sum::<u64>();
    tally.unexpected += if faulted {
        let closed = tally.failed.iter().filter(|(k, _)| k.contains("connection closed"));
        let lost = tally.maybe_delivered + closed.map(|(_, v)| v).sum::<u64>();
        failures.saturating_sub(lost)
    } else {
        failures
    };
    tally
}

fn main() {
    let minutes: f64 = std::env::args()
        .skip_while(|a| a != "--minutes")
        .nth(1)
        .map_or(1.0, |m| m.parse().expect("--minutes takes a number"));
    let duration = Duration::from_secs_f64(minutes * 60.0);
    let mut sim = Simulator::new(&config()).unwrap();
    let (tx, rx) = mpsc::channel();
    sim.set_event_sink(tx);
    let handle = sim.spawn().unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let closes = Arc::new(AtomicU64::new(0));
    let counter = {
        let (received, closes) = (received.clone(), closes.clone());
        std::thread::spawn(move || {
            for event in rx {
                match event {
                    SimEvent::Request { .. } => received.fetch_add(1, Ordering::Relaxed),
                    SimEvent::Closed { .. } => closes.fetch_add(1, Ordering::Relaxed),
                    _ => 0,
                };
            }
        })
    };
    println!(
        "soak: {TESTERS} testers for {duration:.0?} against {} (TCP), {} (UDP)",
        handle.tcp, handle.udp
    );
    let started = Instant::now();
    let until = started + duration;
    let ports = (handle.tcp.port(), handle.udp.port());
    let total = Arc::new(Mutex::new(Tally::default()));
    let threads: Vec<_> = (0..TESTERS)
        .map(|i| {
            let total = total.clone();
            std::thread::spawn(move || {
                let t = tester(i, ports, until);
                let mut all = total.lock().unwrap();
                all.sent += t.sent;
                all.answered += t.answered;
                for (k, v) in t.failed {
                    *all.failed.entry(k).or_default() += v;
                }
                for (k, v) in t.other_failures {
                    *all.other_failures.entry(k).or_default() += v;
                }
                all.maybe_delivered += t.maybe_delivered;
                all.unexpected += t.unexpected;
                all.latencies.extend(t.latencies);
                all.downloads += t.downloads;
                all.crc_mismatches += t.crc_mismatches;
                all.alive_checks += t.alive_checks;
                all.drops += t.drops;
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let elapsed = started.elapsed();
    handle.stop().unwrap();
    counter.join().unwrap();
    let mut all = std::mem::take(&mut *total.lock().unwrap());
    all.latencies.sort_unstable();
    let pct =
        |p: usize| all.latencies.get(all.latencies.len() * p / 100).copied().unwrap_or_default();
    let failed: u64 = all.failed.values().sum();
    let at_entity = received.load(Ordering::Relaxed);
    println!("elapsed                 {elapsed:.1?}");
    println!(
        "UDS requests sent       {} ({:.0}/s)",
        all.sent,
        all.sent as f64 / elapsed.as_secs_f64()
    );
    println!("  answered              {}", all.answered);
    println!("  failed                {failed} {:?}", all.failed);
    println!("    may have been sent  {}", all.maybe_delivered);
    println!("  received by entity    {at_entity}");
    println!("other failures          {:?}", all.other_failures);
    println!("latency p50 / p99       {:.0?} / {:.0?}", pct(50), pct(99));
    println!(
        "flash downloads         {} complete, {} CRC mismatches",
        all.downloads, all.crc_mismatches
    );
    println!("alive checks            {}", all.alive_checks);
    println!(
        "connection drops        {} by testers, {} connections closed at the entity",
        all.drops,
        closes.load(Ordering::Relaxed)
    );
    let accounted = all.answered + failed == all.sent;
    let at_most_once = all.answered <= at_entity && at_entity <= all.answered + all.maybe_delivered;
    println!(
        "accounting              every request answered or failed: {accounted}; entity received every answered one and at most the maybe-delivered ones besides (none twice): {at_most_once}; unexpected failures: {}",
        all.unexpected
    );
    if !(accounted && at_most_once && all.unexpected == 0 && all.crc_mismatches == 0) {
        eprintln!("soak FAILED");
        std::process::exit(1);
    }
    println!("soak passed");
}
