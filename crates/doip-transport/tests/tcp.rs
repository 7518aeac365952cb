//! TCP behaviour of the transport against raw `std::net` peers on loopback.
#![allow(clippy::unwrap_used)] // test helpers fail loudly
#![allow(clippy::many_single_char_names)] // s = socket, t = transport, h = handle, l = listener

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

use common::*;
use doip_proto::{AliveCheckRequest, GenericNackCode, Message, RoutingActivationRequest};
use doip_transport::{
    Blocking, ConnectOptions, Error, Event, EventLoop, ListenOptions, ReconnectPolicy,
};

#[test]
fn frames_written_one_byte_at_a_time_arrive_whole() {
    let (l, addr) = listener();
    let peer = thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_nodelay(true).unwrap();
        for i in 0..20u8 {
            for b in bytes(&diag(ECU, TESTER, vec![i; usize::from(i) + 1])) {
                s.write_all(&[b]).unwrap();
            }
        }
    });
    let mut t = Blocking::new().unwrap();
    let h = t.connect(addr, ConnectOptions::default()).unwrap();
    for i in 0..20u8 {
        assert_eq!(recv_data(&mut t, h), vec![i; usize::from(i) + 1]);
    }
    peer.join().unwrap();
}

#[test]
fn many_frames_in_one_write_all_arrive_in_order() {
    let (l, addr) = listener();
    let peer = thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let all: Vec<u8> =
            (0..500u16).flat_map(|i| bytes(&diag(ECU, TESTER, i.to_be_bytes().to_vec()))).collect();
        s.write_all(&all).unwrap();
    });
    let mut t = Blocking::new().unwrap();
    let h = t.connect(addr, ConnectOptions::default()).unwrap();
    for i in 0..500u16 {
        assert_eq!(recv_data(&mut t, h), i.to_be_bytes());
    }
    peer.join().unwrap();
}

#[test]
fn megabyte_payloads_travel_both_ways() {
    let (l, addr) = listener();
    let big: Vec<u8> = (0..(1usize << 20) + 123).map(|i| (i * 7) as u8).collect();
    let expected = big.clone();
    let peer = thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let frame = read_frame(&mut s);
        assert_eq!(user_data(&frame), expected);
        let reply: Vec<u8> = expected.iter().rev().copied().collect();
        write(&mut s, &diag(ECU, TESTER, reply));
    });
    let mut t = Blocking::new().unwrap();
    let h = t.connect(addr, ConnectOptions::default()).unwrap();
    t.send(h, &diag(TESTER, ECU, big.clone())).unwrap();
    let reply = recv_data(&mut t, h);
    assert_eq!(reply.len(), big.len());
    assert!(reply.iter().eq(big.iter().rev()));
    peer.join().unwrap();
}

#[test]
fn alive_check_is_answered_while_the_caller_waits_for_something_else() {
    let (l, addr) = listener();
    let peer = thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let activation = read_frame(&mut s);
        assert!(matches!(activation.message, Message::RoutingActivationRequest(_)));
        thread::sleep(Duration::from_millis(100));
        write(&mut s, &AliveCheckRequest.into());
        // The tester answers with the source address it activated with, within 500 ms.
        s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        let answer = read_frame(&mut s);
        match answer.message {
            Message::AliveCheckResponse(r) => assert_eq!(r.source_address.0, 0x0E80),
            other => panic!("expected an alive check response, got {other}"),
        }
        write(&mut s, &diag(ECU, TESTER, vec![0x7E, 0x00]));
    });
    let mut t = Blocking::new().unwrap();
    let options = ConnectOptions::default().tester_address(doip_proto::LogicalAddress(0x0E80));
    let h = t.connect(addr, options).unwrap();
    t.send(h, &RoutingActivationRequest::new(doip_proto::LogicalAddress(0x0E80)).into()).unwrap();
    // Blocked waiting for the UDS answer while the alive check comes and goes.
    assert_eq!(recv_data(&mut t, h), [0x7E, 0x00]);
    peer.join().unwrap();
}

