//! Hostile entities against the client (tester role): a fake entity on loopback answers the
//! routing activation with random bytes, a wrong length, a 4 GiB length announcement followed
//! by a stream of junk, a slow-loris answer, or floods of unsolicited alive checks. The client
//! must return a typed error (or, for alive checks, keep working) within its deadline, and its
//! memory must stay bounded.
#![allow(clippy::unwrap_used)] // test code fails loudly

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use doip_client::{ClientBuilder, Error};
use doip_proto::LogicalAddress;

const DEADLINE: Duration = Duration::from_secs(5);

/// Peak resident memory of this test process, KiB.
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A fake entity: accepts one tester, reads its activation request, then runs `behave`.
fn fake_entity(
    behave: impl FnOnce(TcpStream, Arc<AtomicBool>) + Send + 'static,
) -> (u16, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut request = [0u8; 15];
        let _ = s.read_exact(&mut request);
        behave(s, flag);
    });
    (port, stop)
}

/// What a fake entity does after reading the activation request.
type Behaviour = Box<dyn FnOnce(TcpStream, Arc<AtomicBool>) + Send>;

const ACTIVATED: [u8; 17] = [2, 0xFD, 0, 6, 0, 0, 0, 9, 0x0E, 0, 0x40, 0x10, 0x10, 0, 0, 0, 0];

fn connect(port: u16) -> Result<doip_client::Client, Error> {
    ClientBuilder::new("127.0.0.1".parse().unwrap(), LogicalAddress(0x4010))
        .tcp_port(port)
        .background(false)
        .connect_timeout(Duration::from_secs(1))
        .activation_timeout(Duration::from_millis(500))
        .uds_timing(Duration::from_millis(500), Duration::from_secs(1))
        .connect()
}

fn kind(r: &Result<doip_client::Client, Error>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => format!("{e}"),
    }
}

#[test]
fn hostile_entities_give_typed_errors_in_time_and_bounded_memory() {
    let before = peak_rss();
    let cases: Vec<(&str, Behaviour, bool)> = vec![
        (
            "random bytes",
            Box::new(|mut s, _| {
                let mut rng = fastrand::Rng::with_seed(3);
                let junk: Vec<u8> = (0..65_536).map(|_| rng.u8(..)).collect();
                let _ = s.write_all(&junk);
                std::thread::sleep(Duration::from_secs(1));
            }),
            false,
        ),
        (
            "activation response with a wrong length",
            Box::new(|mut s, _| {
                let _ = s.write_all(&[2, 0xFD, 0, 6, 0, 0, 0, 5, 0x0E, 0, 0x40, 0x10, 0x10]);
                std::thread::sleep(Duration::from_secs(1));
            }),
            false,
        ),
        (
            "4 GiB length, then 64 MiB of junk",
            Box::new(|mut s, stop| {
                let _ = s.write_all(&[2, 0xFD, 0x80, 1, 0xFF, 0xFF, 0xFF, 0xFF]);
                let chunk = vec![0x5Au8; 1 << 16];
                for _ in 0..1024 {
                    if stop.load(Ordering::SeqCst) || s.write_all(&chunk).is_err() {
                        break;
                    }
                }
            }),
            false,
        ),
        (
            "slow-loris answer, one byte per 100 ms",
            Box::new(|mut s, stop| {
                for b in ACTIVATED {
                    if stop.load(Ordering::SeqCst) || s.write_all(&[b]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }),
            false,
        ),
        (
            "10,000 unsolicited alive checks, then the answer",
            Box::new(|mut s, _| {
                let alive = [2u8, 0xFD, 0, 7, 0, 0, 0, 0];
                let flood: Vec<u8> = alive.iter().copied().cycle().take(8 * 10_000).collect();
                let _ = s.write_all(&flood);
                let _ = s.write_all(&ACTIVATED);
                // Drain the 10,000 alive check responses.
                let mut sink = [0u8; 65_536];
                let until = Instant::now() + Duration::from_secs(2);
                while Instant::now() < until && s.read(&mut sink).is_ok_and(|n| n > 0) {}
            }),
            true,
        ),
    ];
    let mut failures = Vec::new();
    for (name, behave, should_connect) in cases {
        let (port, stop) = fake_entity(behave);
        let started = Instant::now();
        let result = connect(port);
        let took = started.elapsed();
        stop.store(true, Ordering::SeqCst);
        println!("{name:<48} -> {} in {took:.2?}", kind(&result));
        if took > DEADLINE || result.is_ok() != should_connect {
            failures.push(name);
        }
    }
    let after = peak_rss();
    println!("client peak RSS {before} -> {after} KiB");
    assert!(failures.is_empty(), "failed: {failures:?}");
    assert!(after < before + 64 * 1024, "peak RSS grew by {} KiB", after - before);
}
