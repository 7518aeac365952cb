//! [`Session`]: everything one tester connection means, without sockets or clocks.
//!
//! The shape is quinn-proto's: a driver feeds what happened — [`Session::handle_connected`],
//! [`Session::handle_frame`], [`Session::handle_datagram`], [`Session::handle_unsent`],
//! [`Session::handle_disconnected`], [`Session::handle_timeout`] — always with the `now` it
//! read from its clock, and drains what the session decided: [`Session::poll_transmit`]
//! (dial, close, bytes for TCP or UDP), [`Session::poll_timeout`] (the next deadline),
//! [`Session::poll_event`] (finished requests) and [`Session::poll_unsolicited`] (frames that
//! matched nothing). The blocking [`crate::Client`], the poll-driven [`crate::Tester`] and
//! any other driver only move bytes and time; the protocol meaning lives here once:
//!
//! - **Routing activation** (ISO 13400-2): every response code typed; 0x11 waits for the
//!   final answer; an answer naming another tester address is not ours (kept waiting); 0x07
//!   may fall back to TLS; its own timeout, not P2.
//! - **Requests matched to answers** (UDS.md §2): a diagnostic ACK/NACK must come from the
//!   addressed ECU to this tester and fit the request; a UDS answer must come from that ECU
//!   with SID + 0x40 (repeating the request's identifier where the service does) or
//!   `7F SID`; "response pending" extends by P2* up to a cap. One request per ECU at a time,
//!   several ECUs in flight together; functional requests collect one answer per ECU; an
//!   answer before its ACK is kept until the ACK comes.
//! - **Unsolicited frames** — a late answer after a timeout, a stale one, periodic data —
//!   are never charged to a request; they wait in a bounded queue (oldest dropped, counted).
//! - **Reconnects** retry only requests the driver proved unwritten
//!   ([`Session::handle_unsent`]); a request that may have reached the entity fails with
//!   [`Error::MaybeDelivered`] and is never sent twice.
//!
//! ```
//! use std::time::Instant;
//! use doip_client::{Outcome, Request, Session, SessionConfig, Transmit};
//! use doip_proto::{LogicalAddress, Message, ProtocolVersion, StreamDecoder, HeaderPolicy};
//!
//! let now = Instant::now();
//! let mut session = Session::new(SessionConfig::new("192.0.2.10:13400".parse().unwrap()));
//! let id = session.start(now, Request::uds(LogicalAddress(0x4010), [0x3E, 0x00]))?;
//! assert!(matches!(session.poll_transmit(), Some(Transmit::Connect { tls: false })));
//! session.handle_connected(now);
//! // The routing activation request is next on the wire; the UDS request waits for it.
//! let Some(Transmit::Tcp { bytes, .. }) = session.poll_transmit() else { unreachable!() };
//! assert_eq!(bytes[2..4], [0x00, 0x05]);
//! # Ok::<(), doip_client::Error>(())
//! ```

mod deadline;
mod link;
mod matching;
mod requests;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use doip_proto::{
    ActivationType, Frame, GenericNackCode, LogicalAddress, Message, PayloadType, ProtocolVersion,
    RoutingActivationResponse,
};
use doip_transport::timing;

pub(crate) use deadline::Deadline;
use link::Link;
use requests::{Entry, LinkLost};

use crate::{Error, Result};

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
pub struct RequestId(u64);

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
    /// Cap on "response pending" answers, from the first one (120 s: long enough for an
    /// erase of a large flash, short enough that an ECU answering 7F xx 78 forever fails).
    pub max_pending: Duration,
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
            max_pending: Duration::from_mins(2),
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

/// What a caller asks a [`Session`] for.
#[derive(Clone, Debug)]
pub struct Request {
    kind: Kind,
    timeout: Option<Duration>,
    retry: bool,
}

#[derive(Clone, Debug)]
enum Kind {
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

    /// Whether it travels on the TCP connection.
    const fn needs_link(&self) -> bool {
        !matches!(self.kind, Kind::Udp { .. } | Kind::Raw { transport: TransportKind::Udp, .. })
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
    /// The entity refused one of our messages with a generic header NACK.
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
    /// Reconnects that brought the connection back.
    pub reconnects: u64,
    /// Unsolicited frames received.
    pub unsolicited: u64,
    /// Unsolicited frames dropped because the queue was full (oldest first).
    pub unsolicited_dropped: u64,
}

/// One tester connection's protocol state. See the [module documentation](self).
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    link: Link,
    /// Unfinished requests in the order they were started.
    entries: Vec<Entry>,
    next_id: u64,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    unsolicited: VecDeque<Unsolicited>,
    unsolicited_bytes: usize,
    counters: Counters,
}