#[test]
fn idle_connections_answer_alive_checks_with_the_background_driver() {
    let (l, addr) = listener();
    let mut t = Blocking::spawn().unwrap();
    let h = t.connect(addr, ConnectOptions::default()).unwrap();
    let (mut s, _) = l.accept().unwrap();
    for _ in 0..3 {
        // The caller does nothing at all meanwhile.
        write(&mut s, &AliveCheckRequest.into());
        s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        let answer = read_frame(&mut s);
        assert!(
            matches!(answer.message, Message::AliveCheckResponse(r) if r.source_address == TESTER)
        );
        thread::sleep(Duration::from_millis(50));
    }
    t.close(h).unwrap();
}

#[test]
fn a_bad_header_from_the_peer_gets_the_spec_nack() {
    let (l, addr) = listener();
    // The background driver answers while this thread plays the peer.
    let mut t = Blocking::spawn().unwrap();
    let h = t.connect(addr, ConnectOptions::default()).unwrap();
    let (mut s, _) = l.accept().unwrap();
    // Too large for our limit: NACK 0x02, payload skipped, connection kept.
    s.write_all(&[0x02, 0xfd, 0x80, 0x01, 0x7f, 0xff, 0xff, 0xff]).unwrap();
    let nack = read_frame(&mut s);
    assert!(
        matches!(nack.message, Message::GenericNack(n) if n.code == GenericNackCode::MessageTooLarge)
    );
    assert!(matches!(t.recv_frame(h, deadline(5)), Err(Error::Protocol { .. })));
    // Wrong inverse version: NACK 0x00 and the tester closes.
    let mut fresh = Blocking::spawn().unwrap();
    let h2 = fresh.connect(addr, ConnectOptions::default()).unwrap();
    let (mut s2, _) = l.accept().unwrap();
    s2.write_all(&[0x02, 0x02, 0x80, 0x01, 0, 0, 0, 5, 0x40, 0x10, 0x0e, 0x00, 0x7e]).unwrap();
    let nack = read_frame(&mut s2);
    assert!(
        matches!(nack.message, Message::GenericNack(n) if n.code == GenericNackCode::IncorrectPatternFormat)
    );
    let mut rest = Vec::new();
    s2.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(s2.read_to_end(&mut rest).unwrap(), 0, "the tester closed the socket");
    assert!(matches!(fresh.recv_frame(h2, deadline(5)), Err(Error::Protocol { .. })));
    t.close(h).unwrap();
}

#[test]
fn a_received_nack_is_a_typed_error() {
    let (l, addr) = listener();
    let mut t = Blocking::new().unwrap();
    let h = t.connect(addr, ConnectOptions::default()).unwrap();
    let (mut s, _) = l.accept().unwrap();
    s.write_all(&[0x02, 0xfd, 0x00, 0x00, 0, 0, 0, 1, 0x04]).unwrap();
    match t.recv_frame(h, deadline(5)) {
        Err(Error::Nack { code, .. }) => assert_eq!(code, GenericNackCode::InvalidPayloadLength),
        other => panic!("expected a NACK error, got {other:?}"),
    }
}

#[test]
fn connect_errors_name_the_peer() {
    let (l, addr) = listener();
    drop(l);
    let mut t = Blocking::new().unwrap();
    match t.connect(addr, ConnectOptions::default()) {
        Err(Error::Refused { peer }) => assert_eq!(peer, addr),
        other => panic!("expected refused, got {other:?}"),
    }
}

#[test]
fn ipv6_loopback_works() {
    let l = std::net::TcpListener::bind("[::1]:0").unwrap();
    let addr = l.local_addr().unwrap();
    let peer = thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let f = read_frame(&mut s);
        write(&mut s, &diag(ECU, TESTER, user_data(&f)));
    });
    let mut t = Blocking::new().unwrap();
    let h = t.connect(addr, ConnectOptions::default()).unwrap();
    t.send(h, &diag(TESTER, ECU, vec![0x22, 0xF1, 0x90])).unwrap();
    assert_eq!(recv_data(&mut t, h), [0x22, 0xF1, 0x90]);
    peer.join().unwrap();
}

