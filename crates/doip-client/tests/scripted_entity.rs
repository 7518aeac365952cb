//! The tester against a scripted raw-socket entity that misbehaves on purpose (see
//! `common/mod.rs`): late and stale answers, NACKs meant for others, answers before or
//! without the ACK, "response pending" forever, odd routing activations, connections that
//! drop or flap, and `Duration::MAX` for every timeout. Each test asserts the exact result
//! and, where it applies, what the entity received.
#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{
    ECU, ECU2, Entity, READ_VIN, SESSION_ANSWER, Step, TESTER, VIN, ack, activate,
    activation_response, alive_check_request, announcement, entity_status, nack, on_request, pt,
    script, udp_responder, uds, vin_answer, within,
};
use doip_client::{
    AnnouncementListener, ClientBuilder, Discovery, Error, SessionConfig, Tester, TransportKind,
    await_vehicle_announcement,
};
use doip_proto::{DiagnosticNackCode, LogicalAddress, Message};

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn ecu() -> LogicalAddress {
    LogicalAddress(ECU)
}

fn builder(entity: &Entity) -> ClientBuilder {
    ClientBuilder::new(entity.addr.ip(), ecu())
        .tcp_port(entity.addr.port())
        .connect_timeout(Duration::from_secs(2))
}

/// The UDS bytes of an unsolicited diagnostic message, with its source address.
fn uds_of(message: &Message<'_>) -> (u16, Vec<u8>) {
    match message {
        Message::DiagnosticMessage(d) => (d.source_address.0, d.user_data.to_vec()),
        other => panic!("not a diagnostic message: {other:?}"),
    }
}

