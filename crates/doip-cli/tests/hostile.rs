//! Hostile peers against the simulator (entity role), as a separate `doip sim` process whose
//! memory is measured: random bytes, wrong lengths, 4 GiB length announcements, thousands of
//! idle connections, slow-loris writers, routing activation floods from unknown addresses and
//! UDP identification floods. Each gets the spec's answer, the process stays up, its resident
//! memory stays under a stated bound, and a legitimate tester keeps being served; its latency
//! during each attack is printed beside the latency without one.
#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Running, doip};
use doip_client::ClientBuilder;
use doip_proto::LogicalAddress;

/// The bound every attack must keep the entity's resident memory under.
const RSS_BOUND_KIB: u64 = 64 * 1024;

struct Entity {
    child: Running,
    tcp: SocketAddr,
    udp: SocketAddr,
}

fn entity() -> Entity {
    let mut child = Running(
        doip()
            .args(["sim", "--bind", "127.0.0.1", "--tcp-port", "0", "--udp-port", "0"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let addresses = lines.find_map(|l| l.ok().filter(|l| l.starts_with("TCP_DATA on "))).unwrap();
    // "TCP_DATA on A, UDP_DISCOVERY on B"
    let mut parts = addresses.split(", ");
    let tcp = parts.next().unwrap().trim_start_matches("TCP_DATA on ").parse().unwrap();
    let udp = parts.next().unwrap().trim_start_matches("UDP_DISCOVERY on ").parse().unwrap();
    // Keep draining its event lines so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Entity { child, tcp, udp }
}

impl Entity {
    fn alive(&mut self) -> bool {
        self.child.0.try_wait().unwrap().is_none()
    }

    /// (current, peak) resident memory in KiB.
    fn rss(&self) -> (u64, u64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.child.0.id())).unwrap();
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Median round trip of UDS 3E 00 over a fresh, activated connection.
    fn legit_latency(&self, samples: usize) -> Result<Duration, String> {
        let mut client = ClientBuilder::new(self.tcp.ip(), LogicalAddress(0x4011))
            .tcp_port(self.tcp.port())
            .udp_port(self.udp.port())
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .map_err(|e| e.to_string())?;
        let mut times = Vec::with_capacity(samples);
        for _ in 0..samples {
            let t = Instant::now();
            let answer =
                client.request(LogicalAddress(0x4011), &[0x3E, 0x00]).map_err(|e| e.to_string())?;
            times.push(t.elapsed());
            if answer != [0x7E, 0x00] {
                return Err(format!("answer {answer:02X?}"));
            }
        }
        times.sort_unstable();
        Ok(times[times.len() / 2])
    }
}

fn connect(to: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&to, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Reads until EOF (or 5 s); returns what arrived.
fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got
}

const NACK_PATTERN: [u8; 9] = [2, 0xFD, 0, 0, 0, 0, 0, 1, 0x00];
const NACK_TOO_LARGE: [u8; 9] = [2, 0xFD, 0, 0, 0, 0, 0, 1, 0x02];
const NACK_LENGTH: [u8; 9] = [2, 0xFD, 0, 0, 0, 0, 0, 1, 0x04];

/// Runs `attack` on its own thread while measuring a legitimate tester; prints a report line.
fn under_attack(
    e: &mut Entity,
    name: &str,
    baseline: Duration,
    attack: impl FnOnce(SocketAddr, SocketAddr, Arc<AtomicBool>) + Send + 'static,
) {
    let (rss_before, _) = e.rss();
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let (tcp, udp, flag) = (e.tcp, e.udp, stop.clone());
    let attacker = std::thread::spawn(move || attack(tcp, udp, flag));
    std::thread::sleep(Duration::from_millis(300));
    let during = e.legit_latency(200);
    stop.store(true, Ordering::SeqCst);
    attacker.join().unwrap();
    let (rss_after, peak) = e.rss();
    println!(
        "{name:<50} legit p50 {:>8} (without attack {baseline:.0?})  RSS {rss_before} -> {rss_after} KiB, peak {peak} KiB  [{:.1?}]",
        during.as_ref().map_or_else(|err| format!("FAILED: {err}"), |d| format!("{d:.0?}")),
        started.elapsed(),
    );
    assert!(e.alive(), "{name}: the entity died");
    let during = during.unwrap_or_else(|err| panic!("{name}: legitimate tester not served: {err}"));
    assert!(during < Duration::from_millis(250), "{name}: legitimate p50 {during:?}");
    assert!(peak < RSS_BOUND_KIB, "{name}: peak RSS {peak} KiB over {RSS_BOUND_KIB} KiB");
}

/// How many sockets this process may open, leaving room for everything else.
fn socket_budget(want: usize) -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1024);
    want.min(soft.saturating_sub(256))
}

/// Each attack's spec answer, on its own connection (PROTOCOL.md §1).
fn spec_answers(tcp: SocketAddr) {
    // Each spec answer first, on its own connection.
    let mut s = connect(tcp);
    s.write_all(&[0x13, 0x37, 0xC0, 0xDE, 1, 2, 3, 4, 5, 6]).unwrap();
    assert_eq!(read_to_close(&mut s), NACK_PATTERN, "random bytes: NACK 0x00 and close");
    let mut s = connect(tcp);
    s.write_all(&[2, 0xFD, 0, 5, 0, 0, 0, 5, 0x0E, 0, 0, 0, 0]).unwrap();
    assert_eq!(read_to_close(&mut s), NACK_LENGTH, "wrong length: NACK 0x04 and close");
    let mut s = connect(tcp);
    s.write_all(&[2, 0xFD, 0x80, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0x0E, 0, 0x40, 0x11]).unwrap();
    let mut nack = [0u8; 9];
    s.read_exact(&mut nack).unwrap();
    assert_eq!(nack, NACK_TOO_LARGE, "4 GiB length: NACK 0x02, payload discarded");
    // The connection stays open while the announced payload is discarded unbuffered.
    s.write_all(&vec![0u8; 1 << 20]).unwrap();
}

