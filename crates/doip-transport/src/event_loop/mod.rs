//! The `mio` driver: any number of DoIP endpoints (TCP dialed or accepted, TLS or not, UDP)
//! on one thread, with timers and cross-thread wake-ups.
//!
//! The caller runs [`EventLoop::poll`] and drains [`EventLoop::next_event`]. Sends are written
//! to the socket at once when it can take them; the rest is flushed on writability.
//!
//! Work per poll is bounded whatever peers send (see [`EventLoop`]): each endpoint reads at
//! most a budget per poll ([`STREAM_READ_BYTES`], [`DATAGRAMS_PER_POLL`],
//! [`ACCEPTS_PER_POLL`]); an endpoint whose budget ran out is put on the `backlog`, which
//! the next poll handles as readable without waiting.

mod events;
mod options;
mod stream;
mod stream_io;
mod udp_endpoint;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use doip_proto::{LogicalAddress, Message, ProtocolVersion};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};

pub use events::{Event, Handle};
pub use options::{ConnectOptions, ListenOptions, ReconnectPolicy, TlsClient};
use stream::{Stream, StreamState};
use stream_io::listener;
use udp_endpoint::UdpEndpoint;

use crate::connection::SendId;
use crate::udp::UdpOptions;
use crate::{Error, Result};

const WAKER: Token = Token(0);

/// Bytes a TCP stream reads at most per [`EventLoop::poll`]: it stops once it has read this
/// much, so a read asking for up to 64 KiB may take it to just under twice this. TLS counts
/// the records read.
const STREAM_READ_BYTES: usize = 64 * 1024;
/// Read calls a TCP stream makes at most per poll (bounds the work when reads are tiny).
const STREAM_READ_CALLS: usize = 64;
/// Datagrams a UDP endpoint receives at most per poll.
const DATAGRAMS_PER_POLL: usize = 64;
/// Connections a listener accepts at most per poll.
const ACCEPTS_PER_POLL: usize = 64;

enum Endpoint {
    Stream(Box<Stream>),
    Listener { listener: TcpListener, options: ListenOptions },
    Udp(UdpEndpoint),
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    /// The connect (and TLS handshake) of the stream's dial number `dial` takes too long.
    ConnectTimeout { handle: Handle, dial: u64 },
    /// Time for the stream to dial again, unless it dialed since dial number `dial`.
    Reconnect { handle: Handle, dial: u64 },
    /// A timer of the caller's ([`EventLoop::set_timer`]).
    User { handle: Option<Handle>, id: u64 },
}

/// One thread's DoIP endpoints, driven by `mio`.
///
/// Memory and work stay bounded whatever peers send:
/// - per [`EventLoop::poll`] a TCP stream reads at most 64 KiB (or 64 read calls), a UDP
///   endpoint 64 datagrams and a listener 64 connections, so one fast sender cannot starve
///   timers or other endpoints, and one poll produces a bounded number of events. An
///   endpoint with input left is continued by the next poll, which then does not wait
///   (readiness is edge-triggered: no new edge would come for what already waits). The event
///   queue is thereby bounded by one poll's budgets, as long as the caller drains it between
///   polls;
/// - a connection whose peer does not read our answers stops being read once 64 KiB of them
///   wait ([`crate::Connection::wants_read`]), and is read again as they drain;
/// - what callers queue on a connection, messages held across a reconnect included, is
///   bounded by its `max_queued_bytes`, and a UDP endpoint's queue by
///   [`UdpOptions::max_queued_bytes`]: sends beyond fail with [`Error::QueueFull`];
/// - timeouts and delays too large for the clock (e.g. `Duration::MAX`) mean "never".
pub struct EventLoop {
    poll: Poll,
    events: Events,
    /// Token, readable, writable, and whether the peer hung up or the socket failed.
    ready: Vec<(Token, bool, bool, bool)>,
    endpoints: HashMap<u64, Endpoint>,
    next_handle: u64,
    timers: BinaryHeap<Reverse<(Instant, u64, TimerKind)>>,
    timer_seq: u64,
    out: VecDeque<Event>,
    waker: Arc<Waker>,
    datagram: Vec<u8>,
    /// Coalescing streams with unflushed sends, written at the start of the next poll.
    dirty: Vec<Handle>,
    /// Endpoints that stopped with input left (their read budget ran out, or reading was
    /// unblocked): the next poll handles them as readable, and does not wait.
    backlog: Vec<Handle>,
}

