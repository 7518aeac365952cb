//! Routing activation: codes, confirmation, other testers, TLS fall-back, the link's life.
#![allow(clippy::unwrap_used)] // tests fail loudly

use super::*;

#[test]
fn activation_waits_through_confirmation_and_ignores_other_testers() {
    let mut h = Harness::new(config());
    let id = h.start(Request::connect());
    h.transmits();
    h.s.handle_connected(h.now);
    h.transmits();
    // An answer for another tester address is not ours: kept waiting, not an error.
    h.feed(activation(LogicalAddress(0x0E80), Code::Success));
    assert!(!h.is_done(id));
    assert_eq!(h.unsolicited().len(), 1);
    // 0x11: the final answer comes after a confirmation in the vehicle, beyond the 2 s
    // activation timeout.
    h.feed(activation(TESTER, Code::ConfirmationRequired));
    h.wait(Duration::from_secs(5));
    assert!(!h.is_done(id));
    h.feed(activation(TESTER, Code::Success));
    assert!(
        matches!(h.done(id), Ok(Outcome::Connected(Some(r))) if r.response_code == Code::Success)
    );
    assert!(h.s.is_ready());
}

#[test]
fn repeated_confirmation_required_answers_do_not_wait_forever() {
    let mut h = Harness::new(config());
    let id = h.start(Request::connect());
    h.transmits();
    h.s.handle_connected(h.now);
    h.transmits();
    for _ in 0..5 {
        h.feed(activation(TESTER, Code::ConfirmationRequired));
        h.wait(Duration::from_secs(10));
    }
    assert!(matches!(h.done(id), Err(Error::Timeout { what: "routing activation response", .. })));
}

#[test]
fn connect_on_a_ready_link_is_done_at_once() {
    let mut h = Harness::active(config());
    let again = h.start(Request::connect());
    assert!(matches!(h.done(again), Ok(Outcome::Connected(Some(_)))));
    assert!(h.transmits().is_empty());
}

#[test]
fn a_reconnect_while_dialing_closes_the_first_dial() {
    let mut h = Harness::new(config());
    h.start(Request::connect());
    assert_eq!(h.transmits(), [Sent::Connect(false)]);
    h.start(Request::reconnect(Duration::ZERO));
    assert_eq!(h.transmits(), [Sent::Close, Sent::Connect(false)]);
}

#[test]
fn a_closed_session_stays_closed() {
    let mut h = Harness::active(config());
    h.s.close(h.now);
    h.transmits();
    assert!(matches!(
        h.s.start(h.now, Request::reconnect(Duration::ZERO)),
        Err(Error::Closed { .. })
    ));
    let udp = Request::udp(
        &doip_proto::EntityStatusRequest.into(),
        ProtocolVersion::Iso2012,
        PayloadType::EntityStatusResponse,
        None,
        "entity status",
    )
    .unwrap();
    assert!(matches!(h.s.start(h.now, udp), Err(Error::Closed { .. })));
    assert!(h.transmits().is_empty());
}

#[test]
fn activation_has_its_own_timeout_not_p2() {
    let mut c = config();
    c.p2 = MS; // an aggressive UDS P2 must not cut activation short
    let mut h = Harness::new(c);
    let id = h.start(Request::connect());
    h.transmits();
    h.s.handle_connected(h.now);
    h.wait(600 * MS); // the entity's first 500 ms alive check may come first
    assert!(!h.is_done(id));
    h.wait(Duration::from_secs(2));
    assert!(matches!(h.done(id), Err(Error::Timeout { what: "routing activation response", .. })));
    assert_eq!(
        h.transmits(),
        [Sent::Tcp(PayloadType::RoutingActivationRequest, None), Sent::Close]
    );
}

#[test]
fn every_denial_code_is_a_typed_error() {
    for code in [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x12, 0xE0, 0xFF] {
        let mut h = Harness::new(config());
        let id = h.start(Request::connect());
        let queued = h.start(Request::uds(ENGINE, [0x3E, 0x00]));
        h.transmits();
        h.s.handle_connected(h.now);
        h.transmits();
        h.feed(activation(TESTER, Code::from(code)));
        match h.done(id) {
            Err(Error::ActivationDenied { code: got, .. }) => assert_eq!(u8::from(got), code),
            other => panic!("{code:#04x}: {other:?}"),
        }
        assert!(matches!(h.done(queued), Err(Error::ActivationDenied { .. })));
        assert_eq!(h.transmits(), [Sent::Close]);
    }
}

#[test]
fn tls_required_falls_back_to_tls_when_allowed() {
    let mut c = config();
    c.tls_fallback = true;
    let mut h = Harness::new(c);
    let id = h.start(Request::connect());
    h.transmits();
    h.s.handle_connected(h.now);
    h.transmits();
    h.feed(activation(TESTER, Code::TlsRequired));
    assert_eq!(h.transmits(), [Sent::Close, Sent::Connect(true)]);
    h.s.handle_connected(h.now);
    h.transmits();
    h.feed(activation(TESTER, Code::Success));
    assert!(matches!(h.done(id), Ok(Outcome::Connected(_))));
}

#[test]
fn no_activation_means_ready_on_connect() {
    let mut c = config();
    c.activation = None;
    let mut h = Harness::new(c);
    let id = h.start(Request::connect());
    h.transmits();
    h.s.handle_connected(h.now);
    assert!(matches!(h.done(id), Ok(Outcome::Connected(None))));
    // An explicit activation later uses the configured OEM bytes when it gives none.
    let a = h.start(Request::activation(doip_proto::ActivationType::Default, None));
    assert_eq!(h.transmits(), [Sent::Tcp(PayloadType::RoutingActivationRequest, Some(a))]);
    h.feed(activation(TESTER, Code::Success));
    assert!(matches!(h.done(a), Ok(Outcome::Activation(_))));
}
