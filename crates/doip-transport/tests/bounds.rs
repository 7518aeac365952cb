//! Bounded under any peer: memory, work per `poll` and waits stay bounded whatever a peer
//! sends, and huge timeouts mean "that long or forever", never a panic.
#![allow(clippy::unwrap_used)] // test helpers fail loudly

mod common;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use doip_proto::VehicleIdentificationRequest;
use doip_transport::{
    ConnectOptions, Error, Event, EventLoop, ListenOptions, ReconnectPolicy, UdpOptions,
};

const ALIVE_CHECK: [u8; 8] = [0x02, 0xFD, 0x00, 0x07, 0, 0, 0, 0];
/// The tester's answer with the default tester address 0x0E00.
const ANSWER: [u8; 10] = [0x02, 0xFD, 0x00, 0x08, 0, 0, 0, 2, 0x0E, 0x00];
const FLOOD: usize = 2_000_000;
/// How long the flooding peer writes without reading our answers.
const QUIET: Duration = Duration::from_millis(1500);
const FLOOD_CHILD: &str = "DOIP_FLOOD_CHILD";
const FLOOD_TEST: &str = "an_alive_check_flood_is_bounded_in_memory_and_starves_nothing";

/// The process's peak resident set (`VmHWM`) in KiB, where `/proc` has it.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A peer floods a tester with 2,000,000 alive check requests (16 MB) and reads none of our
/// answers for a while. The tester must stop reading instead of queueing answers (peak RSS
/// grows by less than 16 MiB), keep serving a timer and a second connection on the same
/// loop meanwhile, and answer every request once the peer reads.
///
/// Runs in a child process of its own, so that the peak RSS measured is this test's alone.
#[test]
fn an_alive_check_flood_is_bounded_in_memory_and_starves_nothing() {
    if std::env::var_os(FLOOD_CHILD).is_none() {
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", FLOOD_TEST, "--nocapture", "--test-threads=1"])
            .env(FLOOD_CHILD, "1")
            .output()
            .unwrap();
        print!("{}", String::from_utf8_lossy(&child.stdout));
        eprint!("{}", String::from_utf8_lossy(&child.stderr));
        assert!(child.status.success(), "the flood child failed: {:?}", child.status);
        return;
    }
    if peak_rss_kib().is_none() {
        println!("skipped: no VmHWM in /proc/self/status");
        return;
    }
    flood();
}

/// The flooding peer: a thread writes the requests while this one waits [`QUIET`], then
/// reads and checks every answer. Returns how many it counted.
fn flood_peer(listener: &std::net::TcpListener, reading: &AtomicBool) -> Result<usize, String> {
    let (mut s, _) = listener.accept().map_err(|e| e.to_string())?;
    let mut w = s.try_clone().map_err(|e| e.to_string())?;
    let writer = thread::spawn(move || -> std::io::Result<()> {
        let chunk = ALIVE_CHECK.repeat(8192);
        let mut left = FLOOD;
        while left > 0 {
            let n = left.min(8192);
            w.write_all(&chunk[..n * ALIVE_CHECK.len()])?;
            left -= n;
        }
        Ok(())
    });
    thread::sleep(QUIET);
    reading.store(true, Ordering::SeqCst);
    s.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    let until = Instant::now() + Duration::from_mins(1);
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0usize;
    while total < FLOOD * ANSWER.len() {
        if Instant::now() > until {
            return Err(format!("{} answers after a minute", total / ANSWER.len()));
        }
        let n = s.read(&mut buf).map_err(|e| format!("after {total} bytes: {e}"))?;
        if n == 0 {
            return Err(format!("closed after {} answers", total / ANSWER.len()));
        }
        for (i, &b) in buf[..n].iter().enumerate() {
            if b != ANSWER[(total + i) % ANSWER.len()] {
                return Err(format!("byte {} is {b:#04x}", total + i));
            }
        }
        total += n;
    }
    writer.join().map_err(|_| "writer panicked".to_owned())?.map_err(|e| e.to_string())?;
    Ok(total / ANSWER.len())
}

/// A peer that echoes every 13-byte frame (a diagnostic message with one byte of data).
fn echo_peer(listener: &std::net::TcpListener) {
    let Ok((mut s, _)) = listener.accept() else { return };
    let mut frame = [0u8; 13];
    while s.read_exact(&mut frame).is_ok() && s.write_all(&frame).is_ok() {}
}

