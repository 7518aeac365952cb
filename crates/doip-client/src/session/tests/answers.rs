//! Matching answers, ACKs and NACKs to requests; pending; functional requests; timeouts.
#![allow(clippy::unwrap_used)] // tests fail loudly

use super::*;

#[test]
fn a_stale_answer_of_another_service_is_unsolicited() {
    let mut h = Harness::active(config());
    let id = h.start(Request::uds(ENGINE, [0x22, 0xF1, 0x90]));
    assert_eq!(h.transmits(), [Sent::Uds(ENGINE, vec![0x22, 0xF1, 0x90])]);
    h.feed(ack(ENGINE, TESTER, &[0x22, 0xF1, 0x90]));
    h.feed(uds(ENGINE, &[0x50, 0x03, 0x00, 0x32, 0x01, 0xF4]));
    h.feed(uds(ENGINE, &[0x62, 0xF1, 0x8C, 0x01])); // another DID
    assert!(!h.is_done(id));
    h.feed(uds(ENGINE, &[0x62, 0xF1, 0x90, b'W']));
    assert_eq!(h.done(id).unwrap(), Outcome::Answer(vec![0x62, 0xF1, 0x90, b'W']));
    assert_eq!(
        h.unsolicited(),
        [vec![0x50, 0x03, 0x00, 0x32, 0x01, 0xF4], vec![0x62, 0xF1, 0x8C, 1]]
    );
}

#[test]
fn a_late_answer_after_a_timeout_never_answers_the_next_request() {
    let mut h = Harness::active(config());
    let first = h.start(Request::uds(ENGINE, [0x10, 0x03]));
    h.transmits();
    h.feed(ack(ENGINE, TESTER, &[]));
    h.wait(60 * MS);
    assert!(matches!(h.done(first), Err(Error::Timeout { what: "UDS response", .. })));
    // The ECU is held for the late answer: the next request to it waits; others go.
    let second = h.start(Request::uds(ENGINE, [0x22, 0xF1, 0x90]));
    let other = h.start(Request::uds(BRAKES, [0x3E, 0x00]));
    assert_eq!(h.transmits(), [Sent::Uds(BRAKES, vec![0x3E, 0x00])]);
    h.feed(uds(ENGINE, &[0x50, 0x03, 0x00, 0x32, 0x01, 0xF4])); // the first one's, late
    assert_eq!(h.transmits(), [Sent::Uds(ENGINE, vec![0x22, 0xF1, 0x90])]);
    h.feed(ack(ENGINE, TESTER, &[]));
    h.feed(uds(ENGINE, &[0x62, 0xF1, 0x90, b'W']));
    assert_eq!(h.done(second).unwrap(), Outcome::Answer(vec![0x62, 0xF1, 0x90, b'W']));
    assert_eq!(h.unsolicited(), [vec![0x50, 0x03, 0x00, 0x32, 0x01, 0xF4]]);
    assert!(!h.is_done(other));
}

#[test]
fn a_late_answer_to_an_identical_request_is_not_taken_either() {
    let mut h = Harness::active(config());
    let first = h.start(Request::uds(ENGINE, [0x22, 0xF1, 0x90]));
    h.transmits();
    h.feed(ack(ENGINE, TESTER, &[]));
    h.wait(60 * MS);
    assert!(h.done(first).is_err());
    let second = h.start(Request::uds(ENGINE, [0x22, 0xF1, 0x90]));
    assert!(h.transmits().is_empty(), "held for the first one's late answer");
    h.feed(uds(ENGINE, &[0x62, 0xF1, 0x90, b'O', b'L', b'D']));
    assert_eq!(h.transmits(), [Sent::Uds(ENGINE, vec![0x22, 0xF1, 0x90])]);
    h.feed(ack(ENGINE, TESTER, &[]));
    h.feed(uds(ENGINE, &[0x62, 0xF1, 0x90, b'N', b'E', b'W']));
    assert_eq!(h.done(second).unwrap(), Outcome::Answer(vec![0x62, 0xF1, 0x90, b'N', b'E', b'W']));
    assert_eq!(h.unsolicited(), [vec![0x62, 0xF1, 0x90, b'O', b'L', b'D']]);
    // With no late answer at all, the hold ends and the next request goes (late ACK too).
    let third = h.start(Request::uds(ENGINE, [0x22, 0xF1, 0x90]));
    h.transmits();
    h.wait(Duration::from_secs(3)); // no ACK: timed out, held
    assert!(matches!(h.done(third), Err(Error::Timeout { what: "diagnostic ACK", .. })));
    let fourth = h.start(Request::uds(ENGINE, [0x22, 0xF1, 0x90]));
    assert!(h.transmits().is_empty());
    // The third one's late NACK: no answer follows it, so the ECU is free; the NACK is
    // readable, and it does not fail the fourth request.
    h.feed(nack(ENGINE, TESTER, DiagnosticNackCode::OutOfMemory));
    assert_eq!(h.transmits(), [Sent::Uds(ENGINE, vec![0x22, 0xF1, 0x90])]);
    assert_eq!(h.unsolicited().len(), 1);
    h.feed(ack(ENGINE, TESTER, &[]));
    h.feed(uds(ENGINE, &[0x62, 0xF1, 0x90, 4]));
    assert_eq!(h.done(fourth).unwrap(), Outcome::Answer(vec![0x62, 0xF1, 0x90, 4]));
}

