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
mod keeper;
mod link;
mod matching;
mod requests;
#[cfg(test)]
mod tests;
mod types;

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use doip_proto::{Frame, GenericNackCode, LogicalAddress, Message, RoutingActivationResponse};

pub(crate) use deadline::Deadline;
use keeper::Keepers;
use link::Link;
use requests::{Entry, LinkLost, Timeout};
use types::Kind;
pub use types::{
    Counters, Event, Outcome, Request, RequestId, SessionConfig, Transmit, TransportKind,
    UdsTiming, Unsolicited,
};

use crate::{Error, Result};

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
    keepers: Keepers,
    /// The keeper's own requests: their outcomes are nobody's events.
    silent: BTreeSet<RequestId>,
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
            keepers: Keepers::default(),
            silent: BTreeSet::new(),
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

    /// Uses `timing` (P2 and P2*, margins included) for the UDS answers of `ecu` instead of
    /// [`SessionConfig::p2`] / [`SessionConfig::p2_star`]; `None` goes back to those. A UDS
    /// layer calls this with what the ECU announced in its DiagnosticSessionControl answer.
    pub fn set_uds_timing(&mut self, ecu: LogicalAddress, timing: Option<UdsTiming>) {
        match timing {
            Some(t) => self.config.ecu_timing.insert(ecu, t),
            None => self.config.ecu_timing.remove(&ecu),
        };
    }

    /// Keeps `target`'s UDS session alive (`Some(interval)`) or stops (`None`): a
    /// TesterPresent `3E 80` goes to it whenever nothing was sent to it for `interval` while
    /// routing is active (2 s is usual, under S3's 5 s). `target` may be a functional
    /// address. The keeper's requests produce no events; a refusal is logged at debug.
    pub fn keep_alive(&mut self, now: Instant, target: LogicalAddress, every: Option<Duration>) {
        self.keepers.set(now, target, every);
    }

    /// The interval at which `target`'s session is kept alive, if it is.
    #[must_use]
    pub fn keep_alive_interval(&self, target: LogicalAddress) -> Option<Duration> {
        self.keepers.interval(target)
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
        if request.kind.needs_link() {
            self.prepare_link(now, &request)?;
        } else if self.link.is_closed() {
            return Err(Error::Closed { peer: self.config.peer });
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
        let hold = self.config.late_answer_hold;
        if let Some(i) = self.entries.iter().position(|e| e.id == id)
            && self.entries[i].cancel(hold, now)
        {
            self.entries.remove(i);
        }
        self.advance(now);
    }

    /// Drops every request not yet handed out (doipclient's `empty_txqueue`); returns how
    /// many. No [`Event::Done`] follows for them.
    pub fn cancel_waiting(&mut self, now: Instant) -> usize {
        let before = self.entries.len();
        self.entries.retain(|e| {
            !e.is_waiting() || matches!(e.kind, Kind::Connect | Kind::Reconnect { .. })
        });
        let dropped = before - self.entries.len();
        self.advance(now);
        dropped
    }

    /// Closes the session: the connection is closed and every request fails with
    /// [`Error::Closed`]. Later requests fail at once.
    pub fn close(&mut self, now: Instant) {
        if self.link.is_up() || self.link.is_dialing() {
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
        let first = self.link.deadline().min(self.keepers.deadline());
        self.entries.iter().map(Entry::deadline).fold(first, Deadline::min).instant()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        loop {
            let event = self.events.pop_front()?;
            match &event {
                Event::Done { id, result } if self.silent.remove(id) => {
                    if let Err(e) = result {
                        log::debug!("{}: TesterPresent keeper: {e}", self.config.peer);
                    }
                }
                Event::ResponsePending { id, .. } if self.silent.contains(id) => {}
                Event::ResponsePending { id, .. } => {
                    if let Some(e) = self.entries.iter_mut().find(|e| e.id == *id) {
                        e.pending_reported = false;
                    }
                    return Some(event);
                }
                _ => return Some(event),
            }
        }
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
    /// not knowable, so no request is failed for it (they time out on their own); it is
    /// counted, reported once per code until the event is taken, and queued (once per code
    /// until read) as an unsolicited TCP frame with this session's version: doipclient's
    /// `read_doip` raises it.
    pub fn handle_generic_nack(&mut self, code: GenericNackCode) {
        log::warn!("{}: generic NACK {code}", self.config.peer);
        self.counters.generic_nacks += 1;
        // Queued once per code until read, so a burst of NACKs pushes no answers out.
        let queued = self
            .unsolicited
            .iter()
            .any(|u| matches!(&u.frame.message, Message::GenericNack(n) if n.code == code));
        if !queued {
            let message = Message::GenericNack(doip_proto::GenericNack { code });
            let length = message.payload_len() as u32;
            let header =
                doip_proto::Header::new(self.config.version, message.payload_type(), length);
            self.unsolicited(TransportKind::Tcp, self.config.peer, Frame { header, message });
        }
        // One queued event per code: a flood of NACKs does not grow the queue.
        if !self.events.iter().any(|e| matches!(e, Event::GenericNack(c) if *c == code)) {
            self.events.push_back(Event::GenericNack(code));
        }
    }

    /// The OEM-specific bytes sent with routing activation from now on (reconnects too), as
    /// when doipclient's `vm_specific` is set.
    pub fn set_oem_specific(&mut self, oem: Option<[u8; 4]>) {
        self.config.oem_specific = oem;
    }

    /// Time passed: fail what timed out, dial what is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let peer = self.config.peer;
        if self.link.activation_timed_out(now) {
            self.fail_link(|| Error::Timeout { peer, what: "routing activation response" });
        }
        let config = &self.config;
        let hold = config.late_answer_hold;
        let mut done = Vec::new();
        self.entries.retain_mut(|e| match e.on_timeout(now, config) {
            Timeout::Nothing => true,
            Timeout::Done(result) => {
                done.push((e.id, result));
                false
            }
            Timeout::Linger(result) => {
                done.push((e.id, result));
                log::debug!(
                    "{peer}: holding the ECU of timed-out request {:?} for its late answer",
                    e.id
                );
                e.haunt(Deadline::after(now, hold));
                true
            }
            Timeout::Vanish => {
                log::debug!("{peer}: request {:?} no longer holds its ECU", e.id);
                false
            }
        });
        for (id, result) in done {
            self.events.push_back(Event::Done { id, result });
        }
        self.keep_sessions_alive(now);
        self.advance(now);
    }

    /// Starts a `3E 80` for every kept target that is due, idle and reachable; a target with
    /// a request open needs none (that request keeps its session alive).
    fn keep_sessions_alive(&mut self, now: Instant) {
        for target in self.keepers.due(now) {
            if !self.link.is_ready() || self.entries.iter().any(|e| e.target() == Some(target)) {
                continue;
            }
            let request = Request::uds(target, keeper::TESTER_PRESENT).no_retry();
            match self.start(now, request) {
                Ok(id) => {
                    self.silent.insert(id);
                }
                Err(e) => log::debug!("{}: TesterPresent keeper: {e}", self.config.peer),
            }
        }
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

    /// Reports a finished request (a ghost's end is silent: its caller had its outcome).
    fn finish(&mut self, e: &Entry, result: Result<Outcome>) {
        if e.is_ghost() {
            log::debug!("{}: request {:?} no longer holds its ECU", self.config.peer, e.id);
        } else {
            self.events.push_back(Event::Done { id: e.id, result });
        }
    }

    /// Fails every request `which` selects with `error`.
    fn fail_where(&mut self, which: impl Fn(&Entry) -> bool, error: impl Fn(&Entry) -> Error) {
        let mut done = Vec::new();
        self.entries.retain(|e| {
            if which(e) {
                if !e.is_ghost() {
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
        let mut activation_busy = self.link.is_activating();
        let mut started = Vec::new();
        let mut connected_now = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            let go = match &e.kind {
                Kind::Connect => {
                    if ready && e.may_start() {
                        connected_now.push(e.id);
                    }
                    false
                }
                Kind::Reconnect { .. } => false,
                // UDS servers take one request at a time: nothing earlier may hold the ECU.
                Kind::Uds { .. } | Kind::Diagnostic { .. } | Kind::Functional { .. } => {
                    ready && !self.entries[..i].iter().any(|earlier| earlier.blocks(&e.kind))
                }
                Kind::Activation { .. } => {
                    let go = connected && !activation_busy;
                    activation_busy = true;
                    go
                }
                Kind::AliveCheck | Kind::Raw { transport: TransportKind::Tcp, .. } => ready,
                Kind::Udp { .. } | Kind::Raw { transport: TransportKind::Udp, .. } => true,
            };
            if go && e.may_start() {
                started.push(i);
            }
        }
        let mut finished: Vec<(RequestId, Result<Outcome>)> = Vec::new();
        for i in started {
            let e = &mut self.entries[i];
            if let Some(target) = e.target() {
                self.keepers.sent(now, target);
            }
            match e.start(now, &self.config) {
                Ok(Some(t)) => self.transmits.push_back(t),
                Ok(None) => {}
                Err(err) => finished.push((e.id, Err(err))),
            }
        }
        // A connect asked while the connection is up is done at once.
        let activation = self.link.activation;
        finished
            .extend(connected_now.into_iter().map(|id| (id, Ok(Outcome::Connected(activation)))));
        for (id, result) in finished {
            self.finish_id(id, result);
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
