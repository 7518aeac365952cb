//! The session's rules, driven with a fake clock and frames: no sockets.
#![allow(clippy::unwrap_used)] // tests fail loudly

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use doip_proto::{
    DiagnosticAckCode, DiagnosticMessage, DiagnosticMessageNegativeAck,
    DiagnosticMessagePositiveAck, DiagnosticNackCode, Frame, LogicalAddress, Message, PayloadType,
    ProtocolVersion, RoutingActivationResponse, RoutingActivationResponseCode as Code,
};

use super::*;

const TESTER: LogicalAddress = LogicalAddress(0x0E00);
const ENGINE: LogicalAddress = LogicalAddress(0x4011);
const BRAKES: LogicalAddress = LogicalAddress(0x4012);
const FUNCTIONAL: LogicalAddress = LogicalAddress(0xE400);
const MS: Duration = Duration::from_millis(1);

fn peer() -> SocketAddr {
    "192.0.2.10:13400".parse().unwrap()
}

fn config() -> SessionConfig {
    let mut c = SessionConfig::new(peer());
    c.p2 = 50 * MS;
    c.p2_star = 500 * MS;
    c.max_pending = 2000 * MS;
    c
}

fn frame<'a>(message: impl Into<Message<'a>>) -> Frame<'static> {
    let bytes = message.into().to_bytes(ProtocolVersion::Iso2012).unwrap();
    Frame::parse(&bytes).unwrap().0.into_owned()
}

fn activation(tester: LogicalAddress, code: Code) -> Frame<'static> {
    frame(RoutingActivationResponse::new(tester, LogicalAddress(0x4010), code))
}

fn uds(from: LogicalAddress, data: &[u8]) -> Frame<'static> {
    frame(DiagnosticMessage::new(from, TESTER, data.to_vec()))
}

fn ack(from: LogicalAddress, to: LogicalAddress, previous: &[u8]) -> Frame<'static> {
    let m = DiagnosticMessage::new(from, to, previous.to_vec());
    let mut a = DiagnosticMessagePositiveAck::new(&m, DiagnosticAckCode::Acknowledged)
        .with_previous_message(previous.to_vec());
    a.source_address = from;
    a.target_address = to;
    frame(a)
}

fn nack(from: LogicalAddress, to: LogicalAddress, code: DiagnosticNackCode) -> Frame<'static> {
    let m = DiagnosticMessage::new(from, to, Vec::new());
    let mut n = DiagnosticMessageNegativeAck::new(&m, code);
    n.source_address = from;
    n.target_address = to;
    frame(n)
}

/// A session and its fake clock.
struct Harness {
    s: Session,
    now: Instant,
}

impl Harness {
    fn new(config: SessionConfig) -> Self {
        Self { s: Session::new(config), now: Instant::now() }
    }

    /// Connected with routing active.
    fn active(config: SessionConfig) -> Self {
        let mut h = Self::new(config);
        let id = h.start(Request::connect());
        assert_eq!(h.transmits(), [Sent::Connect(false)]);
        h.s.handle_connected(h.now);
        assert_eq!(h.transmits(), [Sent::Tcp(PayloadType::RoutingActivationRequest, None)]);
        h.feed(activation(TESTER, Code::Success));
        assert!(matches!(h.done(id), Ok(Outcome::Connected(Some(_)))));
        h
    }

    fn start(&mut self, request: Request) -> RequestId {
        self.s.start(self.now, request).unwrap()
    }

    fn feed(&mut self, frame: Frame<'static>) {
        self.s.handle_frame(self.now, frame);
    }

    fn wait(&mut self, d: Duration) {
        self.now += d;
        self.s.handle_timeout(self.now);
    }

    /// What was handed out, simplified; every TCP frame is reported sent.
    fn transmits(&mut self) -> Vec<Sent> {
        let mut out = Vec::new();
        while let Some(t) = self.s.poll_transmit() {
            out.push(match t {
                Transmit::Connect { tls } => Sent::Connect(tls),
                Transmit::Close => Sent::Close,
                Transmit::Tcp { bytes, request } => {
                    let (frame, _) = Frame::parse(&bytes).unwrap();
                    if let Some(id) = request {
                        self.s.handle_sent(self.now, id);
                    }
                    match frame.message {
                        Message::DiagnosticMessage(d) => {
                            Sent::Uds(d.target_address, d.user_data.to_vec())
                        }
                        m => Sent::Tcp(m.payload_type(), request),
                    }
                }
                Transmit::Udp { to, bytes, request } => {
                    if let Some(id) = request {
                        self.s.handle_sent(self.now, id);
                    }
                    let (frame, _) = Frame::parse(&bytes).unwrap();
                    Sent::Udp(to, frame.message.payload_type())
                }
            });
        }
        out
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.s.poll_event()).collect()
    }

    /// The outcome of `id`, which must be done.
    fn done(&mut self, id: RequestId) -> Result<Outcome> {
        let mut found = None;
        for e in self.events() {
            if let Event::Done { id: done, result } = e {
                if done == id {
                    found = Some(result);
                } else {
                    self.s.events.push_back(Event::Done { id: done, result });
                }
            }
        }
        found.unwrap_or_else(|| panic!("{id:?} is not done"))
    }

    fn is_done(&self, id: RequestId) -> bool {
        self.s.events.iter().any(|e| matches!(e, Event::Done { id: done, .. } if *done == id))
    }

    fn unsolicited(&mut self) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| self.s.poll_unsolicited())
            .map(|u| match u.frame.message {
                Message::DiagnosticMessage(d) => d.user_data.into_owned(),
                m => vec![m.payload_type().value() as u8],
            })
            .collect()
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Sent {
    Connect(bool),
    Close,
    Tcp(PayloadType, Option<RequestId>),
    Uds(LogicalAddress, Vec<u8>),
    Udp(SocketAddr, PayloadType),
}

