//! The session's values: its configuration, what callers ask for ([`Request`]), what they
//! get ([`Outcome`], [`Event`], [`Unsolicited`], [`Counters`]) and what the driver must do
//! ([`Transmit`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use doip_proto::{
    ActivationType, Frame, GenericNackCode, LogicalAddress, Message, PayloadType, ProtocolVersion,
    RoutingActivationResponse,
};
use doip_transport::timing;

#[allow(unused_imports)] // named in doc links
use super::Session;
#[allow(unused_imports)] // named in doc links
use crate::Error;
use crate::Result;

/// Which socket a DoIP message travels on (doipclient's `TransportType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// The TCP_DATA connection.
    Tcp,
    /// UDP to the entity's discovery port.
    Udp,
}

/// Identifies a request given to [`Session::start`]; never reused within a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub(super) u64);

/// Everything a [`Session`] is configured with; [`SessionConfig::new`] gives the spec's and
/// doipclient's defaults, then change fields as needed.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SessionConfig {
    /// The entity's TCP_DATA address (named in errors).
    pub peer: SocketAddr,
    /// The entity's UDP address, where UDP requests go and answers must come from.
    pub udp_peer: SocketAddr,
    /// This tester's logical address (0x0E00).
    pub tester: LogicalAddress,
    /// Protocol version of TCP messages (0x02).
    pub version: ProtocolVersion,
    /// Activation type sent on every (re)connect; `None` skips routing activation.
    pub activation: Option<ActivationType>,
    /// OEM-specific bytes of the activation request (also used by explicit activations that
    /// give none).
    pub oem_specific: Option<[u8; 4]>,
    /// Wait for the routing activation response (2 s, `A_Processing_Time`).
    pub activation_timeout: Duration,
    /// Wait for the final activation answer after 0x11 "confirmation required" (30 s: a
    /// person confirms in the vehicle).
    pub confirmation_timeout: Duration,
    /// Wait for the diagnostic ACK/NACK (2 s, `A_DoIP_Diagnostic_Message`).
    pub ack_timeout: Duration,
    /// UDS P2: wait for the first answer after the ACK (2 s, `A_Processing_Time`; UDS
    /// servers promise 50 ms, gateways add their own delay).
    pub p2: Duration,
    /// UDS P2*: wait after each "response pending" (5 s).
    pub p2_star: Duration,
    /// P2 and P2* per ECU, overriding `p2` and `p2_star` for its answers (empty; set from
    /// the ECU's DiagnosticSessionControl answer by [`Session::set_uds_timing`]).
    pub ecu_timing: BTreeMap<LogicalAddress, UdsTiming>,
    /// Cap on "response pending" answers, from the first one (120 s: long enough for an
    /// erase of a large flash, short enough that an ECU answering 7F xx 78 forever fails).
    pub max_pending: Duration,
    /// How long an ECU stays held after its request timed out (or was cancelled) for the
    /// late answer, so that the next request to it cannot take that answer for its own (2 s;
    /// the next request to that ECU waits at most this long, and not at all when the late
    /// answer comes).
    pub late_answer_hold: Duration,
    /// Wait for an alive check response the tester asked for (2 s).
    pub alive_check_timeout: Duration,
    /// Wait for an answer over UDP (2 s, `A_DoIP_Ctrl`).
    pub udp_timeout: Duration,
    /// Reconnect (and re-activate) when a request finds the connection gone, as doipclient's
    /// `auto_reconnect_tcp` (off).
    pub auto_reconnect: bool,
    /// How long dialing is retried during a reconnect, e.g. while an ECU resets (2 s).
    pub reconnect_window: Duration,
    /// Dial TLS from the start.
    pub tls: bool,
    /// When the entity answers activation with 0x07 (TLS required), reconnect over TLS and
    /// activate again (off; the driver must have a TLS configuration).
    pub tls_fallback: bool,
    /// Requests the session holds at once, waiting or in flight (1024).
    pub max_requests: usize,
    /// Unsolicited frames kept (256); the oldest is dropped (and counted) beyond.
    pub max_unsolicited: usize,
    /// Bytes of unsolicited frames kept (4 MiB), likewise.
    pub max_unsolicited_bytes: usize,
}

