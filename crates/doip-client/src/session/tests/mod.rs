//! The session's rules, driven with a fake clock and frames: no sockets. This module holds
//! the harness; each file beside it one family of rules.
#![allow(clippy::unwrap_used)] // tests fail loudly

mod activation;
mod answers;
mod bounds;
mod keeper;
mod reconnects;

pub(super) use std::net::SocketAddr;
pub(super) use std::time::{Duration, Instant};

use doip_proto::{
    DiagnosticAckCode, DiagnosticMessage, DiagnosticMessageNegativeAck,
    DiagnosticMessagePositiveAck, RoutingActivationResponse,
};
pub(super) use doip_proto::{
    DiagnosticNackCode, Frame, LogicalAddress, Message, PayloadType, ProtocolVersion,
    RoutingActivationResponseCode as Code,
};

pub(super) use super::*;

pub(super) const TESTER: LogicalAddress = LogicalAddress(0x0E00);
pub(super) const ENGINE: LogicalAddress = LogicalAddress(0x4011);
pub(super) const BRAKES: LogicalAddress = LogicalAddress(0x4012);
pub(super) const FUNCTIONAL: LogicalAddress = LogicalAddress(0xE400);
pub(super) const MS: Duration = Duration::from_millis(1);

pub(super) fn peer() -> SocketAddr {
    "192.0.2.10:13400".parse().unwrap()
}

pub(super) fn config() -> SessionConfig {
    let mut c = SessionConfig::new(peer());
    c.p2 = 50 * MS;
    c.p2_star = 500 * MS;
    c.max_pending = 2000 * MS;
    c
}

pub(super) fn frame<'a>(message: impl Into<Message<'a>>) -> Frame<'static> {
    let bytes = message.into().to_bytes(ProtocolVersion::Iso2012).unwrap();
    Frame::parse(&bytes).unwrap().0.into_owned()
}

pub(super) fn activation(tester: LogicalAddress, code: Code) -> Frame<'static> {
    frame(RoutingActivationResponse::new(tester, LogicalAddress(0x4010), code))
}

pub(super) fn uds(from: LogicalAddress, data: &[u8]) -> Frame<'static> {
    frame(DiagnosticMessage::new(from, TESTER, data.to_vec()))
}

pub(super) fn ack(from: LogicalAddress, to: LogicalAddress, previous: &[u8]) -> Frame<'static> {
    let m = DiagnosticMessage::new(from, to, previous.to_vec());
    let mut a = DiagnosticMessagePositiveAck::new(&m, DiagnosticAckCode::Acknowledged)
        .with_previous_message(previous.to_vec());
    a.source_address = from;
    a.target_address = to;
    frame(a)
}

pub(super) fn nack(
    from: LogicalAddress,
    to: LogicalAddress,
    code: DiagnosticNackCode,
) -> Frame<'static> {
    let m = DiagnosticMessage::new(from, to, Vec::new());
    let mut n = DiagnosticMessageNegativeAck::new(&m, code);
    n.source_address = from;
    n.target_address = to;
    frame(n)
}

/// A session and its fake clock.
pub(super) struct Harness {
    pub(super) s: Session,
    pub(super) now: Instant,
}

impl Harness {
    pub(super) fn new(config: SessionConfig) -> Self {
        Self { s: Session::new(config), now: Instant::now() }
    }

    /// Connected with routing active.
    pub(super) fn active(config: SessionConfig) -> Self {
        let mut h = Self::new(config);
        let id = h.start(Request::connect());
        assert_eq!(h.transmits(), [Sent::Connect(false)]);
        h.s.handle_connected(h.now);
        assert_eq!(h.transmits(), [Sent::Tcp(PayloadType::RoutingActivationRequest, None)]);
        h.feed(activation(TESTER, Code::Success));
        assert!(matches!(h.done(id), Ok(Outcome::Connected(Some(_)))));
        h
    }

    pub(super) fn start(&mut self, request: Request) -> RequestId {
        self.s.start(self.now, request).unwrap()
    }

    pub(super) fn feed(&mut self, frame: Frame<'static>) {
        self.s.handle_frame(self.now, frame);
    }

    pub(super) fn wait(&mut self, d: Duration) {
        self.now += d;
        self.s.handle_timeout(self.now);
    }

    /// What was handed out, simplified; every TCP frame is reported sent.
    pub(super) fn transmits(&mut self) -> Vec<Sent> {
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

    pub(super) fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.s.poll_event()).collect()
    }

    /// The outcome of `id`, which must be done.
    pub(super) fn done(&mut self, id: RequestId) -> Result<Outcome> {
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

    pub(super) fn is_done(&self, id: RequestId) -> bool {
        self.s.events.iter().any(|e| matches!(e, Event::Done { id: done, .. } if *done == id))
    }

    pub(super) fn unsolicited(&mut self) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| self.s.poll_unsolicited())
            .map(|u| match u.frame.message {
                Message::DiagnosticMessage(d) => d.user_data.into_owned(),
                m => vec![m.payload_type().value() as u8],
            })
            .collect()
    }
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Sent {
    Connect(bool),
    Close,
    Tcp(PayloadType, Option<RequestId>),
    Uds(LogicalAddress, Vec<u8>),
    Udp(SocketAddr, PayloadType),
}