impl fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLoop")
            .field("endpoints", &self.endpoints.len())
            .field("timers", &self.timers.len())
            .field("pending_events", &self.out.len())
            .finish_non_exhaustive()
    }
}

impl EventLoop {
    /// A new loop with no endpoints.
    ///
    /// # Errors
    /// When the OS refuses an epoll instance or the waker.
    pub fn new() -> Result<Self> {
        let poll = Poll::new().map_err(|e| Error::io(None, e))?;
        let waker = Waker::new(poll.registry(), WAKER).map_err(|e| Error::io(None, e))?;
        Ok(Self {
            poll,
            events: Events::with_capacity(256),
            ready: Vec::new(),
            endpoints: HashMap::new(),
            next_handle: 1,
            timers: BinaryHeap::new(),
            timer_seq: 0,
            out: VecDeque::new(),
            waker: Arc::new(waker),
            datagram: vec![0; 65_536],
            dirty: Vec::new(),
            backlog: Vec::new(),
        })
    }

    /// A waker another thread can use to interrupt [`EventLoop::poll`].
    #[must_use]
    pub fn waker(&self) -> Arc<Waker> {
        self.waker.clone()
    }

    fn new_handle(&mut self) -> Handle {
        let h = Handle(self.next_handle);
        self.next_handle += 1;
        h
    }

    fn token(handle: Handle) -> Token {
        Token(usize::try_from(handle.0).unwrap_or(usize::MAX))
    }

    fn add_timer(&mut self, at: Instant, kind: TimerKind) {
        self.timer_seq += 1;
        self.timers.push(Reverse((at, self.timer_seq, kind)));
    }

    /// Sets a timer `after` from now; one too far away for the clock to represent (e.g.
    /// `Duration::MAX`) never fires.
    fn add_timer_after(&mut self, after: Duration, kind: TimerKind) {
        match Instant::now().checked_add(after) {
            Some(at) => self.add_timer(at, kind),
            None => log::debug!("{kind:?} after {after:?}: never"),
        }
    }

    /// Raises [`Event::Timer`] with `id` at `at`.
    pub fn set_timer(&mut self, handle: Option<Handle>, at: Instant, id: u64) {
        self.add_timer(at, TimerKind::User { handle, id });
    }

    /// Raises [`Event::Timer`] with `id` `after` from now, or never when that is beyond what
    /// the clock can represent (e.g. `Duration::MAX`): no `Instant + Duration` to overflow.
    pub fn set_timer_after(&mut self, handle: Option<Handle>, after: Duration, id: u64) {
        self.add_timer_after(after, TimerKind::User { handle, id });
    }

    /// Dials `peer` as a tester. [`Event::Connected`] or [`Event::Disconnected`] follows.
    ///
    /// # Errors
    /// When no socket can be created or bound.
    pub fn connect(&mut self, peer: SocketAddr, options: ConnectOptions) -> Result<Handle> {
        let handle = self.new_handle();
        let conn = options.connection(peer);
        let stream = Stream::new(None, conn, None, StreamState::Waiting, Some(options));
        self.endpoints.insert(handle.0, Endpoint::Stream(Box::new(stream)));
        if let Err(e) = self.dial(handle) {
            self.endpoints.remove(&handle.0);
            return Err(e);
        }
        Ok(handle)
    }

    /// Listens for testers on `local` (port 0 picks a free port; see
    /// [`EventLoop::local_addr`]). [`Event::Accepted`] reports each connection.
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub fn listen(&mut self, local: SocketAddr, options: ListenOptions) -> Result<Handle> {
        let mut listener = listener(local).map_err(|e| Error::io(local, e))?;
        let handle = self.new_handle();
        self.poll
            .registry()
            .register(&mut listener, Self::token(handle), Interest::READABLE)
            .map_err(|e| Error::io(local, e))?;
        self.endpoints.insert(handle.0, Endpoint::Listener { listener, options });
        Ok(handle)
    }