impl SessionConfig {
    /// Defaults for the entity at `peer` (its UDP port assumed 13400).
    #[must_use]
    pub fn new(peer: SocketAddr) -> Self {
        Self {
            peer,
            udp_peer: SocketAddr::new(peer.ip(), doip_transport::DISCOVERY_PORT),
            tester: LogicalAddress::DEFAULT_TESTER,
            version: ProtocolVersion::Iso2012,
            activation: Some(ActivationType::Default),
            oem_specific: None,
            activation_timeout: timing::A_PROCESSING_TIME,
            confirmation_timeout: Duration::from_secs(30),
            ack_timeout: timing::A_DOIP_DIAGNOSTIC_MESSAGE,
            p2: timing::A_PROCESSING_TIME,
            p2_star: Duration::from_secs(5),
            ecu_timing: BTreeMap::new(),
            max_pending: Duration::from_mins(2),
            late_answer_hold: timing::A_PROCESSING_TIME,
            alive_check_timeout: timing::A_PROCESSING_TIME,
            udp_timeout: timing::A_DOIP_CTRL,
            auto_reconnect: false,
            reconnect_window: timing::A_DOIP_CTRL,
            tls: false,
            tls_fallback: false,
            max_requests: 1024,
            max_unsolicited: 256,
            max_unsolicited_bytes: 4 << 20,
        }
    }
}

impl SessionConfig {
    /// The P2 and P2* that apply to answers from `ecu`.
    #[must_use]
    pub fn uds_timing(&self, ecu: LogicalAddress) -> UdsTiming {
        self.ecu_timing
            .get(&ecu)
            .copied()
            .unwrap_or(UdsTiming { p2: self.p2, p2_star: self.p2_star })
    }
}

/// UDS answer times for one ECU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdsTiming {
    /// Wait for the first answer after the ACK.
    pub p2: Duration,
    /// Wait after each "response pending".
    pub p2_star: Duration,
}

/// What a caller asks a [`Session`] for.
#[derive(Clone, Debug)]
pub struct Request {
    pub(super) kind: Kind,
    pub(super) timeout: Option<Duration>,
    pub(super) retry: bool,
}

/// What a request is, with what it carries.
#[derive(Clone, Debug)]
pub(super) enum Kind {
    Connect,
    Reconnect { close_delay: Duration },
    Uds { target: LogicalAddress, payload: Vec<u8> },
    Diagnostic { target: LogicalAddress, payload: Vec<u8> },
    Functional { target: LogicalAddress, payload: Vec<u8>, window: Duration },
    Activation { activation_type: ActivationType, oem: Option<[u8; 4]> },
    AliveCheck,
    Udp { to: Option<SocketAddr>, bytes: Vec<u8>, expect: PayloadType, what: &'static str },
    Raw { transport: TransportKind, bytes: Vec<u8> },
}

impl Request {
    const fn new(kind: Kind) -> Self {
        Self { kind, timeout: None, retry: true }
    }

    /// Connect (when not connected) and activate routing; done when routing is active
    /// ([`Outcome::Connected`]).
    #[must_use]
    pub const fn connect() -> Self {
        Self::new(Kind::Connect)
    }

    /// Close the connection, wait `close_delay`, dial again (retrying for the configured
    /// window, e.g. while an ECU resets) and activate (doipclient's `reconnect`).
    #[must_use]
    pub const fn reconnect(close_delay: Duration) -> Self {
        Self::new(Kind::Reconnect { close_delay })
    }

    /// A UDS request to one ECU; done with its final answer ([`Outcome::Answer`]), after any
    /// number of "response pending" answers. With the suppress-positive-response bit
    /// (`3E 80`) it is done once acknowledged ([`Outcome::Acknowledged`]).
    #[must_use]
    pub fn uds(target: LogicalAddress, payload: impl Into<Vec<u8>>) -> Self {
        Self::new(Kind::Uds { target, payload: payload.into() })
    }

    /// A diagnostic message whose only awaited answer is the ACK (doipclient's
    /// `send_diagnostic`): done with [`Outcome::Acknowledged`]; the UDS answer that follows
    /// is unsolicited, for [`Session::take_unsolicited`].
    #[must_use]
    pub fn diagnostic(target: LogicalAddress, payload: impl Into<Vec<u8>>) -> Self {
        Self::new(Kind::Diagnostic { target, payload: payload.into() })
    }

    /// A UDS request to a functional address; every ECU's final answer is collected for
    /// `window` after the ACK (an ECU's "response pending" extends it by P2*); done with
    /// [`Outcome::Answers`].
    #[must_use]
    pub fn functional(
        target: LogicalAddress,
        payload: impl Into<Vec<u8>>,
        window: Duration,
    ) -> Self {
        Self::new(Kind::Functional { target, payload: payload.into(), window })
    }

    /// A routing activation request of `activation_type` (OEM bytes: `oem`, else the
    /// configured ones); done with [`Outcome::Activation`] on 0x10.
    #[must_use]
    pub const fn activation(activation_type: ActivationType, oem: Option<[u8; 4]>) -> Self {
        Self::new(Kind::Activation { activation_type, oem })
    }

    /// An alive check request to the entity over TCP; done with its response
    /// ([`Outcome::Frame`]).
    #[must_use]
    pub const fn alive_check() -> Self {
        Self::new(Kind::AliveCheck)
    }