// --- routing activation ---

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

// --- matching answers to requests ---

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
    let second = h.start(Request::uds(ENGINE, [0x22, 0xF1, 0x90]));
    assert_eq!(h.transmits(), [Sent::Uds(ENGINE, vec![0x22, 0xF1, 0x90])]);
    h.feed(ack(ENGINE, TESTER, &[]));
    h.feed(uds(ENGINE, &[0x50, 0x03, 0x00, 0x32, 0x01, 0xF4])); // the first one's, late
    h.feed(uds(ENGINE, &[0x62, 0xF1, 0x90, b'W']));
    assert_eq!(h.done(second).unwrap(), Outcome::Answer(vec![0x62, 0xF1, 0x90, b'W']));
    assert_eq!(h.unsolicited(), [vec![0x50, 0x03, 0x00, 0x32, 0x01, 0xF4]]);
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

// --- reconnects ---

#[test]
fn a_request_that_may_have_been_delivered_is_never_resent() {
    let mut c = config();
    c.auto_reconnect = true;
    let mut h = Harness::active(c);
    let id = h.start(Request::uds(ENGINE, [0x11, 0x01]));
    h.transmits();
    h.s.handle_disconnected(h.now, &doip_transport::Error::ClosedByPeer { peer: peer() });
    assert!(matches!(h.done(id), Err(Error::MaybeDelivered { target: ENGINE, .. })));
    assert!(h.transmits().is_empty(), "nothing reconnects or resends on its own");
}

#[test]
fn an_unwritten_request_is_sent_once_after_the_reconnect() {
    let mut c = config();
    c.auto_reconnect = true;
    let mut h = Harness::active(c);
    let id = h.start(Request::uds(ENGINE, [0x36, 0x01, 0xAA]));
    h.transmits();
    h.s.handle_unsent(h.now, id);
    h.s.handle_disconnected(h.now, &doip_transport::Error::ClosedByPeer { peer: peer() });
    assert_eq!(h.transmits(), [Sent::Connect(false)]);
    // The dial fails twice (the ECU is still resetting) and is retried inside the window.
    for _ in 0..2 {
        h.s.handle_disconnected(h.now, &doip_transport::Error::Refused { peer: peer() });
        assert!(h.transmits().is_empty());
        h.wait(60 * MS);
        assert_eq!(h.transmits(), [Sent::Connect(false)]);
    }
    h.s.handle_connected(h.now);
    assert_eq!(h.transmits(), [Sent::Tcp(PayloadType::RoutingActivationRequest, None)]);
    // The connection flaps during the handshake: dialed again, the request still waits.
    h.s.handle_disconnected(h.now, &doip_transport::Error::ClosedByPeer { peer: peer() });
    h.wait(60 * MS);
    assert_eq!(h.transmits(), [Sent::Connect(false)]);
    h.s.handle_connected(h.now);
    h.transmits();
    h.feed(activation(TESTER, Code::Success));
    assert_eq!(h.transmits(), [Sent::Uds(ENGINE, vec![0x36, 0x01, 0xAA])]);
    h.feed(ack(ENGINE, TESTER, &[]));
    h.feed(uds(ENGINE, &[0x76, 0x01]));
    assert_eq!(h.done(id).unwrap(), Outcome::Answer(vec![0x76, 0x01]));
    assert_eq!(h.s.counters().reconnects, 1);
}

#[test]
fn without_auto_reconnect_a_lost_connection_is_an_error() {
    let mut h = Harness::active(config());
    let id = h.start(Request::uds(ENGINE, [0x3E, 0x00]));
    h.transmits();
    h.s.handle_unsent(h.now, id);
    h.s.handle_disconnected(h.now, &doip_transport::Error::ClosedByPeer { peer: peer() });
    assert!(matches!(
        h.done(id),
        Err(Error::Transport(doip_transport::Error::ClosedByPeer { .. }))
    ));
    let later = h.s.start(h.now, Request::uds(ENGINE, [0x3E, 0x00]));
    assert!(matches!(later, Err(Error::Transport(doip_transport::Error::NotConnected { .. }))));
}

#[test]
fn a_reconnect_window_ends() {
    let mut h = Harness::active(config());
    let id = h.start(Request::reconnect(Duration::ZERO));
    assert_eq!(h.transmits(), [Sent::Close, Sent::Connect(false)]);
    for _ in 0..100 {
        h.s.handle_disconnected(h.now, &doip_transport::Error::Refused { peer: peer() });
        h.wait(60 * MS);
        if h.transmits().is_empty() {
            break;
        }
    }
    assert!(matches!(h.done(id), Err(Error::Transport(doip_transport::Error::Refused { .. }))));
}

// --- cancellation, bounds ---

#[test]
fn a_cancelled_request_keeps_its_ecu_until_its_answer() {
    let mut h = Harness::active(config());
    let gone = h.start(Request::uds(ENGINE, [0x22, 0xF1, 0x90]));
    h.transmits();
    h.s.cancel(h.now, gone);
    let next = h.start(Request::uds(ENGINE, [0x22, 0xF1, 0x90]));
    assert!(h.transmits().is_empty(), "the cancelled request's answer is still due");
    h.feed(ack(ENGINE, TESTER, &[]));
    h.feed(uds(ENGINE, &[0x62, 0xF1, 0x90, 1]));
    assert_eq!(h.unsolicited(), [vec![0x62, 0xF1, 0x90, 1]], "its answer is nobody's");
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