    /// Opens a UDP endpoint. [`Event::Datagram`] reports each message received.
    ///
    /// # Errors
    /// When the socket cannot be opened, configured or bound.
    pub fn bind_udp(&mut self, options: UdpOptions) -> Result<Handle> {
        let mut socket = options.open().map_err(|e| Error::io(options.bind, e))?;
        let handle = self.new_handle();
        self.poll
            .registry()
            .register(&mut socket, Self::token(handle), Interest::READABLE | Interest::WRITABLE)
            .map_err(|e| Error::io(options.bind, e))?;
        self.endpoints.insert(handle.0, Endpoint::Udp(UdpEndpoint::new(socket, options)));
        Ok(handle)
    }

    /// The local address of an endpoint.
    ///
    /// # Errors
    /// Unknown handle, or no socket right now (reconnecting).
    pub fn local_addr(&self, handle: Handle) -> Result<SocketAddr> {
        let addr = match self.endpoints.get(&handle.0) {
            Some(Endpoint::Stream(s)) => match &s.socket {
                Some(socket) => socket.local_addr(),
                None => return Err(Error::NotConnected { peer: s.conn.peer() }),
            },
            Some(Endpoint::Listener { listener, .. }) => listener.local_addr(),
            Some(Endpoint::Udp(udp)) => udp.socket.local_addr(),
            None => return Err(Error::UnknownHandle(handle)),
        };
        addr.map_err(|e| Error::io(None, e))
    }

    /// The peer of a TCP connection.
    ///
    /// # Errors
    /// Unknown handle or not a TCP connection.
    pub fn peer_addr(&self, handle: Handle) -> Result<SocketAddr> {
        match self.endpoints.get(&handle.0) {
            Some(Endpoint::Stream(s)) => Ok(s.conn.peer()),
            Some(_) => Err(Error::WrongEndpoint(handle)),
            None => Err(Error::UnknownHandle(handle)),
        }
    }

    /// Sets the source address a tester connection answers alive checks with.
    ///
    /// # Errors
    /// Unknown handle or not a TCP connection.
    pub fn set_tester_address(&mut self, handle: Handle, address: LogicalAddress) -> Result<()> {
        let s = self.stream_mut(handle)?;
        s.conn.set_tester_address(address);
        if let Some(d) = &mut s.dial {
            d.tester_address = address;
        }
        Ok(())
    }

    /// Queues `message` on a TCP connection and writes as much as the socket takes now.
    /// While the first connection is being set up the message waits in the queue; while a
    /// dropped connection is being re-established it is held with the other unsent messages
    /// until [`EventLoop::resume`]. Held messages count against the connection's
    /// `max_queued_bytes` like queued ones.
    ///
    /// # Errors
    /// Unknown handle, a full queue ([`Error::QueueFull`]), or a closing connection.
    pub fn send(&mut self, handle: Handle, message: &Message<'_>) -> Result<SendId> {
        log::debug!("{handle} send {message}");
        let outgoing = self.stream_mut(handle)?.conn.encode(message)?;
        self.enqueue(handle, outgoing)
    }

    /// Queues raw bytes on a TCP connection (see [`Connection::send_raw`](crate::Connection::send_raw)), like
    /// [`EventLoop::send`].
    ///
    /// # Errors
    /// As [`EventLoop::send`].
    pub fn send_raw(&mut self, handle: Handle, bytes: Vec<u8>) -> Result<SendId> {
        let outgoing = self.stream_mut(handle)?.conn.raw(bytes)?;
        self.enqueue(handle, outgoing)
    }

    /// Limits each write on a TCP connection to `chunk` bytes (`None`: no limit). With
    /// `Some(1)` every byte leaves in its own segment, as some ECUs and fault tests do.
    ///
    /// # Errors
    /// Unknown handle or not a TCP connection.
    pub fn set_write_chunk(&mut self, handle: Handle, chunk: Option<usize>) -> Result<()> {
        self.stream_mut(handle)?.write_chunk = chunk.map(|c| c.max(1));
        Ok(())
    }

    /// Sends the messages held across a reconnect (after routing was activated again).
    ///
    /// # Errors
    /// Unknown handle or not a TCP connection.
    pub fn resume(&mut self, handle: Handle) -> Result<()> {
        let s = self.stream_mut(handle)?;
        s.release_held();
        self.schedule_flush(handle);
        Ok(())
    }