    /// `message` over UDP (to the entity's UDP address, or `to`) with header `version`; done
    /// with the first datagram of payload type `expect` from that IP ([`Outcome::Frame`]).
    /// `what` names it in a timeout.
    ///
    /// # Errors
    /// [`Error::Transport`] when the message cannot be encoded.
    pub fn udp(
        message: &Message<'_>,
        version: ProtocolVersion,
        expect: PayloadType,
        to: Option<SocketAddr>,
        what: &'static str,
    ) -> Result<Self> {
        let bytes = message.to_bytes(version).map_err(doip_transport::Error::Encode)?;
        Ok(Self::new(Kind::Udp { to, bytes, expect, what }))
    }

    /// Bytes sent as they are (a whole DoIP frame); done once handed to the driver
    /// ([`Outcome::Sent`]), nothing awaited.
    #[must_use]
    pub const fn raw(transport: TransportKind, bytes: Vec<u8>) -> Self {
        Self::new(Kind::Raw { transport, bytes })
    }

    /// Fails the request with [`Error::Timeout`] if it is not done within `timeout` of
    /// being started, whatever its stage (any `Duration`; `Duration::MAX` is forever).
    #[must_use]
    pub const fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Never reconnect for this request (doipclient's `disable_retry`).
    #[must_use]
    pub const fn no_retry(mut self) -> Self {
        self.retry = false;
        self
    }
}

impl Kind {
    /// Whether it travels on the TCP connection.
    pub(super) const fn needs_link(&self) -> bool {
        !matches!(self, Self::Udp { .. } | Self::Raw { transport: TransportKind::Udp, .. })
    }
}

/// What a finished request produced.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The connection is up: routing activated (the entity's answer), or connected without
    /// activation (`None`).
    Connected(Option<RoutingActivationResponse>),
    /// The ECU's final UDS answer (positive, or negative as received: `7F SID NRC`).
    Answer(Vec<u8>),
    /// The entity acknowledged the diagnostic message (no answer awaited).
    Acknowledged,
    /// A functional request's final answers, one per ECU, in arrival order.
    Answers(Vec<(LogicalAddress, Vec<u8>)>),
    /// Routing activated (0x10).
    Activation(RoutingActivationResponse),
    /// The awaited DoIP message (alive check response, UDP answers).
    Frame(Frame<'static>),
    /// Handed to the driver; nothing awaited.
    Sent,
}

/// What the driver must do on the wire, in order.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transmit {
    /// Dial the entity (TCP, or TLS), then call [`Session::handle_connected`] or
    /// [`Session::handle_disconnected`].
    Connect {
        /// Whether to speak TLS.
        tls: bool,
    },
    /// Close the TCP connection (no [`Session::handle_disconnected`] follows for it).
    Close,
    /// Write this frame on the TCP connection; report it with [`Session::handle_sent`] (or
    /// [`Session::handle_send_error`]), and with [`Session::handle_unsent`] if the
    /// connection ends before it is completely written.
    Tcp {
        /// The encoded frame.
        bytes: Vec<u8>,
        /// The request it belongs to (`None` for the session's own messages).
        request: Option<RequestId>,
    },
    /// Send this datagram; report it with [`Session::handle_sent`] or
    /// [`Session::handle_send_error`].
    Udp {
        /// The destination.
        to: SocketAddr,
        /// The encoded frame.
        bytes: Vec<u8>,
        /// The request it belongs to.
        request: Option<RequestId>,
    },
}

/// Something the session tells its driver.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A request finished.
    Done {
        /// The request.
        id: RequestId,
        /// Its outcome, or why it failed.
        result: Result<Outcome>,
    },
    /// An ECU answered a request with "response pending" (once per request until it is done
    /// or the event is taken, whichever comes first).
    ResponsePending {
        /// The request.
        id: RequestId,
        /// The ECU.
        from: LogicalAddress,
    },
    /// The entity refused one of our messages with a generic header NACK (at most one queued
    /// per code; [`Counters::generic_nacks`] counts them all).
    GenericNack(GenericNackCode),
}

/// A frame that matched no request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsolicited {
    /// Where it arrived.
    pub transport: TransportKind,
    /// Who sent it.
    pub from: SocketAddr,
    /// The frame.
    pub frame: Frame<'static>,
}

/// Counts a caller can read at any time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// DoIP messages handed out for sending (TCP and UDP).
    pub frames_sent: u64,
    /// DoIP messages received.
    pub frames_received: u64,
    /// Bytes handed out for sending (headers included).
    pub bytes_sent: u64,
    /// Bytes received (headers included).
    pub bytes_received: u64,
    /// Diagnostic NACKs received.
    pub nacks: u64,
    /// Generic header NACKs received.
    pub generic_nacks: u64,
    /// Reconnects that brought the connection back.
    pub reconnects: u64,
    /// Unsolicited frames received.
    pub unsolicited: u64,
    /// Unsolicited frames dropped because the queue was full (oldest first).
    pub unsolicited_dropped: u64,
}