impl Session {
    /// A session, not connected until a request needs the connection.
    #[must_use]
    pub fn new(config: SessionConfig) -> Self {
        let link = Link::new(config.tls);
        Self {
            config,
            link,
            entries: Vec::new(),
            next_id: 1,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            unsolicited: VecDeque::new(),
            unsolicited_bytes: 0,
            counters: Counters::default(),
        }
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The counters so far.
    #[must_use]
    pub const fn counters(&self) -> Counters {
        self.counters
    }

    /// Whether the connection is up and usable (routing active, or connected without
    /// activation).
    #[must_use]
    pub const fn is_ready(&self) -> bool {
        self.link.is_ready()
    }

    /// Whether routing activation is in progress or done on a connection.
    #[must_use]
    pub const fn is_connected(&self) -> bool {
        self.link.is_connected()
    }

    /// The last successful routing activation answer, if any.
    #[must_use]
    pub const fn activation(&self) -> Option<&RoutingActivationResponse> {
        self.link.activation.as_ref()
    }

    /// Requests waiting or in flight.
    #[must_use]
    pub fn requests_open(&self) -> usize {
        self.entries.len()
    }

    /// Starts `request`.
    ///
    /// # Errors
    /// [`Error::EmptyPayload`]; [`Error::TooManyRequests`]; [`Error::Closed`] after
    /// [`Session::close`]; [`Error::Transport`] (`NotConnected`) when the request needs a
    /// connection that is gone and no reconnect is allowed.
    pub fn start(&mut self, now: Instant, request: Request) -> Result<RequestId> {
        if let Kind::Uds { payload, .. }
        | Kind::Diagnostic { payload, .. }
        | Kind::Functional { payload, .. } = &request.kind
            && payload.is_empty()
        {
            return Err(Error::EmptyPayload);
        }
        if self.entries.len() >= self.config.max_requests {
            return Err(Error::TooManyRequests {
                peer: self.config.peer,
                limit: self.config.max_requests,
            });
        }
        if request.needs_link() {
            self.prepare_link(now, &request)?;
        }
        let id = RequestId(self.next_id);
        self.next_id += 1;
        let overall = request.timeout.map_or(Deadline::NEVER, |t| Deadline::after(now, t));
        self.entries.push(Entry::new(id, request.kind, request.retry, overall));
        self.advance(now);
        Ok(id)
    }

    /// Gives up on a request: one not sent yet is dropped; one in flight stays until it is
    /// answered or times out, so that its late answer is never taken for the next request's
    /// (the answer becomes unsolicited). No [`Event::Done`] follows.
    pub fn cancel(&mut self, now: Instant, id: RequestId) {
        if let Some(i) = self.entries.iter().position(|e| e.id == id) {
            if self.entries[i].is_waiting() {
                self.entries.remove(i);
            } else {
                self.entries[i].abandoned = true;
            }
        }
        self.advance(now);
    }

    /// Closes the session: the connection is closed and every request fails with
    /// [`Error::Closed`]. Later requests fail at once.
    pub fn close(&mut self, now: Instant) {
        if self.link.is_up() {
            self.transmits.push_back(Transmit::Close);
        }
        self.link.close();
        let peer = self.config.peer;
        self.fail_where(|_| true, |_| Error::Closed { peer });
        self.advance(now);
    }

    /// The next thing to do on the wire.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self.transmits.pop_front()?;
        if let Transmit::Tcp { bytes, .. } | Transmit::Udp { bytes, .. } = &t {
            self.counters.frames_sent += 1;
            self.counters.bytes_sent += bytes.len() as u64;
        }
        Some(t)
    }