    /// Sends one datagram from a UDP endpoint.
    ///
    /// # Errors
    /// Unknown handle, not UDP, an encoding error, or the socket's error.
    pub fn send_to(&mut self, handle: Handle, to: SocketAddr, message: &Message<'_>) -> Result<()> {
        let version = match self.endpoints.get(&handle.0) {
            Some(Endpoint::Udp(udp)) => udp.options.version,
            _ => return Err(self.wrong_or_unknown(handle)),
        };
        self.send_to_with_version(handle, to, version, message)
    }

    /// Sends one datagram with an explicit protocol version (e.g. 0xFF for identification
    /// requests to entities of unknown version).
    ///
    /// # Errors
    /// As [`EventLoop::send_to`].
    pub fn send_to_with_version(
        &mut self,
        handle: Handle,
        to: SocketAddr,
        version: ProtocolVersion,
        message: &Message<'_>,
    ) -> Result<()> {
        let Some(Endpoint::Udp(udp)) = self.endpoints.get_mut(&handle.0) else {
            return Err(self.wrong_or_unknown(handle));
        };
        let bytes = message.to_bytes(version).map_err(Error::Encode)?;
        log::debug!("{handle} send to {to}: {message}");
        udp.send_to(to, bytes)
    }

    /// Sends one datagram of bytes exactly as given (a whole DoIP frame, already encoded).
    ///
    /// # Errors
    /// As [`EventLoop::send_to`].
    pub fn send_to_raw(&mut self, handle: Handle, to: SocketAddr, bytes: Vec<u8>) -> Result<()> {
        let Some(Endpoint::Udp(udp)) = self.endpoints.get_mut(&handle.0) else {
            return Err(self.wrong_or_unknown(handle));
        };
        log::debug!("{handle} send {} bytes to {to}", bytes.len());
        udp.send_to(to, bytes)
    }

    fn wrong_or_unknown(&self, handle: Handle) -> Error {
        if self.endpoints.contains_key(&handle.0) {
            Error::WrongEndpoint(handle)
        } else {
            Error::UnknownHandle(handle)
        }
    }

    /// Closes an endpoint. A TLS connection sends `close_notify`; what is queued is written
    /// if the socket takes it now, and every message left is reported in
    /// [`Event::SendFailed`].
    pub fn close(&mut self, handle: Handle) {
        if matches!(self.endpoints.get(&handle.0), Some(Endpoint::Stream(_))) {
            self.flush_stream(handle);
        }
        match self.endpoints.remove(&handle.0) {
            Some(Endpoint::Stream(mut s)) => {
                if let Some(tls) = &mut s.tls {
                    tls.send_close_notify();
                    if let Some(socket) = &mut s.socket {
                        let _ = tls.write_tls(socket);
                    }
                }
                if let Some(mut socket) = s.socket.take() {
                    let _ = self.poll.registry().deregister(&mut socket);
                    let _ = socket.shutdown(std::net::Shutdown::Both);
                }
                self.report_unsent(handle, &mut s);
            }
            Some(Endpoint::Listener { mut listener, .. }) => {
                let _ = self.poll.registry().deregister(&mut listener);
            }
            Some(Endpoint::Udp(mut udp)) => {
                let _ = self.poll.registry().deregister(&mut udp.socket);
            }
            None => {}
        }
    }

    /// Drops a TCP connection at once: nothing queued is flushed and a TLS connection ends
    /// **without** `close_notify` (fault injection: a peer that crashes or truncates). Unsent
    /// messages are reported in [`Event::SendFailed`].
    pub fn abort(&mut self, handle: Handle) {
        if !matches!(self.endpoints.get(&handle.0), Some(Endpoint::Stream(_))) {
            return self.close(handle);
        }
        if let Some(Endpoint::Stream(mut s)) = self.endpoints.remove(&handle.0) {
            if let Some(mut socket) = s.socket.take() {
                let _ = self.poll.registry().deregister(&mut socket);
            }
            self.report_unsent(handle, &mut s);
        }
    }

    /// Stops (or resumes) reading a TCP connection: while paused, what the peer sends stays
    /// in the socket buffers until they fill and the peer's writes block (fault injection).
    ///
    /// # Errors
    /// [`Error::UnknownHandle`] / [`Error::WrongEndpoint`].
    /// Resuming reads what arrived meanwhile in the next poll, which does not wait for it.
    pub fn pause_reading(&mut self, handle: Handle, paused: bool) -> Result<()> {
        self.stream_mut(handle)?.reading.paused = paused;
        if !paused {
            // Readiness is edge-triggered: no new edge comes for what arrived while paused.
            self.continue_next_poll(handle);
        }
        Ok(())
    }

