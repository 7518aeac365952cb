//! Cancellation and the session's bounds.
#![allow(clippy::unwrap_used)] // tests fail loudly

use super::*;

#[test]
fn a_cancelled_request_keeps_its_ecu_until_its_answer() {
    let mut h = Harness::active(config());
    let gone = h.start(Request::uds(ENGINE, [0x22, 0xF1, 0x90]));
    h.transmits();
    h.s.cancel(h.now, gone);
    let next = h.start(Request::uds(ENGINE, [0x22, 0xF1, 0x90]));
    assert!(h.transmits().is_empty(), "the cancelled request's answer is still due");
    assert_eq!(h.s.cancel_waiting(h.now), 1, "the waiting one can go");
    let next2 = h.start(Request::uds(ENGINE, [0x22, 0xF1, 0x90]));
    assert!(h.transmits().is_empty());
    let next = {
        let _ = next;
        next2
    };
    h.feed(ack(ENGINE, TESTER, &[]));
    h.feed(uds(ENGINE, &[0x62, 0xF1, 0x90, 1]));
    // Its ACK and answer are nobody's (0x02: the ACK's payload type, as `unsolicited` shows it).
    assert_eq!(h.unsolicited(), [vec![0x02], vec![0x62, 0xF1, 0x90, 1]], "its answer is nobody's");
    assert_eq!(h.transmits(), [Sent::Uds(ENGINE, vec![0x22, 0xF1, 0x90])]);
    h.feed(ack(ENGINE, TESTER, &[]));
    h.feed(uds(ENGINE, &[0x62, 0xF1, 0x90, 2]));
    assert_eq!(h.done(next).unwrap(), Outcome::Answer(vec![0x62, 0xF1, 0x90, 2]));
    assert!(h.events().is_empty(), "no Done for the cancelled one");
}

#[test]
fn unsolicited_frames_are_bounded() {
    let mut h = Harness::active(config());
    for i in 0..10_000u32 {
        h.feed(uds(ENGINE, &i.to_be_bytes()));
    }
    let c = h.s.counters();
    assert_eq!(c.unsolicited, 10_000);
    assert_eq!(c.unsolicited_dropped, 10_000 - 256);
    let kept = h.unsolicited();
    assert_eq!(kept.len(), 256);
    assert_eq!(kept[0], (10_000u32 - 256).to_be_bytes(), "the oldest went first");
}

#[test]
fn the_request_table_is_bounded() {
    let mut c = config();
    c.max_requests = 4;
    let mut h = Harness::active(c);
    for _ in 0..4 {
        h.start(Request::uds(ENGINE, [0x3E, 0x00]));
    }
    assert!(matches!(
        h.s.start(h.now, Request::uds(ENGINE, [0x3E, 0x00])),
        Err(Error::TooManyRequests { limit: 4, .. })
    ));
    assert!(matches!(h.s.start(h.now, Request::uds(ENGINE, [])), Err(Error::EmptyPayload)));
}

#[test]
fn udp_answers_must_come_from_the_entity() {
    let mut h = Harness::new(config());
    let request = Request::udp(
        &doip_proto::EntityStatusRequest.into(),
        ProtocolVersion::Iso2012,
        PayloadType::EntityStatusResponse,
        None,
        "entity status",
    )
    .unwrap();
    let id = h.start(request);
    let udp_peer = h.s.config().udp_peer;
    assert_eq!(h.transmits(), [Sent::Udp(udp_peer, PayloadType::EntityStatusRequest)]);
    let status = frame(doip_proto::EntityStatusResponse {
        node_type: doip_proto::NodeType::Gateway,
        max_open_sockets: 4,
        currently_open_sockets: 1,
        max_data_size: None,
    });
    h.s.handle_datagram(h.now, "192.0.2.99:13400".parse().unwrap(), status.clone());
    assert!(!h.is_done(id));
    h.s.handle_datagram(
        h.now,
        udp_peer,
        frame(doip_proto::DiagnosticPowerModeResponse { power_mode: doip_proto::PowerMode::Ready }),
    );
    assert!(!h.is_done(id));
    h.s.handle_datagram(h.now, udp_peer, status);
    assert!(matches!(h.done(id), Ok(Outcome::Frame(_))));
    assert_eq!(h.s.counters().unsolicited, 2);
}

#[test]
fn close_fails_everything() {
    let mut h = Harness::active(config());
    let id = h.start(Request::uds(ENGINE, [0x3E, 0x00]));
    h.transmits();
    h.s.close(h.now);
    assert!(matches!(h.done(id), Err(Error::Closed { .. })));
    assert_eq!(h.transmits(), [Sent::Close]);
    assert!(matches!(
        h.s.start(h.now, Request::uds(ENGINE, [0x3E, 0x00])),
        Err(Error::Closed { .. })
    ));
}