    /// When [`Session::handle_timeout`] is next due (`None`: nothing is timed).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.entries.iter().map(Entry::deadline).fold(self.link.deadline(), Deadline::min).instant()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front();
        if let Some(Event::ResponsePending { id, .. }) = &event
            && let Some(e) = self.entries.iter_mut().find(|e| e.id == *id)
        {
            e.pending_reported = false;
        }
        event
    }

    /// The oldest unsolicited frame.
    pub fn poll_unsolicited(&mut self) -> Option<Unsolicited> {
        self.take_unsolicited(|_| true)
    }

    /// The oldest unsolicited frame `want` accepts; the others stay queued.
    pub fn take_unsolicited(
        &mut self,
        want: impl FnMut(&Unsolicited) -> bool,
    ) -> Option<Unsolicited> {
        let i = self.unsolicited.iter().position(want)?;
        let u = self.unsolicited.remove(i)?;
        self.unsolicited_bytes -= frame_size(&u.frame);
        Some(u)
    }

    /// Drops every unsolicited frame (doipclient's `empty_rxqueue`); returns how many.
    pub fn clear_unsolicited(&mut self) -> usize {
        let n = self.unsolicited.len();
        self.unsolicited.clear();
        self.unsolicited_bytes = 0;
        n
    }

    /// The TCP connection is up (after the TLS handshake, with TLS).
    pub fn handle_connected(&mut self, now: Instant) {
        if self.link.is_dialing() {
            self.connected(now);
        } else {
            log::debug!("{}: connected while not dialing; ignored", self.config.peer);
        }
        self.advance(now);
    }

    /// The driver handed request `id`'s frame to the socket (a raw message is then done).
    pub fn handle_sent(&mut self, now: Instant, id: RequestId) {
        if self.entries.iter().any(|e| e.id == id && e.is_done_when_sent()) {
            self.finish_id(id, Ok(Outcome::Sent));
        }
        self.advance(now);
    }

    /// The driver could not hand a frame to the socket (its send queue is full, the
    /// connection is gone): its request fails with `error`; when it was the session's own
    /// message (routing activation), the connection fails.
    pub fn handle_send_error(
        &mut self,
        now: Instant,
        request: Option<RequestId>,
        error: &doip_transport::Error,
    ) {
        log::warn!("{}: could not send: {error}", self.config.peer);
        match request {
            Some(id) => self.finish_id(id, Err(Error::Transport(duplicate(error)))),
            None => self.fail_link(|| Error::Transport(duplicate(error))),
        }
        self.advance(now);
    }

    /// The frame of a request handed out with [`Transmit::Tcp`] was not (completely)
    /// written before the connection ended: it provably did not reach the entity.
    pub fn handle_unsent(&mut self, now: Instant, id: RequestId) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.id == id) {
            log::debug!("{}: request {id:?} was not written", self.config.peer);
            e.unsent();
        } else {
            log::warn!("{}: a message of request {id:?} was not written", self.config.peer);
        }
        self.advance(now);
    }

    /// The TCP connection ended (or dialing failed) for `error`.
    pub fn handle_disconnected(&mut self, now: Instant, error: &doip_transport::Error) {
        log::debug!("{}: disconnected: {error}", self.config.peer);
        if self.link.is_dialing() || self.link.is_activating() {
            // Nothing of the requests was sent yet: dial again inside a reconnect window,
            // else every request that needs the connection fails with the cause.
            if self.link.may_redial(now) {
                self.link.redial_soon(now);
            } else {
                self.link.down();
                self.fail_where(Entry::needs_link, |_| Error::Transport(duplicate(error)));
            }
        } else if self.link.is_ready() {
            self.link_lost(now, error);
        }
        self.advance(now);
    }

    /// The connection went away under requests: those in flight may have been delivered and
    /// are never resent; waiting ones are kept for a reconnect when allowed.
    fn link_lost(&mut self, now: Instant, error: &doip_transport::Error) {
        let auto = self.config.auto_reconnect;
        let peer = self.config.peer;
        let mut done = Vec::new();
        self.entries.retain_mut(|e| {
            if !e.needs_link() {
                return true;
            }
            let result = match e.on_link_lost(auto) {
                LinkLost::Keep => return true,
                LinkLost::Drop => return false,
                LinkLost::Finish(outcome) => Ok(outcome),
                LinkLost::Fail(maybe_delivered) => {
                    let cause = duplicate(error);
                    Err(match (maybe_delivered, e.target()) {
                        (true, Some(target)) => {
                            Error::MaybeDelivered { peer, target, cause: Box::new(cause) }
                        }
                        _ => Error::Transport(cause),
                    })
                }
            };
            done.push((e.id, result));
            false
        });
        for (id, result) in done {
            self.events.push_back(Event::Done { id, result });
        }
        if auto && self.entries.iter().any(Entry::needs_link) {
            log::info!("{peer}: connection lost ({error}); reconnecting");
            self.link.reconnect_after(now, Duration::ZERO, self.config.reconnect_window);
        } else {
            self.link.down();
        }
    }

    /// A frame arrived on the TCP connection.
    pub fn handle_frame(&mut self, now: Instant, frame: Frame<'static>) {
        self.count_received(&frame);
        if let Some(frame) = self.on_frame(now, frame) {
            self.unsolicited(TransportKind::Tcp, self.config.peer, frame);
        }
        self.advance(now);
    }

    /// A datagram arrived on the UDP socket from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, frame: Frame<'static>) {
        self.count_received(&frame);
        let udp_peer = self.config.udp_peer;
        let found = self.entries.iter().position(|e| e.awaits_datagram(&frame, from, udp_peer));
        match found {
            Some(i) => {
                let e = self.entries.remove(i);
                self.finish(&e, Ok(Outcome::Frame(frame)));
            }
            None => self.unsolicited(TransportKind::Udp, from, frame),
        }
        self.advance(now);
    }

    /// The entity answered one of our messages with a generic header NACK. Which message is
    /// not knowable, so no request is failed for it (they time out on their own).
    pub fn handle_generic_nack(&mut self, code: GenericNackCode) {
        log::warn!("{}: generic NACK {code}", self.config.peer);
        self.events.push_back(Event::GenericNack(code));
    }

    /// Time passed: fail what timed out, dial what is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let peer = self.config.peer;
        if self.link.activation_timed_out(now) {
            self.fail_link(|| Error::Timeout { peer, what: "routing activation response" });
        }
        let mut done = Vec::new();
        let config = &self.config;
        self.entries.retain_mut(|e| match e.on_timeout(now, config) {
            Some(result) => {
                done.push((e.abandoned, e.id, result));
                false
            }
            None => true,
        });
        for (abandoned, id, result) in done {
            if abandoned {
                log::debug!("{peer}: abandoned request {id:?} ended: {result:?}");
            } else {
                self.events.push_back(Event::Done { id, result });
            }
        }
        self.advance(now);
    }

    fn count_received(&mut self, frame: &Frame<'_>) {
        self.counters.frames_received += 1;
        self.counters.bytes_received += 8 + u64::from(frame.header.payload_length);
    }

    /// Queues an unsolicited frame, dropping the oldest beyond the bounds.
    fn unsolicited(&mut self, transport: TransportKind, from: SocketAddr, frame: Frame<'static>) {
        log::debug!("{from}: unsolicited {} [{}]", frame.message, hex(&frame));
        self.counters.unsolicited += 1;
        self.unsolicited_bytes += frame_size(&frame);
        self.unsolicited.push_back(Unsolicited { transport, from, frame });
        while self.unsolicited.len() > self.config.max_unsolicited
            || (self.unsolicited_bytes > self.config.max_unsolicited_bytes
                && self.unsolicited.len() > 1)
        {
            let Some(old) = self.unsolicited.pop_front() else { break };
            self.unsolicited_bytes -= frame_size(&old.frame);
            self.counters.unsolicited_dropped += 1;
            log::debug!("{}: unsolicited queue full; dropped {}", old.from, old.frame.message);
        }
    }

    /// Reports a finished request (an abandoned one's answer becomes unsolicited).
    fn finish(&mut self, e: &Entry, result: Result<Outcome>) {
        if e.abandoned {
            log::debug!("{}: abandoned request {:?} ended", self.config.peer, e.id);
        } else {
            self.events.push_back(Event::Done { id: e.id, result });
        }
    }

    /// Fails every request `which` selects with `error`.
    fn fail_where(&mut self, which: impl Fn(&Entry) -> bool, error: impl Fn(&Entry) -> Error) {
        let mut done = Vec::new();
        self.entries.retain(|e| {
            if which(e) {
                if !e.abandoned {
                    done.push((e.id, error(e)));
                }
                false
            } else {
                true
            }
        });
        for (id, err) in done {
            self.events.push_back(Event::Done { id, result: Err(err) });
        }
    }

    /// Hands out every request whose turn it is, and a dial when one is due.
    fn advance(&mut self, now: Instant) {
        if self.link.dial_due(now) {
            self.transmits.push_back(Transmit::Connect { tls: self.link.tls });
        }
        let ready = self.link.is_ready();
        let connected = self.link.is_connected() && !self.link.is_activating();
        // Targets with an earlier unfinished request, and whether a functional request or
        // any diagnostic request comes earlier: UDS servers take one request at a time.
        let mut busy: Vec<LogicalAddress> = Vec::new();
        let mut functional_before = false;
        let mut diagnostic_before = false;
        let mut activation_busy = self.link.is_activating();
        let mut started = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            let waiting = e.may_start();
            let go = match &e.kind {
                Kind::Connect | Kind::Reconnect { .. } => false,
                Kind::Uds { target, .. } | Kind::Diagnostic { target, .. } => {
                    let go = ready && !functional_before && !busy.contains(target);
                    busy.push(*target);
                    diagnostic_before = true;
                    go
                }
                Kind::Functional { .. } => {
                    let go = ready && !functional_before && !diagnostic_before;
                    functional_before = true;
                    diagnostic_before = true;
                    go
                }
                Kind::Activation { .. } => {
                    let go = connected && !activation_busy;
                    activation_busy = true;
                    go
                }
                Kind::AliveCheck | Kind::Raw { transport: TransportKind::Tcp, .. } => ready,
                Kind::Udp { .. } | Kind::Raw { transport: TransportKind::Udp, .. } => true,
            };
            if go && waiting {
                started.push(i);
            }
        }
        let mut failed = Vec::new();
        for i in started {
            let e = &mut self.entries[i];
            match e.start(now, &self.config) {
                Ok(Some(t)) => self.transmits.push_back(t),
                Ok(None) => {}
                Err(err) => failed.push((e.id, err)),
            }
        }
        for (id, err) in failed {
            self.finish_id(id, Err(err));
        }
    }

    /// Finishes request `id` if it is still open.
    fn finish_id(&mut self, id: RequestId, result: Result<Outcome>) {
        if let Some(i) = self.entries.iter().position(|e| e.id == id) {
            let e = self.entries.remove(i);
            self.finish(&e, result);
        }
    }

    /// Routes a TCP frame; gives it back when it matched nothing.
    fn on_frame(&mut self, now: Instant, frame: Frame<'static>) -> Option<Frame<'static>> {
        let tester = self.config.tester;
        match &frame.message {
            Message::RoutingActivationResponse(r) if r.tester_address == tester => {
                let r = *r;
                self.on_activation(now, r, frame)
            }
            Message::DiagnosticMessagePositiveAck(a) if a.target_address == tester => {
                let (source, previous) = (a.source_address, a.previous_message.clone());
                if self.on_ack(now, source, &previous, None) { None } else { Some(frame) }
            }
            Message::DiagnosticMessageNegativeAck(n) if n.target_address == tester => {
                let (source, previous) = (n.source_address, n.previous_message.clone());
                if self.on_ack(now, source, &previous, Some(n.code)) {
                    self.counters.nacks += 1;
                    None
                } else {
                    Some(frame)
                }
            }
            Message::DiagnosticMessage(d) if d.target_address == tester => {
                self.on_answer(now, frame)
            }
            Message::AliveCheckResponse(_) => {
                let Some(i) = self.entries.iter().position(Entry::awaits_alive_check) else {
                    return Some(frame);
                };
                let e = self.entries.remove(i);
                self.finish(&e, Ok(Outcome::Frame(frame)));
                None
            }
            _ => Some(frame),
        }
    }
}