    /// Has the next poll handle `handle` as readable, without waiting.
    fn continue_next_poll(&mut self, handle: Handle) {
        if !self.backlog.contains(&handle) {
            self.backlog.push(handle);
        }
    }

    /// The next event, if any.
    pub fn next_event(&mut self) -> Option<Event> {
        self.out.pop_front()
    }

    /// Whether events are waiting to be taken.
    #[must_use]
    pub fn has_events(&self) -> bool {
        !self.out.is_empty()
    }

    /// Waits up to `timeout` (forever with `None`) for socket readiness, a timer or a wake-up,
    /// handles everything ready, and returns how many events are waiting.
    ///
    /// It does not wait while events are waiting or endpoints have input left from the last
    /// poll; each endpoint does a bounded amount of work per poll (see [`EventLoop`]).
    ///
    /// # Errors
    /// When the OS poll itself fails.
    pub fn poll(&mut self, timeout: Option<Duration>) -> Result<usize> {
        for handle in std::mem::take(&mut self.dirty) {
            self.flush_stream(handle);
        }
        let now = Instant::now();
        let mut timeout = timeout;
        if let Some(Reverse((at, _, _))) = self.timers.peek() {
            let until = at.saturating_duration_since(now);
            timeout = Some(timeout.map_or(until, |t| t.min(until)));
        }
        if !self.out.is_empty() || !self.backlog.is_empty() {
            timeout = Some(Duration::ZERO);
        }
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(None, e)),
        }
        self.ready.clear();
        self.ready.extend(self.events.iter().map(|e| {
            let closed = e.is_read_closed() || e.is_error();
            (e.token(), e.is_readable() || closed, e.is_writable(), closed)
        }));
        // Endpoints continued from the last poll are handled as readable, once each.
        for handle in std::mem::take(&mut self.backlog) {
            let token = Self::token(handle);
            match self.ready.iter_mut().find(|r| r.0 == token) {
                Some(ready) => ready.1 = true,
                None => self.ready.push((token, true, false, false)),
            }
        }
        for i in 0..self.ready.len() {
            let (token, readable, writable, closed) = self.ready[i];
            if token == WAKER {
                continue;
            }
            self.ready_endpoint(Handle(token.0 as u64), readable, writable, closed);
        }
        self.fire_timers();
        Ok(self.out.len())
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        while self.timers.peek().is_some_and(|Reverse((at, _, _))| *at <= now) {
            let Some(Reverse((_, _, kind))) = self.timers.pop() else { break };
            match kind {
                TimerKind::User { handle, id } => self.out.push_back(Event::Timer { handle, id }),
                TimerKind::ConnectTimeout { handle, dial } => {
                    let expired = match self.endpoints.get(&handle.0) {
                        Some(Endpoint::Stream(s))
                            if s.dials == dial
                                && matches!(
                                    s.state,
                                    StreamState::Connecting | StreamState::Handshaking
                                ) =>
                        {
                            let after =
                                s.dial.as_ref().map_or(Duration::ZERO, |d| d.connect_timeout);
                            Some((s.conn.peer(), after))
                        }
                        _ => None,
                    };
                    if let Some((peer, after)) = expired {
                        self.fail_stream(
                            handle,
                            Error::Timeout { peer, what: "connection", after },
                        );
                    }
                }
                TimerKind::Reconnect { handle, dial } => {
                    let current = matches!(
                        self.endpoints.get(&handle.0),
                        Some(Endpoint::Stream(s)) if s.dials == dial && matches!(s.state, StreamState::Waiting)
                    );
                    if current && let Err(e) = self.dial(handle) {
                        self.fail_stream(handle, e);
                    }
                }
            }
        }
    }

    fn ready_endpoint(&mut self, handle: Handle, readable: bool, writable: bool, closed: bool) {
        match self.endpoints.get(&handle.0) {
            Some(Endpoint::Stream(_)) => self.ready_stream(handle, readable, writable, closed),
            Some(Endpoint::Listener { .. }) => self.accept(handle),
            Some(Endpoint::Udp(_)) => self.ready_udp(handle, readable, writable),
            None => {}
        }
    }
}