/// The peer closes; the transport reconnects; messages queued meanwhile wait until the
/// caller has re-activated routing, then arrive exactly once and in order.
#[test]
fn reconnect_holds_queued_messages_until_resumed() {
    let (l, addr) = listener();
    let peer = thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        assert_eq!(user_data(&read_frame(&mut s)), [1]);
        drop(s); // the ECU resets
        let (mut s, _) = l.accept().unwrap();
        let first = read_frame(&mut s);
        assert!(matches!(first.message, Message::RoutingActivationRequest(_)), "activation first");
        let got: Vec<Vec<u8>> = (0..3).map(|_| user_data(&read_frame(&mut s))).collect();
        assert_eq!(got, [[2], [3], [4]]);
        write(&mut s, &diag(ECU, TESTER, vec![0xAA]));
        s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        let mut extra = [0u8; 1];
        assert!(s.read(&mut extra).is_err() || extra == [0], "nothing sent twice");
    });
    let mut lp = EventLoop::new().unwrap();
    let options = ConnectOptions::default().reconnect(ReconnectPolicy {
        attempts: 5,
        delay: Duration::from_millis(50),
        ..ReconnectPolicy::default()
    });
    let h = lp.connect(addr, options).unwrap();
    wait_for(&mut lp, deadline(5), |e| matches!(e, Event::Connected { .. }));
    lp.send(h, &diag(TESTER, ECU, vec![1])).unwrap();
    let (event, _) = wait_for(&mut lp, deadline(5), |e| matches!(e, Event::Disconnected { .. }));
    assert!(matches!(event, Event::Disconnected { reconnecting: true, .. }), "{event:?}");
    lp.send(h, &diag(TESTER, ECU, vec![2])).unwrap();
    lp.send(h, &diag(TESTER, ECU, vec![3])).unwrap();
    // Raw sends are held the same way.
    lp.send_raw(h, bytes(&diag(TESTER, ECU, vec![4]))).unwrap();
    wait_for(&mut lp, deadline(5), |e| matches!(e, Event::Reconnected { .. }));
    lp.send(h, &RoutingActivationRequest::new(TESTER).into()).unwrap();
    lp.resume(h).unwrap();
    let (event, others) = wait_for(&mut lp, deadline(5), |e| matches!(e, Event::Message { .. }));
    assert!(others.iter().all(|e| !matches!(e, Event::SendFailed { .. })), "{others:?}");
    let Event::Message { frame, .. } = event else { unreachable!() };
    assert_eq!(user_data(&frame), [0xAA]);
    peer.join().unwrap();
}

/// Without a reconnect policy every message that could not be written is reported.
#[test]
fn messages_left_at_a_disconnect_are_reported_failed() {
    let (l, addr) = listener();
    let mut lp = EventLoop::new().unwrap();
    let h = lp.connect(addr, ConnectOptions::default()).unwrap();
    wait_for(&mut lp, deadline(5), |e| matches!(e, Event::Connected { .. }));
    let (s, _) = l.accept().unwrap();
    drop(s);
    let (event, _) = wait_for(&mut lp, deadline(5), |e| matches!(e, Event::Disconnected { .. }));
    assert!(matches!(event, Event::Disconnected { reconnecting: false, .. }));
    assert!(matches!(lp.send(h, &diag(TESTER, ECU, vec![1])), Err(Error::UnknownHandle(_))));
}