#[test]
fn acks_with_another_ecus_addresses_are_not_ours() {
    let mut h = Harness::active(config());
    let id = h.start(Request::uds(ENGINE, [0x3E, 0x00]));
    h.transmits();
    h.feed(nack(LogicalAddress(0x1234), TESTER, DiagnosticNackCode::UnknownTargetAddress));
    h.feed(nack(ENGINE, LogicalAddress(0x0E80), DiagnosticNackCode::UnknownTargetAddress));
    h.feed(ack(ENGINE, TESTER, &[0x10, 0x03])); // a copy of another message
    assert!(!h.is_done(id));
    assert_eq!(h.unsolicited().len(), 3);
    h.feed(ack(ENGINE, TESTER, &[0x3E]));
    h.feed(uds(ENGINE, &[0x7E, 0x00]));
    assert_eq!(h.done(id).unwrap(), Outcome::Answer(vec![0x7E, 0x00]));
    assert_eq!(h.s.counters().nacks, 0);
}

#[test]
fn a_nack_from_the_addressed_ecu_fails_its_request() {
    let mut h = Harness::active(config());
    let id = h.start(Request::uds(ENGINE, [0x3E, 0x00]));
    h.transmits();
    h.feed(nack(ENGINE, TESTER, DiagnosticNackCode::TargetUnreachable));
    match h.done(id) {
        Err(Error::DiagnosticNack { target, code, .. }) => {
            assert_eq!((target, code), (ENGINE, DiagnosticNackCode::TargetUnreachable));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.s.counters().nacks, 1);
}

#[test]
fn an_answer_before_its_ack_is_delivered() {
    let mut h = Harness::active(config());
    let id = h.start(Request::uds(ENGINE, [0x3E, 0x00]));
    h.transmits();
    h.feed(uds(ENGINE, &[0x7E, 0x00]));
    assert!(!h.is_done(id), "the ACK is still to come and must not be left for the next request");
    h.feed(ack(ENGINE, TESTER, &[]));
    assert_eq!(h.done(id).unwrap(), Outcome::Answer(vec![0x7E, 0x00]));
    assert!(h.unsolicited().is_empty());
    // With no ACK at all, the answer still counts at the ACK timeout.
    let id = h.start(Request::uds(ENGINE, [0x3E, 0x00]));
    h.transmits();
    h.feed(uds(ENGINE, &[0x7E, 0x00]));
    h.wait(Duration::from_secs(3));
    assert_eq!(h.done(id).unwrap(), Outcome::Answer(vec![0x7E, 0x00]));
}

#[test]
fn response_pending_extends_by_p2_star_up_to_the_cap() {
    let mut h = Harness::active(config());
    let id = h.start(Request::uds(ENGINE, [0x31, 0x01, 0xFF, 0x00]));
    h.transmits();
    h.feed(ack(ENGINE, TESTER, &[]));
    for _ in 0..3 {
        h.wait(40 * MS);
        h.feed(uds(ENGINE, &[0x7F, 0x31, 0x78]));
        h.wait(400 * MS); // beyond P2, within P2*
        assert!(!h.is_done(id));
    }
    assert!(matches!(h.events()[..], [Event::ResponsePending { from: ENGINE, .. }]));
    h.feed(uds(ENGINE, &[0x71, 0x01, 0xFF, 0x00, 0x00]));
    assert_eq!(h.done(id).unwrap(), Outcome::Answer(vec![0x71, 0x01, 0xFF, 0x00, 0x00]));
    // 7F xx 78 forever: the cap ends it.
    let id = h.start(Request::uds(ENGINE, [0x31, 0x01, 0xFF, 0x00]));
    h.transmits();
    h.feed(ack(ENGINE, TESTER, &[]));
    for _ in 0..100 {
        h.feed(uds(ENGINE, &[0x7F, 0x31, 0x78]));
        h.wait(100 * MS);
        if h.is_done(id) {
            break;
        }
    }
    match h.done(id) {
        Err(Error::PendingLimit { target, service, waited }) => {
            assert_eq!((target, service), (ENGINE, 0x31));
            assert!(waited >= Duration::from_secs(2));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_ack_only_message_holds_its_ecu_for_matched_requests_until_its_answer() {
    let mut h = Harness::active(config());
    // doipclient's send_diagnostic: done at the ACK; the answer is the caller's to read.
    let sent = h.start(Request::diagnostic(ENGINE, [0x22, 0xF1, 0x90]));
    h.transmits();
    h.feed(ack(ENGINE, TESTER, &[]));
    assert_eq!(h.done(sent).unwrap(), Outcome::Acknowledged);
    // Another raw one goes at once; a matched request to that ECU waits for that answer.
    let raw = h.start(Request::diagnostic(ENGINE, [0x3E, 0x80]));
    let matched = h.start(Request::uds(ENGINE, [0x22, 0xF1, 0x90]));
    assert_eq!(h.transmits(), [Sent::Uds(ENGINE, vec![0x3E, 0x80])]);
    h.feed(ack(ENGINE, TESTER, &[]));
    assert_eq!(h.done(raw).unwrap(), Outcome::Acknowledged);
    h.feed(uds(ENGINE, &[0x7F, 0x22, 0x78]));
    h.feed(uds(ENGINE, &[0x62, 0xF1, 0x90, 1]));
    assert_eq!(h.unsolicited(), [vec![0x7F, 0x22, 0x78], vec![0x62, 0xF1, 0x90, 1]]);
    assert_eq!(h.transmits(), [Sent::Uds(ENGINE, vec![0x22, 0xF1, 0x90])]);
    h.feed(ack(ENGINE, TESTER, &[]));
    h.feed(uds(ENGINE, &[0x62, 0xF1, 0x90, 2]));
    assert_eq!(h.done(matched).unwrap(), Outcome::Answer(vec![0x62, 0xF1, 0x90, 2]));
}

#[test]
fn an_answer_kept_before_a_nack_is_not_lost() {
    let mut h = Harness::active(config());
    let id = h.start(Request::uds(ENGINE, [0x3E, 0x00]));
    h.transmits();
    h.feed(uds(ENGINE, &[0x7E, 0x00]));
    h.feed(nack(ENGINE, TESTER, DiagnosticNackCode::OutOfMemory));
    assert!(matches!(h.done(id), Err(Error::DiagnosticNack { .. })));
    assert_eq!(h.unsolicited(), [vec![0x7E, 0x00]]);
}

#[test]
fn generic_nacks_are_counted_and_queued_once_per_code() {
    let mut h = Harness::active(config());
    for _ in 0..10_000 {
        h.s.handle_generic_nack(doip_proto::GenericNackCode::UnknownPayloadType);
    }
    assert_eq!(h.s.counters().generic_nacks, 10_000);
    assert_eq!(h.events().len(), 1);
    // It is also there to read (doipclient's `read_doip`), once per code until read.
    let u = h.s.poll_unsolicited().unwrap();
    assert!(
        matches!(u.frame.message, Message::GenericNack(n) if n.code == GenericNackCode::UnknownPayloadType)
    );
    assert!(h.s.poll_unsolicited().is_none());
}

#[test]
fn suppressed_positive_answers_are_done_at_the_ack() {
    let mut h = Harness::active(config());
    let id = h.start(Request::uds(ENGINE, [0x3E, 0x80]));
    h.transmits();
    h.feed(ack(ENGINE, TESTER, &[]));
    assert_eq!(h.done(id).unwrap(), Outcome::Acknowledged);
}

#[test]
fn several_ecus_in_flight_one_request_per_ecu() {
    let mut h = Harness::active(config());
    let a = h.start(Request::uds(ENGINE, [0x22, 0xF1, 0x90]));
    let b = h.start(Request::uds(BRAKES, [0x22, 0xF1, 0x90]));
    let a2 = h.start(Request::uds(ENGINE, [0x22, 0xF1, 0x8C]));
    // Both ECUs at once; the engine's second request waits for its first.
    assert_eq!(
        h.transmits(),
        [Sent::Uds(ENGINE, vec![0x22, 0xF1, 0x90]), Sent::Uds(BRAKES, vec![0x22, 0xF1, 0x90])]
    );
    h.feed(ack(BRAKES, TESTER, &[]));
    h.feed(ack(ENGINE, TESTER, &[]));
    h.feed(uds(BRAKES, &[0x62, 0xF1, 0x90, b'B']));
    h.feed(uds(ENGINE, &[0x62, 0xF1, 0x90, b'E']));
    assert_eq!(h.done(b).unwrap(), Outcome::Answer(vec![0x62, 0xF1, 0x90, b'B']));
    assert_eq!(h.done(a).unwrap(), Outcome::Answer(vec![0x62, 0xF1, 0x90, b'E']));
    assert_eq!(h.transmits(), [Sent::Uds(ENGINE, vec![0x22, 0xF1, 0x8C])]);
    h.feed(ack(ENGINE, TESTER, &[]));
    h.feed(uds(ENGINE, &[0x62, 0xF1, 0x8C, 1]));
    assert_eq!(h.done(a2).unwrap(), Outcome::Answer(vec![0x62, 0xF1, 0x8C, 1]));
}

#[test]
fn functional_requests_collect_one_answer_per_ecu() {
    let mut h = Harness::active(config());
    let physical = h.start(Request::uds(ENGINE, [0x22, 0xF1, 0x90]));
    let id = h.start(Request::functional(FUNCTIONAL, [0x3E, 0x00], 100 * MS));
    // The functional request waits for the physical one in flight.
    assert_eq!(h.transmits(), [Sent::Uds(ENGINE, vec![0x22, 0xF1, 0x90])]);
    h.feed(ack(ENGINE, TESTER, &[]));
    h.feed(uds(ENGINE, &[0x62, 0xF1, 0x90, 1]));
    assert!(h.done(physical).is_ok());
    assert_eq!(h.transmits(), [Sent::Uds(FUNCTIONAL, vec![0x3E, 0x00])]);
    h.feed(ack(FUNCTIONAL, TESTER, &[0x3E, 0x00]));
    h.feed(uds(ENGINE, &[0x7E, 0x00]));
    h.feed(uds(BRAKES, &[0x7F, 0x3E, 0x78]));
    h.feed(uds(ENGINE, &[0x7E, 0x00])); // a second answer from the same ECU
    h.wait(150 * MS); // the window passed, but BRAKES' pending extends it by P2*
    assert!(!h.is_done(id));
    h.feed(uds(BRAKES, &[0x7E, 0x00]));
    h.wait(Duration::from_secs(1));
    assert_eq!(
        h.done(id).unwrap(),
        Outcome::Answers(vec![(ENGINE, vec![0x7E, 0x00]), (BRAKES, vec![0x7E, 0x00])])
    );
    assert_eq!(h.unsolicited(), [vec![0x7E, 0x00]]);
}

#[test]
fn any_duration_means_that_long_or_forever() {
    let mut c = config();
    c.activation_timeout = Duration::MAX;
    c.ack_timeout = Duration::MAX;
    c.p2 = Duration::MAX;
    c.p2_star = Duration::MAX;
    c.max_pending = Duration::MAX;
    c.udp_timeout = Duration::MAX;
    c.reconnect_window = Duration::MAX;
    c.confirmation_timeout = Duration::MAX;
    let mut h = Harness::new(c);
    let connect = h.start(Request::connect().timeout(Duration::MAX));
    h.transmits();
    h.s.handle_connected(h.now);
    h.transmits();
    assert_eq!(h.s.poll_timeout(), None);
    h.feed(activation(TESTER, Code::Success));
    assert!(h.done(connect).is_ok());
    let id = h.start(Request::uds(ENGINE, [0x31, 0x01, 0xFF, 0x00]).timeout(Duration::MAX));
    h.transmits();
    h.feed(ack(ENGINE, TESTER, &[]));
    h.feed(uds(ENGINE, &[0x7F, 0x31, 0x78]));
    assert_eq!(h.s.poll_timeout(), None);
    h.wait(Duration::from_secs(100_000));
    assert!(!h.is_done(id));
    let udp = Request::udp(
        &doip_proto::EntityStatusRequest.into(),
        ProtocolVersion::Iso2012,
        PayloadType::EntityStatusResponse,
        None,
        "entity status",
    )
    .unwrap();
    h.start(udp.timeout(Duration::MAX));
    h.s.reconnect_after_test(Duration::MAX);
}

impl Session {
    /// A reconnect with a huge delay must not panic either.
    fn reconnect_after_test(&mut self, delay: Duration) {
        let now = Instant::now();
        assert!(self.start(now, Request::reconnect(delay)).is_ok());
        assert!(self.poll_timeout().is_none() || self.poll_timeout() > Some(now));
    }
}