fn flood() {
    const TICK: Duration = Duration::from_millis(10);
    let started = Instant::now();
    let reading = Arc::new(AtomicBool::new(false));
    let (flood_listener, flood_addr) = listener();
    let peer_reading = reading.clone();
    let flood_peer = thread::spawn(move || flood_peer(&flood_listener, &peer_reading));
    let (echo_listener, echo_addr) = listener();
    thread::spawn(move || echo_peer(&echo_listener));

    let mut lp = EventLoop::new().unwrap();
    let echo = lp.connect(echo_addr, ConnectOptions::default()).unwrap();
    wait_for(&mut lp, deadline(10), |e| matches!(e, Event::Connected { .. }));
    let base = peak_rss_kib().unwrap();
    let flood = lp.connect(flood_addr, ConnectOptions::default()).unwrap();
    lp.set_timer(None, Instant::now() + TICK, 1);
    let (mut answered, mut answered_quiet) = (0usize, 0usize);
    let (mut ticks_quiet, mut echoes_quiet, mut echoes) = (0u32, 0u32, 0u32);
    let mut echo_in_flight = false;
    let until = deadline(60);
    while answered < FLOOD || !flood_peer.is_finished() {
        assert!(Instant::now() < until, "{answered} of {FLOOD} answered after 60 s");
        lp.poll(Some(Duration::from_millis(100))).unwrap();
        let quiet = !reading.load(Ordering::SeqCst);
        while let Some(event) = lp.next_event() {
            match event {
                Event::AliveCheckAnswered { handle } if handle == flood => {
                    answered += 1;
                    answered_quiet += usize::from(quiet);
                }
                Event::Timer { id: 1, .. } => {
                    ticks_quiet += u32::from(quiet);
                    lp.set_timer(None, Instant::now() + TICK, 1);
                    if !echo_in_flight {
                        lp.send(echo, &diag(TESTER, ECU, vec![0x3E])).unwrap();
                        echo_in_flight = true;
                    }
                }
                Event::Message { handle, .. } if handle == echo => {
                    echo_in_flight = false;
                    echoes += 1;
                    echoes_quiet += u32::from(quiet);
                }
                Event::Connected { .. } => {}
                // The peer closes once it has counted every answer.
                Event::Disconnected { handle, .. } if handle == flood && answered == FLOOD => {}
                other => panic!("unexpected {other:?} after {answered} answers"),
            }
        }
    }
    let grown = peak_rss_kib().unwrap().saturating_sub(base);
    let peer_counted = flood_peer.join().unwrap().unwrap();
    println!(
        "flood of {FLOOD}: {answered_quiet} answered while the peer did not read, peak RSS \
         +{grown} KiB, {ticks_quiet} timer ticks and {echoes_quiet} echoes meanwhile \
         ({echoes} in all), {:?} in all",
        started.elapsed()
    );
    assert_eq!(peer_counted, FLOOD, "the peer counted every answer");
    assert_eq!(answered, FLOOD);
    assert!(answered_quiet < FLOOD, "the tester stopped reading while the peer did not read");
    assert!(grown < 16 * 1024, "peak RSS grew by {grown} KiB");
    assert!(ticks_quiet >= 10, "only {ticks_quiet} timer ticks while flooded");
    assert!(echoes_quiet >= 5, "only {echoes_quiet} echoes while flooded");
}

