//! The TesterPresent keeper and per-ECU UDS timing.
#![allow(clippy::unwrap_used)] // tests fail loudly

use super::*;

const EVERY: Duration = Duration::from_secs(2);

fn patient() -> SessionConfig {
    let mut c = config();
    c.max_pending = 60 * EVERY;
    c
}

#[test]
fn the_keeper_sends_3e_80_when_nothing_else_went_to_the_ecu() {
    let mut h = Harness::active(config());
    h.s.keep_alive(h.now, ENGINE, Some(EVERY));
    h.wait(1999 * MS);
    assert_eq!(h.transmits(), []);
    h.wait(MS);
    assert_eq!(h.transmits(), [Sent::Uds(ENGINE, vec![0x3E, 0x80])]);
    h.feed(ack(ENGINE, TESTER, &[0x3E, 0x80]));
    // The keeper's request is nobody's event, and its ECU is free again.
    assert!(h.events().is_empty());
    assert_eq!(h.s.requests_open(), 0);
    h.wait(EVERY);
    assert_eq!(h.transmits(), [Sent::Uds(ENGINE, vec![0x3E, 0x80])]);
}

#[test]
fn a_request_to_the_ecu_postpones_the_keeper_and_one_in_flight_replaces_it() {
    let mut h = Harness::active(patient());
    h.s.keep_alive(h.now, ENGINE, Some(EVERY));
    h.wait(1500 * MS);
    let id = h.start(Request::uds(ENGINE, [0x31, 0x01, 0xFF, 0x00]));
    assert_eq!(h.transmits(), [Sent::Uds(ENGINE, vec![0x31, 0x01, 0xFF, 0x00])]);
    h.feed(ack(ENGINE, TESTER, &[]));
    // Two seconds after that request, it is still in flight (response pending): no 3E 80
    // goes beside it.
    for _ in 0..4 {
        h.feed(uds(ENGINE, &[0x7F, 0x31, 0x78]));
        h.wait(490 * MS);
    }
    h.feed(uds(ENGINE, &[0x7F, 0x31, 0x78]));
    h.wait(400 * MS); // 2.36 s after the request
    assert_eq!(h.transmits(), []);
    h.feed(uds(ENGINE, &[0x71, 0x01, 0xFF, 0x00]));
    assert_eq!(h.done(id).unwrap(), Outcome::Answer(vec![0x71, 0x01, 0xFF, 0x00]));
    h.wait(EVERY);
    assert_eq!(h.transmits(), [Sent::Uds(ENGINE, vec![0x3E, 0x80])]);
    // Other ECUs are not kept.
    assert!(h.transmits().is_empty());
    h.s.keep_alive(h.now, ENGINE, None);
    h.wait(10 * EVERY);
    assert_eq!(h.transmits(), []);
}

#[test]
fn the_keeper_waits_while_the_connection_is_down_and_a_refusal_is_silent() {
    let mut h = Harness::active(config());
    h.s.keep_alive(h.now, FUNCTIONAL, Some(EVERY));
    h.wait(EVERY);
    assert_eq!(h.transmits(), [Sent::Uds(FUNCTIONAL, vec![0x3E, 0x80])]);
    h.feed(nack(FUNCTIONAL, TESTER, DiagnosticNackCode::UnknownTargetAddress));
    assert!(h.events().is_empty());
    let lost = doip_transport::Error::ClosedByPeer { peer: peer() };
    h.s.handle_disconnected(h.now, &lost);
    h.wait(EVERY);
    assert_eq!(h.transmits(), [], "no dial, no 3E 80 on a connection that is gone");
}

#[test]
fn an_ecus_announced_timing_replaces_p2_and_p2_star_for_its_answers_only() {
    let mut h = Harness::active(patient()); // P2 50 ms, P2* 500 ms
    h.s.set_uds_timing(ENGINE, Some(UdsTiming { p2: 300 * MS, p2_star: 3000 * MS }));
    let engine = h.start(Request::uds(ENGINE, [0x22, 0xF1, 0x90]));
    let brakes = h.start(Request::uds(BRAKES, [0x22, 0xF1, 0x90]));
    h.transmits();
    h.feed(ack(ENGINE, TESTER, &[]));
    h.feed(ack(BRAKES, TESTER, &[]));
    h.wait(60 * MS);
    assert!(matches!(h.done(brakes), Err(Error::Timeout { .. })));
    assert!(!h.is_done(engine));
    h.feed(uds(ENGINE, &[0x7F, 0x22, 0x78]));
    h.wait(2900 * MS);
    assert!(!h.is_done(engine), "P2* of the ECU, not the configured 500 ms");
    h.wait(200 * MS);
    assert!(matches!(h.done(engine), Err(Error::Timeout { .. })));
    h.s.set_uds_timing(ENGINE, None);
    assert_eq!(h.s.config().uds_timing(ENGINE), UdsTiming { p2: 50 * MS, p2_star: 500 * MS });
}