/// A whole frame's size for the unsolicited bound.
fn frame_size(frame: &Frame<'_>) -> usize {
    8 + frame.header.payload_length as usize
}

/// The frame's bytes in hex, for the debug log of unmatched frames.
fn hex(frame: &Frame<'_>) -> String {
    use std::fmt::Write as _;
    let mut bytes = Vec::new();
    if frame.encode(&mut bytes).is_err() {
        return String::from("?");
    }
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A copy of a transport error for every request it fails (`io::Error` is not `Clone`).
pub(crate) fn duplicate(e: &doip_transport::Error) -> doip_transport::Error {
    use doip_transport::Error as T;
    match e {
        T::Timeout { peer, what, after } => T::Timeout { peer: *peer, what, after: *after },
        T::ClosedByPeer { peer } => T::ClosedByPeer { peer: *peer },
        T::Refused { peer } => T::Refused { peer: *peer },
        T::Tls { peer, source } => T::Tls { peer: *peer, source: source.clone() },
        T::TlsTruncated { peer } => T::TlsTruncated { peer: *peer },
        T::Nack { peer, code } => T::Nack { peer: *peer, code: *code },
        T::Protocol { peer, source } => T::Protocol { peer: *peer, source: source.clone() },
        T::Encode(source) => T::Encode(source.clone()),
        T::QueueFull { peer, queued } => T::QueueFull { peer: *peer, queued: *queued },
        T::NotConnected { peer } => T::NotConnected { peer: *peer },
        T::UnknownHandle(h) => T::UnknownHandle(*h),
        T::WrongEndpoint(h) => T::WrongEndpoint(*h),
        T::LoopStopped => T::LoopStopped,
        T::Io { peer, source } => {
            T::Io { peer: *peer, source: std::io::Error::new(source.kind(), source.to_string()) }
        }
        other => T::Io { peer: None, source: std::io::Error::other(other.to_string()) },
    }
}