/// A peer that writes as fast as it can: every `poll` returns a bounded number of events
/// and a timer still fires (the loop stops reading the stream after its budget).
#[test]
fn a_fast_sender_does_not_starve_a_timer_and_each_poll_is_bounded() {
    const MAX_EVENTS_PER_POLL: usize = 20_000;
    let (l, addr) = listener();
    let stop = Arc::new(AtomicBool::new(false));
    let peer_stop = stop.clone();
    let peer = thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let frames = bytes(&diag(ECU, TESTER, vec![0x3E])).repeat(5000);
        let started = Instant::now();
        while !peer_stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(5) {
            if s.write_all(&frames).is_err() {
                break;
            }
        }
    });
    let mut lp = EventLoop::new().unwrap();
    lp.connect(addr, ConnectOptions::default()).unwrap();
    wait_for(&mut lp, deadline(10), |e| matches!(e, Event::Message { .. }));
    let due = Instant::now() + Duration::from_millis(50);
    lp.set_timer(None, due, 7);
    let until = deadline(20);
    let (mut polls, mut messages) = (0u32, 0usize);
    let fired = 'outer: loop {
        assert!(Instant::now() < until, "no timer after {polls} polls");
        let n = lp.poll(Some(Duration::from_secs(1))).unwrap();
        polls += 1;
        assert!(n <= MAX_EVENTS_PER_POLL, "one poll produced {n} events");
        while let Some(e) = lp.next_event() {
            match e {
                Event::Timer { id: 7, .. } => break 'outer Instant::now(),
                Event::Message { .. } => messages += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    stop.store(true, Ordering::SeqCst);
    println!("timer {:?} late, after {polls} polls and {messages} messages", fired - due);
    assert!(fired - due < Duration::from_secs(3), "timer {:?} late", fired - due);
    drop(lp);
    peer.join().unwrap();
}

/// Datagrams waiting on a UDP socket are read at most 64 per `poll`; the rest follow on the
/// next `poll` at once, without a new readiness edge.
#[test]
fn a_udp_socket_reads_a_bounded_number_of_datagrams_per_poll() {
    const SENT: usize = 150;
    let mut lp = EventLoop::new().unwrap();
    let u = lp.bind_udp(UdpOptions::new("127.0.0.1:0".parse().unwrap())).unwrap();
    let addr = lp.local_addr(u).unwrap();
    let raw = UdpSocket::bind("127.0.0.1:0").unwrap();
    let request = bytes(&VehicleIdentificationRequest.into());
    for _ in 0..SENT {
        raw.send_to(&request, addr).unwrap();
    }
    let mut counts = Vec::new();
    let until = deadline(20);
    while counts.iter().sum::<usize>() < SENT {
        assert!(Instant::now() < until, "datagrams per poll: {counts:?}");
        let asked = Instant::now();
        lp.poll(Some(Duration::from_secs(30))).unwrap();
        assert!(asked.elapsed() < Duration::from_secs(10), "poll blocked with datagrams pending");
        counts.push(
            std::iter::from_fn(|| lp.next_event())
                .filter(|e| matches!(e, Event::Datagram { .. }))
                .count(),
        );
    }
    assert!(counts.iter().all(|&n| n <= 64), "datagrams per poll: {counts:?}");
}

/// Connections waiting in a listener's backlog are accepted at most 64 per `poll`.
#[test]
fn a_listener_accepts_a_bounded_number_per_poll() {
    const CLIENTS: usize = 150;
    let mut lp = EventLoop::new().unwrap();
    let l = lp.listen("127.0.0.1:0".parse().unwrap(), ListenOptions::default()).unwrap();
    let addr = lp.local_addr(l).unwrap();
    let clients: Vec<TcpStream> = (0..CLIENTS).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let mut counts = Vec::new();
    let until = deadline(20);
    while counts.iter().sum::<usize>() < CLIENTS {
        assert!(Instant::now() < until, "accepted per poll: {counts:?}");
        let asked = Instant::now();
        lp.poll(Some(Duration::from_secs(30))).unwrap();
        assert!(asked.elapsed() < Duration::from_secs(10), "poll blocked with accepts pending");
        counts.push(
            std::iter::from_fn(|| lp.next_event())
                .filter(|e| matches!(e, Event::Accepted { .. }))
                .count(),
        );
    }
    assert!(counts.iter().all(|&n| n <= 64), "accepted per poll: {counts:?}");
    drop(clients);
}

/// Messages held while a dropped connection is re-established count against
/// `max_queued_bytes`: beyond it, `send` fails with `QueueFull` instead of growing.
#[test]
fn messages_held_during_a_reconnect_are_bounded() {
    let (l, addr) = listener();
    let mut lp = EventLoop::new().unwrap();
    let options =
        ConnectOptions::default().max_queued_bytes(64 * 1024).reconnect(ReconnectPolicy {
            attempts: 3,
            delay: Duration::from_secs(30),
            ..Default::default()
        });
    let h = lp.connect(addr, options).unwrap();
    wait_for(&mut lp, deadline(10), |e| matches!(e, Event::Connected { .. }));
    drop(l.accept().unwrap());
    let (event, _) = wait_for(&mut lp, deadline(10), |e| matches!(e, Event::Disconnected { .. }));
    assert!(matches!(event, Event::Disconnected { reconnecting: true, .. }), "{event:?}");
    let block = diag(TESTER, ECU, vec![0x36; 4096]);
    let mut held = 0;
    let error = loop {
        assert!(held < 1000, "{held} messages of 4 KiB held without QueueFull");
        match lp.send(h, &block) {
            Ok(_) => held += 1,
            Err(e) => break e,
        }
    };
    assert!(matches!(error, Error::QueueFull { peer, .. } if peer == addr), "{error:?}");
    assert!(held <= 17, "{held} messages of 4 KiB held under a 64 KiB bound");
}

/// Two ends on one loop send each other 2 MiB at the same time: neither stops reading
/// because of what the *caller* queued (only the connection's own answers pause reading),
/// so this cannot deadlock.
#[test]
fn large_sends_both_ways_at_once_do_not_deadlock() {
    let mut lp = EventLoop::new().unwrap();
    let l = lp.listen("127.0.0.1:0".parse().unwrap(), ListenOptions::default()).unwrap();
    let addr = lp.local_addr(l).unwrap();
    let tester = lp.connect(addr, ConnectOptions::default()).unwrap();
    let (event, _) = wait_for(&mut lp, deadline(10), |e| matches!(e, Event::Accepted { .. }));
    let Event::Accepted { handle: entity, .. } = event else { unreachable!() };
    let big = vec![0x5A; 1 << 20];
    for _ in 0..2 {
        lp.send(tester, &diag(TESTER, ECU, big.clone())).unwrap();
        lp.send(entity, &diag(ECU, TESTER, big.clone())).unwrap();
    }
    let mut got = (0, 0);
    let until = deadline(30);
    while got != (2, 2) {
        assert!(Instant::now() < until, "messages received (tester, entity): {got:?}");
        lp.poll(Some(Duration::from_millis(100))).unwrap();
        while let Some(e) = lp.next_event() {
            if let Event::Message { handle, frame } = e {
                assert_eq!(user_data(&frame).len(), big.len());
                if handle == tester {
                    got.0 += 1;
                } else {
                    got.1 += 1;
                }
            }
        }
    }
}

#[test]
fn a_duration_max_connect_timeout_means_no_timeout() {
    let (l, addr) = listener();
    let mut lp = EventLoop::new().unwrap();
    lp.connect(addr, ConnectOptions::default().connect_timeout(Duration::MAX)).unwrap();
    wait_for(&mut lp, deadline(10), |e| matches!(e, Event::Connected { .. }));
    drop(l);
}

#[test]
fn duration_max_reconnect_delays_mean_waiting_forever() {
    let (l, addr) = listener();
    let mut lp = EventLoop::new().unwrap();
    let policy = ReconnectPolicy {
        attempts: 3,
        delay: Duration::MAX,
        backoff: 1e300,
        max_delay: Duration::MAX,
    };
    let h = lp.connect(addr, ConnectOptions::default().reconnect(policy)).unwrap();
    wait_for(&mut lp, deadline(10), |e| matches!(e, Event::Connected { .. }));
    drop(l.accept().unwrap());
    let (event, _) = wait_for(&mut lp, deadline(10), |e| matches!(e, Event::Disconnected { .. }));
    assert!(matches!(event, Event::Disconnected { reconnecting: true, .. }), "{event:?}");
    let until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < until {
        lp.poll(Some(Duration::from_millis(50))).unwrap();
        if let Some(e) = lp.next_event() {
            panic!("nothing should happen while waiting forever, got {e:?}");
        }
    }
    // Still waiting, and still closable.
    assert!(lp.send(h, &diag(TESTER, ECU, vec![1])).is_ok());
    lp.close(h);
}

/// `poll(Some(Duration::MAX))` sleeps until woken, also with timers set far in the future
/// or `Duration::MAX` from now (which never fire).
#[test]
fn poll_with_duration_max_returns_on_a_wake_up() {
    let mut lp = EventLoop::new().unwrap();
    let far = Instant::now() + Duration::from_hours(100 * 365 * 24);
    lp.set_timer(None, far, 1);
    lp.set_timer_after(None, Duration::MAX, 2);
    let waker = lp.waker();
    let woke = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        waker.wake().unwrap();
    });
    let asked = Instant::now();
    assert_eq!(lp.poll(Some(Duration::MAX)).unwrap(), 0);
    assert!(asked.elapsed() >= Duration::from_millis(50), "{:?}", asked.elapsed());
    woke.join().unwrap();
}

#[test]
fn a_duration_max_user_timer_never_fires_and_others_still_do() {
    let mut lp = EventLoop::new().unwrap();
    lp.set_timer_after(None, Duration::MAX, 1);
    lp.set_timer_after(None, Duration::from_millis(20), 2);
    let (event, _) = wait_for(&mut lp, deadline(10), |e| matches!(e, Event::Timer { .. }));
    assert!(matches!(event, Event::Timer { id: 2, .. }), "{event:?}");
    assert_eq!(lp.poll(Some(Duration::from_millis(50))).unwrap(), 0);
}