#[test]
#[allow(clippy::too_many_lines)] // one attack after another, each a few lines
fn hostile_testers_get_the_spec_answer_and_legitimate_ones_are_served() {
    let mut e = entity();
    let baseline = e.legit_latency(200).unwrap();
    let (rss, _) = e.rss();
    println!(
        "entity at rest: RSS {rss} KiB; legitimate p50 {baseline:.0?}; bound {RSS_BOUND_KIB} KiB"
    );

    spec_answers(e.tcp);

    under_attack(&mut e, "random bytes, 8 connections in a loop", baseline, |tcp, _, stop| {
        let mut rng = fastrand::Rng::with_seed(7);
        while !stop.load(Ordering::SeqCst) {
            let mut conns: Vec<TcpStream> = (0..8).map(|_| connect(tcp)).collect();
            for c in &mut conns {
                let junk: Vec<u8> = (0..4096).map(|_| rng.u8(..)).collect();
                let _ = c.write_all(&junk);
            }
        }
    });
    under_attack(&mut e, "valid headers with wrong lengths", baseline, |tcp, _, stop| {
        while !stop.load(Ordering::SeqCst) {
            let mut c = connect(tcp);
            let _ = c.write_all(&[2, 0xFD, 0x40, 2, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            let _ = read_to_close(&mut c);
        }
    });
    under_attack(
        &mut e,
        "4 GiB length announcements, payload streamed",
        baseline,
        |tcp, _, stop| {
            let mut c = connect(tcp);
            let _ = c.write_all(&[2, 0xFD, 0x80, 1, 0xFF, 0xFF, 0xFF, 0xFF]);
            let chunk = vec![0xA5u8; 1 << 16];
            while !stop.load(Ordering::SeqCst) {
                if c.write_all(&chunk).is_err() {
                    c = connect(tcp);
                    let _ = c.write_all(&[2, 0xFD, 0x80, 1, 0xFF, 0xFF, 0xFF, 0xFF]);
                }
            }
        },
    );
    let idle = socket_budget(10_000);
    under_attack(
        &mut e,
        &format!("{idle} connections opened and left idle"),
        baseline,
        move |tcp, _, stop| {
            let t = Instant::now();
            let conns: Vec<TcpStream> =
                (0..idle).filter_map(|_| TcpStream::connect(tcp).ok()).collect();
            println!("  ({} idle connections open after {:.1?})", conns.len(), t.elapsed());
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
            drop(conns);
        },
    );
    under_attack(&mut e, "slow-loris: 200 writers, one byte a second", baseline, |tcp, _, _| {
        // Runs past T_TCP_Initial_Inactivity (2 s): the entity must have closed every one.
        let mut conns: Vec<TcpStream> = (0..200).map(|_| connect(tcp)).collect();
        let activation = [2u8, 0xFD, 0, 5, 0, 0, 0, 7, 0x0E, 0, 0, 0, 0, 0, 0];
        let started = Instant::now();
        for i in 0..3 {
            for c in &mut conns {
                let _ = c.write_all(&activation[i..=i]);
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        let mut closed = 0;
        for c in &mut conns {
            c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            let open = matches!(
                c.read(&mut [0u8; 16]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
            );
            closed += usize::from(!open);
        }
        println!(
            "  ({closed} of 200 slow connections closed by the entity after {:.1?})",
            started.elapsed()
        );
        assert_eq!(closed, 200);
    });
    under_attack(
        &mut e,
        "routing activation flood, unknown source addresses",
        baseline,
        |tcp, _, stop| {
            let mut sa = 0x0001u16;
            while !stop.load(Ordering::SeqCst) {
                let mut c = connect(tcp);
                let [hi, lo] = sa.to_be_bytes();
                let _ = c.write_all(&[2, 0xFD, 0, 5, 0, 0, 0, 7, hi, lo, 0, 0, 0, 0, 0]);
                let answer = read_to_close(&mut c);
                // Denied: unknown source address (0x00), and the socket is closed.
                assert_eq!(answer.get(12), Some(&0x00), "{answer:02X?}");
                sa = sa % 0x0DFF + 1;
            }
        },
    );
    under_attack(&mut e, "UDP identification request flood", baseline, |_, udp, stop| {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_nonblocking(true).unwrap();
        let request = [0xFF, 0x00, 0, 1, 0, 0, 0, 0];
        let mut buf = [0u8; 64];
        let (mut sent, mut answered) = (0u64, 0u64);
        while !stop.load(Ordering::SeqCst) {
            for _ in 0..64 {
                if s.send_to(&request, udp).is_ok() {
                    sent += 1;
                }
            }
            while let Ok(n) = s.recv(&mut buf) {
                // An announcement: 8-byte header + 32 or 33 bytes.
                answered += u64::from(n == 40 || n == 41);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        println!("  ({sent} requests sent, {answered} announcements received)");
        assert!(answered > 0);
    });
    assert!(e.alive());
}