/// Asserts that no unsolicited TCP frame is waiting (or comes within 100 ms).
fn assert_nothing_unsolicited(client: &mut doip_client::Client) {
    let r = client.read_doip(ms(100), TransportKind::Tcp);
    assert!(matches!(r, Err(Error::Timeout { .. })), "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// Answers matched to their requests.

#[test]
fn a_late_answer_after_a_timeout_is_unsolicited_not_the_next_requests_answer() {
    let entity = Entity::start(vec![script([
        activate(),
        // 10 03 is acknowledged but answered only after the tester gave up on it…
        on_request(&[ack(ECU, TESTER, &[0x10, 0x03])]),
        // …right before the answer to the next request.
        on_request(&[
            ack(ECU, TESTER, &READ_VIN),
            uds(ECU, TESTER, &SESSION_ANSWER),
            uds(ECU, TESTER, &vin_answer()),
        ]),
    ])]);
    let mut client = builder(&entity).uds_timing(ms(200), ms(1000)).connect().unwrap();
    let r = client.request(ecu(), &[0x10, 0x03]);
    assert!(matches!(r, Err(Error::Timeout { .. })), "{r:?}");
    assert_eq!(client.request(ecu(), &READ_VIN).unwrap(), vin_answer());
    let late = client.take_unsolicited().unwrap().expect("the late answer is kept");
    assert_eq!(late.transport, TransportKind::Tcp);
    assert_eq!(uds_of(&late.frame.message), (ECU, SESSION_ANSWER.to_vec()));
    assert!(client.take_unsolicited().unwrap().is_none());
    assert_eq!(entity.uds_requests(), [vec![0x10, 0x03], READ_VIN.to_vec()]);
    entity.assert_script_ok();
}

/// The same request twice: the first times out, its answer comes late while the second is
/// about to go. The second must get its own answer, not the late one (UDS has no request ids:
/// only holding the ECU until the late answer came tells them apart).
#[test]
fn a_late_answer_is_not_taken_by_an_identical_next_request() {
    let old = [&[0x62, 0xF1, 0x90][..], b"OLD"].concat();
    let new = [&[0x62, 0xF1, 0x90][..], b"NEW"].concat();
    let entity = Entity::start(vec![script([
        activate(),
        on_request(&[ack(ECU, TESTER, &READ_VIN)]),
        vec![Step::Sleep(ms(400)), Step::Send(uds(ECU, TESTER, &old))],
        on_request(&[ack(ECU, TESTER, &READ_VIN), uds(ECU, TESTER, &new)]),
    ])]);
    let mut client = builder(&entity).uds_timing(ms(200), ms(1000)).connect().unwrap();
    let r = client.request(ecu(), &READ_VIN);
    assert!(matches!(r, Err(Error::Timeout { .. })), "{r:?}");
    assert_eq!(client.request(ecu(), &READ_VIN).unwrap(), new);
    let late = client.take_unsolicited().unwrap().expect("the late answer is kept");
    assert_eq!(uds_of(&late.frame.message), (ECU, old));
    entity.assert_script_ok();
}

/// The entity sends `stale`, then `real`, after acknowledging `request`: the tester must
/// return `real`, and `stale` must be readable as unsolicited.
fn stale_then_real(request: &[u8], stale: &[u8], real: &[u8]) {
    let entity = Entity::start(vec![script([
        activate(),
        on_request(&[ack(ECU, TESTER, request), uds(ECU, TESTER, stale), uds(ECU, TESTER, real)]),
    ])]);
    let mut client = builder(&entity).connect().unwrap();
    assert_eq!(client.request(ecu(), request).unwrap(), real);
    let frame = client.read_doip(ms(500), TransportKind::Tcp).unwrap();
    assert_eq!(uds_of(&frame.message), (ECU, stale.to_vec()));
    assert_nothing_unsolicited(&mut client);
    assert_eq!(entity.uds_requests(), [request.to_vec()]);
    entity.assert_script_ok();
}

#[test]
fn a_stale_answer_of_another_service_is_not_taken() {
    stale_then_real(&READ_VIN, &SESSION_ANSWER, &vin_answer());
}

#[test]
fn a_stale_answer_for_another_did_is_not_taken() {
    stale_then_real(&READ_VIN, &[0x62, 0xF1, 0x8C, 0x01, 0x02, 0x03], &vin_answer());
}

#[test]
fn a_late_transfer_data_answer_for_the_previous_block_is_not_taken() {
    stale_then_real(&[0x36, 0x06, 0xAA, 0xBB, 0xCC], &[0x76, 0x05], &[0x76, 0x06]);
}

// ---------------------------------------------------------------------------------------------
// Diagnostic ACK and NACK.

#[test]
fn nacks_addressed_to_another_ecu_or_tester_are_not_this_requests() {
    let entity = Entity::start(vec![script([
        activate(),
        on_request(&[
            nack(0x1234, TESTER, 0x03, &READ_VIN), // from another ECU
            nack(ECU, 0x0E01, 0x03, &READ_VIN),    // to another tester
            ack(ECU, TESTER, &READ_VIN),
            uds(ECU, TESTER, &vin_answer()),
        ]),
    ])]);
    let mut client = builder(&entity).connect().unwrap();
    assert_eq!(client.request(ecu(), &READ_VIN).unwrap(), vin_answer());
    assert_eq!(client.counters().nacks, 0);
    // Both foreign NACKs are unsolicited, in arrival order.
    for source in [0x1234, ECU] {
        match client.read_doip(ms(500), TransportKind::Tcp).unwrap().message {
            Message::DiagnosticMessageNegativeAck(n) => assert_eq!(n.source_address.0, source),
            other => panic!("{other:?}"),
        }
    }
    assert_nothing_unsolicited(&mut client);
    assert_eq!(entity.times_received(&READ_VIN), 1);
    entity.assert_script_ok();
}

#[test]
fn a_nack_with_the_right_addresses_fails_the_request_with_its_code() {
    let entity = Entity::start(vec![script([
        activate(),
        on_request(&[nack(ECU, TESTER, 0x06, &READ_VIN)]),
        on_request(&[ack(ECU, TESTER, &[0x3E, 0x00]), uds(ECU, TESTER, &[0x7E, 0x00])]),
    ])]);
    let mut client = builder(&entity).connect().unwrap();
    match client.request(ecu(), &READ_VIN) {
        Err(Error::DiagnosticNack { target, code, .. }) => {
            assert_eq!(target, ecu());
            assert_eq!(code, DiagnosticNackCode::TargetUnreachable);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(client.counters().nacks, 1);
    // The connection stays usable.
    assert_eq!(client.request(ecu(), &[0x3E, 0x00]).unwrap(), [0x7E, 0x00]);
    entity.assert_script_ok();
}

#[test]
fn an_answer_before_its_ack_is_delivered() {
    let entity = Entity::start(vec![script([
        activate(),
        on_request(&[uds(ECU, TESTER, &vin_answer()), ack(ECU, TESTER, &READ_VIN)]),
    ])]);
    let mut client = builder(&entity).connect().unwrap();
    assert_eq!(client.request(ecu(), &READ_VIN).unwrap(), vin_answer());
    assert_nothing_unsolicited(&mut client);
    entity.assert_script_ok();
}

#[test]
fn an_answer_without_any_ack_is_delivered_after_the_ack_timeout() {
    let entity =
        Entity::start(vec![script([activate(), on_request(&[uds(ECU, TESTER, &vin_answer())])])]);
    let mut client = builder(&entity).ack_timeout(ms(300)).connect().unwrap();
    let started = Instant::now();
    assert_eq!(client.request(ecu(), &READ_VIN).unwrap(), vin_answer());
    let took = started.elapsed();
    assert!(took >= ms(300), "answered after {took:?}, before the ACK timeout");
    assert!(took < Duration::from_secs(5), "{took:?}");
    entity.assert_script_ok();
}

#[test]
fn response_pending_forever_ends_at_the_pending_cap() {
    let request = [0x31, 0x01, 0xFF, 0x00];
    let entity = Entity::start(vec![script([
        activate(),
        on_request(&[ack(ECU, TESTER, &request)]),
        // 7F 31 78 every 50 ms, for 5 s at most.
        vec![Step::Repeat {
            bytes: uds(ECU, TESTER, &[0x7F, 0x31, 0x78]),
            every: ms(50),
            times: 100,
        }],
    ])]);
    let mut client =
        builder(&entity).uds_timing(ms(200), ms(200)).max_pending(ms(500)).connect().unwrap();
    let started = Instant::now();
    let r = client.request(ecu(), &request);
    let took = started.elapsed();
    match r {
        Err(Error::PendingLimit { target, service, waited }) => {
            assert_eq!(target, ecu());
            assert_eq!(service, 0x31);
            assert!(waited >= ms(500), "{waited:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(took >= ms(500), "{took:?}");
    assert!(took < Duration::from_millis(2500), "the cap is 500 ms, took {took:?}");
    entity.assert_script_ok();
}

// ---------------------------------------------------------------------------------------------
// Routing activation.

#[test]
fn an_activation_answer_for_another_tester_is_not_ours() {
    let entity = Entity::start(vec![script([
        vec![
            Step::Expect(pt::ACTIVATION_REQUEST),
            Step::Send(
                [activation_response(0x0E01, 0x10), activation_response(TESTER, 0x10)].concat(),
            ),
        ],
        on_request(&[ack(ECU, TESTER, &[0x3E, 0x00]), uds(ECU, TESTER, &[0x7E, 0x00])]),
    ])]);
    let mut client = builder(&entity).connect().unwrap();
    assert_eq!(client.request(ecu(), &[0x3E, 0x00]).unwrap(), [0x7E, 0x00]);
    match client.read_doip(ms(500), TransportKind::Tcp).unwrap().message {
        Message::RoutingActivationResponse(r) => assert_eq!(r.tester_address.0, 0x0E01),
        other => panic!("{other:?}"),
    }
    entity.assert_script_ok();
}

#[test]
fn activation_waits_through_confirmation_required() {
    let entity = Entity::start(vec![vec![
        Step::Expect(pt::ACTIVATION_REQUEST),
        Step::Send(activation_response(TESTER, 0x11)),
        Step::Sleep(ms(300)),
        Step::Send(activation_response(TESTER, 0x10)),
    ]]);
    let started = Instant::now();
    let client = builder(&entity).connect().unwrap();
    assert!(started.elapsed() >= ms(300), "{:?}", started.elapsed());
    drop(client);
    assert_eq!(entity.count(pt::ACTIVATION_REQUEST), 1);
    entity.assert_script_ok();
}

#[test]
fn activation_has_its_own_timeout_not_p2_and_alive_checks_are_answered_meanwhile() {
    let entity = Entity::start(vec![script([
        vec![
            Step::Expect(pt::ACTIVATION_REQUEST),
            Step::Send(alive_check_request()),
            Step::Expect(pt::ALIVE_CHECK_RESPONSE),
            Step::Sleep(ms(300)),
            Step::Send(activation_response(TESTER, 0x10)),
        ],
        on_request(&[ack(ECU, TESTER, &[0x3E, 0x00]), uds(ECU, TESTER, &[0x7E, 0x00])]),
    ])]);
    let started = Instant::now();
    let mut client = builder(&entity).uds_timing(ms(20), ms(100)).connect().unwrap();
    assert!(started.elapsed() >= ms(300), "{:?}", started.elapsed());
    assert_eq!(client.request(ecu(), &[0x3E, 0x00]).unwrap(), [0x7E, 0x00]);
    let alive: Vec<_> = entity
        .received()
        .into_iter()
        .filter(|r| r.payload_type == pt::ALIVE_CHECK_RESPONSE)
        .collect();
    assert_eq!(alive.len(), 1);
    assert_eq!(alive[0].payload, TESTER.to_be_bytes());
    entity.assert_script_ok();
}

#[test]
fn every_activation_denial_is_a_typed_error_with_its_code() {
    let codes = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0xE0];
    let entity = Entity::start(
        codes
            .iter()
            .map(|&code| {
                vec![
                    Step::Expect(pt::ACTIVATION_REQUEST),
                    Step::Send(activation_response(TESTER, code)),
                ]
            })
            .collect(),
    );
    for code in codes {
        let started = Instant::now();
        match builder(&entity).connect() {
            Err(Error::ActivationDenied { code: got, peer, .. }) => {
                assert_eq!(got.value(), code);
                assert_eq!(peer, entity.addr);
            }
            other => panic!("code {code:#04x}: {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(2), "code {code:#04x}");
    }
    assert_eq!(entity.accepted(), codes.len());
    entity.assert_script_ok();
}

// ---------------------------------------------------------------------------------------------
// Connections that drop.

#[test]
fn a_written_request_is_never_resent_after_the_connection_drops() {
    let entity = Entity::start(vec![
        // ECUReset arrives, then the entity closes without a word.
        script([activate(), vec![Step::Expect(pt::DIAGNOSTIC), Step::Close]]),
        // A resend would arrive here first.
        script([
            activate(),
            on_request(&[ack(ECU, TESTER, &[0x3E, 0x00]), uds(ECU, TESTER, &[0x7E, 0x00])]),
        ]),
    ]);
    let mut client = builder(&entity).auto_reconnect_tcp(true).connect().unwrap();
    match client.request(ecu(), &[0x11, 0x01]) {
        Err(Error::MaybeDelivered { target, .. }) => assert_eq!(target, ecu()),
        other => panic!("{other:?}"),
    }
    // The next request reconnects.
    assert_eq!(client.request(ecu(), &[0x3E, 0x00]).unwrap(), [0x7E, 0x00]);
    assert_eq!(entity.times_received(&[0x11, 0x01]), 1, "{:?}", entity.uds_requests());
    assert_eq!(entity.uds_requests(), [vec![0x11, 0x01], vec![0x3E, 0x00]]);
    assert_eq!(entity.accepted(), 2);
    entity.assert_script_ok();
}

#[test]
fn a_close_between_requests_reconnects_and_sends_the_next_request_once() {
    let answered = || on_request(&[ack(ECU, TESTER, &READ_VIN), uds(ECU, TESTER, &vin_answer())]);
    let entity = Entity::start(vec![
        script([activate(), answered(), vec![Step::Close]]),
        script([activate(), answered()]),
    ]);
    let mut client = builder(&entity).auto_reconnect_tcp(true).connect().unwrap();
    assert_eq!(client.request(ecu(), &READ_VIN).unwrap(), vin_answer());
    std::thread::sleep(ms(300)); // the close arrives
    assert_eq!(client.request(ecu(), &READ_VIN).unwrap(), vin_answer());
    let requests: Vec<usize> =
        entity.received().iter().filter(|r| r.uds().is_some()).map(|r| r.conn).collect();
    assert_eq!(requests, [0, 1], "one request on each connection");
    assert_eq!(entity.count(pt::ACTIVATION_REQUEST), 2);
    assert_eq!(entity.accepted(), 2);
    assert_eq!(client.counters().reconnects, 1);
    entity.assert_script_ok();
}

#[test]
fn a_reconnect_through_a_flapping_handshake_succeeds_within_its_window() {
    let close_after_activation_request = || vec![Step::Expect(pt::ACTIVATION_REQUEST), Step::Close];
    let entity = Entity::start(vec![
        activate(),
        vec![Step::Close], // accepted and closed at once
        vec![Step::Close],
        close_after_activation_request(),
        close_after_activation_request(),
        script([
            activate(),
            on_request(&[ack(ECU, TESTER, &[0x3E, 0x00]), uds(ECU, TESTER, &[0x7E, 0x00])]),
        ]),
    ]);
    let mut client = builder(&entity).connect_timeout(Duration::from_secs(3)).connect().unwrap();
    let started = Instant::now();
    client.reconnect(Duration::ZERO).unwrap();
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(entity.accepted(), 6);
    assert_eq!(client.request(ecu(), &[0x3E, 0x00]).unwrap(), [0x7E, 0x00]);
    assert_eq!(entity.count(pt::ACTIVATION_REQUEST), 4); // #0, #3, #4, #5
    entity.assert_script_ok();
}

#[test]
fn a_reconnect_fails_typed_when_the_flapping_outlasts_its_window() {
    let mut scripts = vec![activate()];
    scripts.extend((0..60).map(|_| vec![Step::Close]));
    let entity = Entity::start(scripts);
    let mut client = builder(&entity).connect_timeout(ms(500)).connect().unwrap();
    let started = Instant::now();
    let r = client.reconnect(Duration::ZERO);
    let took = started.elapsed();
    assert!(matches!(r, Err(Error::Transport(_))), "{r:?}");
    assert!(took >= ms(500), "gave up after {took:?}, inside the window");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(entity.accepted() >= 3, "{} connections", entity.accepted());
    entity.assert_script_ok();
}

// ---------------------------------------------------------------------------------------------
// `Duration::MAX` wherever a timeout is taken: never a panic.

const LIMIT: Duration = Duration::from_secs(10);

/// Connects with every builder timeout `Duration::MAX` (the connect timeout too when
/// `connect_max`), reads the VIN through a "response pending" and asks the entity status over
/// UDP.
fn client_with_duration_max_timeouts(connect_max: bool) {
    let entity = Entity::start(vec![script([
        activate(),
        on_request(&[ack(ECU, TESTER, &READ_VIN), uds(ECU, TESTER, &[0x7F, 0x22, 0x78])]),
        vec![Step::Sleep(ms(100)), Step::Send(uds(ECU, TESTER, &vin_answer()))],
    ])]);
    let udp = udp_responder(entity_status(), 1);
    let (ip, port) = (entity.addr.ip(), entity.addr.port());
    within(LIMIT, move || {
        let max = Duration::MAX;
        let mut client = ClientBuilder::new(ip, ecu())
            .tcp_port(port)
            .udp_port(udp.port())
            .connect_timeout(if connect_max { max } else { Duration::from_secs(2) })
            .activation_timeout(max)
            .ack_timeout(max)
            .udp_timeout(max)
            .uds_timing(max, max)
            .max_pending(max)
            .connect()
            .unwrap();
        assert_eq!(client.request(ecu(), &READ_VIN).unwrap(), vin_answer());
        assert_eq!(client.request_entity_status().unwrap().max_data_size, Some(0x0FFF));
    });
    entity.assert_script_ok();
}

#[test]
fn a_client_with_every_timeout_duration_max_connects_and_completes_a_request() {
    client_with_duration_max_timeouts(true);
}

/// The same with a finite connect timeout: tells a connect-timeout overflow apart from the
/// session's timeouts.
#[test]
fn a_client_with_every_timeout_but_the_connect_timeout_duration_max_completes_a_request() {
    client_with_duration_max_timeouts(false);
}

#[test]
fn receive_diagnostic_duration_max_returns_when_the_answer_comes() {
    let entity = Entity::start(vec![script([
        activate(),
        on_request(&[ack(ECU, TESTER, &READ_VIN)]),
        vec![Step::Sleep(ms(100)), Step::Send(uds(ECU, TESTER, &vin_answer()))],
    ])]);
    let b = builder(&entity);
    within(LIMIT, move || {
        let mut client = b.connect().unwrap();
        client.send_diagnostic(&READ_VIN).unwrap();
        assert_eq!(client.receive_diagnostic(Duration::MAX).unwrap(), vin_answer());
    });
    entity.assert_script_ok();
}

/// Connects `tester` to `entity` with `connect_all(Duration::MAX)`, reads the VIN with
/// `start_request(.., Duration::MAX)` and `poll(Duration::MAX)`.
fn tester_reads_the_vin_with_duration_max(mut tester: Tester, entity: &Entity) {
    let addr = entity.addr;
    within(LIMIT, move || {
        let id = tester.add(addr, ecu()).unwrap();
        assert!(tester.connect_all(Duration::MAX).unwrap().is_empty());
        tester.start_request(id, &READ_VIN, Duration::MAX).unwrap();
        let mut result = None;
        for _ in 0..100 {
            tester.poll(Duration::MAX).unwrap();
            result = tester.take_result(id);
            if result.is_some() {
                break;
            }
        }
        assert_eq!(result.expect("an answer").unwrap(), vin_answer());
    });
}

fn slow_vin_entity() -> Entity {
    Entity::start(vec![script([
        activate(),
        vec![
            Step::Expect(pt::DIAGNOSTIC),
            Step::Sleep(ms(100)),
            Step::Send(ack(ECU, TESTER, &READ_VIN)),
            Step::Sleep(ms(100)),
            Step::Send(uds(ECU, TESTER, &vin_answer())),
        ],
    ])])
}

#[test]
fn tester_start_request_poll_and_connect_all_take_duration_max() {
    let entity = slow_vin_entity();
    tester_reads_the_vin_with_duration_max(Tester::new(LogicalAddress(TESTER)).unwrap(), &entity);
    entity.assert_script_ok();
}

#[test]
fn a_tester_whose_every_session_timeout_is_duration_max_polls_with_duration_max() {
    let entity = slow_vin_entity();
    let mut config = SessionConfig::new(entity.addr);
    config.activation_timeout = Duration::MAX;
    config.confirmation_timeout = Duration::MAX;
    config.ack_timeout = Duration::MAX;
    config.p2 = Duration::MAX;
    config.p2_star = Duration::MAX;
    config.max_pending = Duration::MAX;
    config.alive_check_timeout = Duration::MAX;
    config.udp_timeout = Duration::MAX;
    config.reconnect_window = Duration::MAX;
    tester_reads_the_vin_with_duration_max(Tester::with_config(config).unwrap(), &entity);
    entity.assert_script_ok();
}

#[test]
fn discovery_with_a_duration_max_timeout_returns_the_first_answer() {
    let responder = udp_responder(announcement(0x4010), 1);
    let entity =
        within(LIMIT, move || Discovery::to(responder).timeout(Duration::MAX).first()).unwrap();
    assert_eq!(entity.address, responder);
    assert_eq!(entity.announcement.vin.to_string().as_bytes(), VIN);
    assert_eq!(entity.announcement.logical_address, LogicalAddress(0x4010));
}

#[test]
fn an_announcement_listener_waits_duration_max_for_an_announcement() {
    let mut listener = AnnouncementListener::bind(0, false, 0).unwrap();
    let port = listener.port();
    std::thread::spawn(move || {
        std::thread::sleep(ms(100));
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.send_to(&announcement(0x4010), ("127.0.0.1", port)).unwrap();
    });
    let entity = within(LIMIT, move || listener.next(Duration::MAX)).unwrap();
    assert_eq!(entity.announcement.vin.to_string().as_bytes(), VIN);
}

#[test]
fn await_vehicle_announcement_takes_duration_max() {
    // A free port; announcements go to it every 50 ms (for 5 s at most) until one is heard.
    let port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let heard = Arc::new(AtomicBool::new(false));
    let stop = heard.clone();
    std::thread::spawn(move || {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..100 {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let _ = socket.send_to(&announcement(0x4010), ("127.0.0.1", port));
            std::thread::sleep(ms(50));
        }
    });
    let entity =
        within(LIMIT, move || await_vehicle_announcement(port, Duration::MAX, false, None));
    heard.store(true, Ordering::SeqCst);
    assert_eq!(entity.unwrap().announcement.logical_address, LogicalAddress(0x4010));
}

// ---------------------------------------------------------------------------------------------
// The poll-driven tester.

#[test]
fn tester_ecus_behind_one_entity_answered_in_reverse_order_each_get_their_own_answer() {
    let answer_a = [&[0x62, 0xF1, 0x90][..], b"ECU-A-VIN-0000001"].concat();
    let answer_b = [&[0x62, 0xF1, 0x90][..], b"ECU-B-VIN-0000002"].concat();
    let entity = Entity::start(vec![script([
        activate(),
        vec![
            Step::Expect(pt::DIAGNOSTIC),
            Step::Expect(pt::DIAGNOSTIC),
            Step::Send(
                [
                    ack(ECU, TESTER, &READ_VIN),
                    ack(ECU2, TESTER, &READ_VIN),
                    uds(ECU2, TESTER, &answer_b),
                    uds(ECU, TESTER, &answer_a),
                ]
                .concat(),
            ),
        ],
    ])]);
    let mut tester = Tester::new(LogicalAddress(TESTER)).unwrap();
    let a = tester.add(entity.addr, LogicalAddress(ECU)).unwrap();
    let b = tester.add(entity.addr, LogicalAddress(ECU2)).unwrap();
    assert!(tester.connect_all(Duration::from_secs(5)).unwrap().is_empty());
    tester.start_request(a, &READ_VIN, Duration::from_secs(5)).unwrap();
    tester.start_request(b, &READ_VIN, Duration::from_secs(5)).unwrap();
    let (mut got_a, mut got_b) = (None, None);
    for _ in 0..100 {
        tester.poll(ms(50)).unwrap();
        got_a = got_a.or_else(|| tester.take_result(a));
        got_b = got_b.or_else(|| tester.take_result(b));
        if got_a.is_some() && got_b.is_some() {
            break;
        }
    }
    assert_eq!(got_a.expect("ECU A answered").unwrap(), answer_a);
    assert_eq!(got_b.expect("ECU B answered").unwrap(), answer_b);
    let targets: Vec<u16> = entity.received().iter().filter_map(common::Received::target).collect();
    assert_eq!(targets, [ECU, ECU2]);
    assert_eq!(entity.accepted(), 1);
    entity.assert_script_ok();
}

/// doipclient's `client_ip_address` binds the UDP socket as well as the TCP one: both
/// requests leave from that address.
#[test]
fn client_ip_address_binds_tcp_and_udp() {
    let entity = Entity::start(vec![activate()]);
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let udp_port = udp.local_addr().unwrap().port();
    let seen = std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        let (_, from) = udp.recv_from(&mut buf).unwrap();
        udp.send_to(&entity_status(), from).unwrap();
        from
    });
    let local: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    let mut client =
        builder(&entity).udp_port(udp_port).client_ip_address(local).connect().unwrap();
    client.request_entity_status().unwrap();
    assert_eq!(seen.join().unwrap().ip(), local, "the UDP request's source");
    assert_eq!(entity.peers()[0].ip(), local, "the TCP connection's source");
}
