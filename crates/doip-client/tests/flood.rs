//! A flood of alive check requests against the tester, in its own test process so that the
//! peak resident memory measured is the tester's alone: after routing activation the scripted
//! entity writes 2,000,000 alive check requests (16 MB) without reading for a while, then
//! reads everything the tester sent, counting the alive check responses, and finally answers
//! the diagnostic request the tester sent meanwhile. Every alive check must be answered, the
//! request must complete with its answer, and the tester's memory must stay bounded (the
//! transport applies back-pressure instead of queueing 2,000,000 answers).
#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    Conn, ECU, Entity, READ_VIN, Step, TESTER, ack, activate, alive_check_request, pt, script, uds,
    vin_answer,
};
use doip_client::ClientBuilder;
use doip_proto::LogicalAddress;

/// Alive check requests the entity sends.
const FLOOD: usize = 2_000_000;
/// How long the entity writes without reading, at most.
const WRITE_ONLY: Duration = Duration::from_millis(1500);
/// How long the entity writes without reading once its writes block.
const BLOCKED: Duration = Duration::from_millis(500);
/// The whole exchange's bound.
const DEADLINE: Duration = Duration::from_mins(1);
/// The most the tester's peak resident memory may grow.
const RSS_BUDGET_KIB: u64 = 16 * 1024;

/// Peak resident memory of this process (`VmHWM`), KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// What the entity saw.
#[derive(Clone, Debug, Default)]
struct Flood {
    /// Requests written before the entity first read.
    written_before_reading: usize,
    /// Alive check responses carrying the tester's address.
    answered: usize,
    /// Alive check responses with another address.
    wrong_address: usize,
    /// Diagnostic requests received (their UDS bytes).
    requests: Vec<Vec<u8>>,
    /// Other frames received.
    other: usize,
    /// When the flood was written and answered.
    done_after: Option<Duration>,
}

/// Counts the whole frames at the front of `buf` into `flood` and drops them.
fn count_frames(buf: &mut Vec<u8>, flood: &mut Flood) {
    let mut at = 0;
    while let Some(header) = buf.get(at..at + 8) {
        let payload_type = u16::from_be_bytes([header[2], header[3]]);
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let Some(payload) = buf.get(at + 8..at + 8 + len) else { break };
        match payload_type {
            pt::ALIVE_CHECK_RESPONSE if payload == TESTER.to_be_bytes() => flood.answered += 1,
            pt::ALIVE_CHECK_RESPONSE => flood.wrong_address += 1,
            pt::DIAGNOSTIC if len >= 4 => flood.requests.push(payload[4..].to_vec()),
            _ => flood.other += 1,
        }
        at += 8 + len;
    }
    buf.drain(..at);
}

/// The entity's side: floods, then reads and writes until every request is written and
/// answered and the diagnostic request came, then answers it.
fn flood(conn: &mut Conn, report: &Mutex<Flood>) {
    let started = Instant::now();
    let chunk = alive_check_request().repeat(8192); // 64 KiB, whole frames
    let total = FLOOD * 8;
    let mut written = 0;
    let mut stats = Flood::default();
    conn.stream.set_nonblocking(true).unwrap();
    let write_some = |stream: &mut std::net::TcpStream, written: &mut usize| -> bool {
        let at = *written % chunk.len();
        let end = chunk.len().min(at + (total - *written));
        match stream.write(&chunk[at..end]) {
            Ok(n) => {
                *written += n;
                n > 0
            }
            Err(_) => false,
        }
    };
    // Write only, until done, blocked for a while, or out of time.
    let mut blocked_since: Option<Instant> = None;
    while written < total && started.elapsed() < WRITE_ONLY {
        if write_some(&mut conn.stream, &mut written) {
            blocked_since = None;
        } else {
            let since = *blocked_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= BLOCKED {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    stats.written_before_reading = written / 8;
    // Read and write until everything is written, answered, and the request came.
    let mut buf = Vec::with_capacity(128 * 1024);
    let mut read = vec![0u8; 64 * 1024];
    while started.elapsed() < DEADLINE
        && (written < total
            || stats.answered + stats.wrong_address < FLOOD
            || stats.requests.is_empty())
    {
        let mut progress = written < total && write_some(&mut conn.stream, &mut written);
        match conn.stream.read(&mut read) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&read[..n]);
                count_frames(&mut buf, &mut stats);
                progress = true;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
        if !progress {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    stats.done_after = Some(started.elapsed());
    conn.stream.set_nonblocking(false).unwrap();
    if stats.requests.iter().any(|r| r == &READ_VIN) {
        let _ = conn.send(&[ack(ECU, TESTER, &READ_VIN), uds(ECU, TESTER, &vin_answer())].concat());
    }
    *report.lock().unwrap() = stats;
}

#[test]
fn two_million_alive_checks_are_answered_in_bounded_memory_and_a_request_completes() {
    let report = Arc::new(Mutex::new(Flood::default()));
    let seen = report.clone();
    let entity = Entity::start(vec![script([
        activate(),
        vec![Step::Custom(Box::new(move |conn| flood(conn, &seen)))],
    ])]);
    let before = peak_rss_kib();
    let started = Instant::now();
    let mut client = ClientBuilder::new(entity.addr.ip(), LogicalAddress(ECU))
        .tcp_port(entity.addr.port())
        .ack_timeout(DEADLINE)
        .uds_timing(DEADLINE, DEADLINE)
        .connect()
        .unwrap();
    let answer = client.request(LogicalAddress(ECU), &READ_VIN);
    let took = started.elapsed();
    let after = peak_rss_kib();
    drop(client);
    let flood = report.lock().unwrap().clone();
    println!(
        "flood: {FLOOD} alive checks, {} written before the entity read; {} answered \
         ({} with a wrong address, {} other frames) after {:?}; request done in {took:?}; \
         peak RSS {before} -> {after} KiB (+{} KiB)",
        flood.written_before_reading,
        flood.answered,
        flood.wrong_address,
        flood.other,
        flood.done_after,
        after.saturating_sub(before),
    );
    assert_eq!(answer.unwrap(), vin_answer());
    assert_eq!(flood.answered, FLOOD, "every alive check answered with the tester's address");
    assert_eq!(flood.wrong_address, 0);
    assert_eq!(flood.requests, [READ_VIN.to_vec()]);
    assert!(
        after.saturating_sub(before) < RSS_BUDGET_KIB,
        "peak RSS grew by {} KiB ({before} -> {after} KiB), more than {RSS_BUDGET_KIB} KiB",
        after.saturating_sub(before)
    );
    entity.assert_script_ok();
}