#[test]
fn queued_messages_of_a_closed_connection_are_reported_failed() {
    let (l, addr) = listener();
    let mut lp = EventLoop::new().unwrap();
    let h = lp.connect(addr, ConnectOptions::default()).unwrap();
    // Queued while still connecting, then closed before they could be written.
    let ids: Vec<_> = (0..3).map(|i| lp.send(h, &diag(TESTER, ECU, vec![i])).unwrap()).collect();
    lp.close(h);
    let failed: Vec<_> = std::iter::from_fn(|| lp.next_event())
        .filter_map(|e| match e {
            Event::SendFailed { id, .. } => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(failed, ids);
    drop(l);
}

/// 200 testers and their entity-side connections on one loop, 100 round trips each.
#[test]
fn two_hundred_connections_on_one_loop() {
    const CONNECTIONS: usize = 200;
    const ROUNDS: u32 = 100;
    let mut lp = EventLoop::new().unwrap();
    let listener = lp.listen("127.0.0.1:0".parse().unwrap(), ListenOptions::default()).unwrap();
    let addr: SocketAddr = lp.local_addr(listener).unwrap();
    let testers: Vec<_> =
        (0..CONNECTIONS).map(|_| lp.connect(addr, ConnectOptions::default()).unwrap()).collect();
    let mut rounds = vec![0u32; CONNECTIONS];
    let index = |h| testers.iter().position(|t| *t == h);
    for &t in &testers {
        lp.send(t, &diag(TESTER, ECU, 0u32.to_be_bytes().to_vec())).unwrap();
    }
    let until = deadline(60);
    let mut done = 0;
    while done < CONNECTIONS {
        assert!(std::time::Instant::now() < until, "{done} of {CONNECTIONS} finished");
        lp.poll(Some(Duration::from_millis(100))).unwrap();
        while let Some(event) = lp.next_event() {
            let Event::Message { handle, frame } = event else { continue };
            let data = user_data(&frame);
            match index(handle) {
                // Entity side: echo.
                None => {
                    lp.send(handle, &diag(ECU, TESTER, data)).unwrap();
                }
                // Tester side: count and send the next round.
                Some(i) => {
                    assert_eq!(data, rounds[i].to_be_bytes(), "connection {i}");
                    rounds[i] += 1;
                    if rounds[i] == ROUNDS {
                        done += 1;
                    } else {
                        lp.send(handle, &diag(TESTER, ECU, rounds[i].to_be_bytes().to_vec()))
                            .unwrap();
                    }
                }
            }
        }
    }
    assert!(rounds.iter().all(|&r| r == ROUNDS));
}

#[test]
fn plain_std_peer_sees_tcp_nodelay_latency() {
    // A tester's single small request goes out at once (no Nagle delay): 50 round trips
    // against a peer that answers each request finish far below Nagle's 40 ms per trip.
    let (l, addr) = listener();
    let peer = thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_nodelay(true).unwrap();
        for _ in 0..50 {
            let f = read_frame(&mut s);
            write(&mut s, &diag(ECU, TESTER, user_data(&f)));
        }
    });
    let mut t = Blocking::new().unwrap();
    let h = t.connect(addr, ConnectOptions::default()).unwrap();
    let start = std::time::Instant::now();
    for i in 0..50u8 {
        t.send(h, &diag(TESTER, ECU, vec![i])).unwrap();
        assert_eq!(recv_data(&mut t, h), [i]);
    }
    assert!(start.elapsed() < Duration::from_secs(1), "{:?}", start.elapsed());
    peer.join().unwrap();
    let _ = TcpStream::connect(addr);
}

#[test]
fn user_timers_fire_in_order() {
    let mut lp = EventLoop::new().unwrap();
    let now = std::time::Instant::now();
    lp.set_timer(None, now + Duration::from_millis(60), 2);
    lp.set_timer(None, now + Duration::from_millis(20), 1);
    let (first, _) = wait_for(&mut lp, deadline(5), |e| matches!(e, Event::Timer { .. }));
    let (second, _) = wait_for(&mut lp, deadline(5), |e| matches!(e, Event::Timer { .. }));
    assert!(matches!(first, Event::Timer { id: 1, handle: None }));
    assert!(matches!(second, Event::Timer { id: 2, handle: None }));
    assert!(now.elapsed() >= Duration::from_millis(60));
}

/// Regression: in background mode a message the loop thread has already read is returned at
/// once, not after the caller's deadline (a 2 s stall here once let an entity's initial
/// inactivity timer close fresh connections).
#[test]
fn background_mode_returns_already_read_messages_at_once() {
    let (l, addr) = listener();
    let mut t = Blocking::spawn().unwrap();
    let h = t.connect(addr, ConnectOptions::default()).unwrap();
    let (mut s, _) = l.accept().unwrap();
    write(&mut s, &diag(ECU, TESTER, vec![0x7E, 0x00]));
    thread::sleep(Duration::from_millis(200)); // the loop thread reads it meanwhile
    let asked = std::time::Instant::now();
    assert_eq!(user_data(&t.recv_frame(h, deadline(10)).unwrap()), [0x7E, 0x00]);
    assert!(asked.elapsed() < Duration::from_secs(1), "waited {:?}", asked.elapsed());
}
