//! The `mio` driver: any number of DoIP endpoints (TCP dialed or accepted, TLS or not, UDP)
//! on one thread, with timers and cross-thread wake-ups.
//!
//! The caller runs [`EventLoop::poll`] and drains [`EventLoop::next_event`]. Sends are written
//! to the socket at once when it can take them; the rest is flushed on writability.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use doip_proto::{
    DatagramDecoder, Frame, GenericNack, GenericNackCode, HeaderPolicy, LogicalAddress, Message,
    ProtocolVersion,
};
use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Token, Waker};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};
use socket2::{Domain, Protocol, Socket, Type};

use crate::connection::{Connection, ConnectionEvent, Outgoing, Role, SendId};
use crate::udp::UdpOptions;
use crate::{Error, Result};

/// Identifies an endpoint (connection, listener or UDP socket) of an [`EventLoop`]. Handles
/// are never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Handle(u64);

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

const WAKER: Token = Token(0);
const DEFAULT_QUEUE_LIMIT: usize = 16 * 1024 * 1024;

/// What the event loop tells its caller.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A dialed connection is established (after the TLS handshake, with TLS).
    Connected {
        /// The connection.
        handle: Handle,
        /// The entity's address.
        peer: SocketAddr,
    },
    /// A listener accepted a connection.
    Accepted {
        /// The listener.
        listener: Handle,
        /// The new connection.
        handle: Handle,
        /// The tester's address.
        peer: SocketAddr,
    },
    /// A whole DoIP message arrived on a TCP connection.
    Message {
        /// The connection.
        handle: Handle,
        /// The message.
        frame: Frame<'static>,
    },
    /// A DoIP datagram arrived on a UDP endpoint.
    Datagram {
        /// The UDP endpoint.
        handle: Handle,
        /// The sender.
        from: SocketAddr,
        /// The message.
        frame: Frame<'static>,
    },
    /// A peer sent a header the spec makes us refuse; the NACK it names was sent (and a TCP
    /// connection closes afterwards when the error says so).
    Refused {
        /// The endpoint.
        handle: Handle,
        /// The sender.
        from: SocketAddr,
        /// The failed check.
        error: doip_proto::Error,
    },
    /// The peer answered one of our messages with a generic header NACK.
    NackReceived {
        /// The connection.
        handle: Handle,
        /// The NACK code.
        code: GenericNackCode,
    },
    /// An alive check request arrived and was answered automatically.
    AliveCheckAnswered {
        /// The connection.
        handle: Handle,
    },
    /// A queued message was not sent (the connection closed before it was written).
    SendFailed {
        /// The connection.
        handle: Handle,
        /// The message's id from [`EventLoop::send`].
        id: SendId,
    },
    /// The connection closed. With a reconnect policy, `reconnecting` says whether a new
    /// connection is being attempted; otherwise the handle is gone.
    Disconnected {
        /// The connection.
        handle: Handle,
        /// Why.
        error: Error,
        /// Whether a reconnect follows.
        reconnecting: bool,
    },
    /// A reconnect succeeded. Messages queued before the disconnect are held until
    /// [`EventLoop::resume`], so routing can be activated again first.
    Reconnected {
        /// The connection.
        handle: Handle,
        /// The reconnect attempt that succeeded (1 = first).
        attempt: u32,
    },
    /// A timer set with [`EventLoop::set_timer`] expired.
    Timer {
        /// The handle given with the timer.
        handle: Option<Handle>,
        /// The id given with the timer.
        id: u64,
    },
}

impl Event {
    /// The endpoint this event is about, if any.
    #[must_use]
    pub const fn handle(&self) -> Option<Handle> {
        match self {
            Self::Connected { handle, .. }
            | Self::Accepted { handle, .. }
            | Self::Message { handle, .. }
            | Self::Datagram { handle, .. }
            | Self::Refused { handle, .. }
            | Self::NackReceived { handle, .. }
            | Self::AliveCheckAnswered { handle }
            | Self::SendFailed { handle, .. }
            | Self::Disconnected { handle, .. }
            | Self::Reconnected { handle, .. } => Some(*handle),
            Self::Timer { handle, .. } => *handle,
        }
    }
}

/// When and how often a dropped connection is re-established.
#[derive(Clone, Debug, PartialEq)]
pub struct ReconnectPolicy {
    /// Attempts after a disconnect before giving up.
    pub attempts: u32,
    /// Wait before the first attempt.
    pub delay: Duration,
    /// Each further wait is the previous one times this factor.
    pub backoff: f64,
    /// The longest wait between attempts.
    pub max_delay: Duration,
}

impl Default for ReconnectPolicy {
    /// 5 attempts, 100 ms apart at first, doubling up to 2 s.
    fn default() -> Self {
        Self {
            attempts: 5,
            delay: Duration::from_millis(100),
            backoff: 2.0,
            max_delay: Duration::from_secs(2),
        }
    }
}

impl ReconnectPolicy {
    fn delay_before(&self, attempt: u32) -> Duration {
        let factor = self
            .backoff
            .max(1.0)
            .powi(i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX));
        self.delay.mul_f64(factor.min(1e6)).min(self.max_delay)
    }
}

/// TLS client settings for a dialed connection.
#[derive(Clone, Debug)]
pub struct TlsClient {
    /// The rustls configuration (see [`crate::tls`]).
    pub config: Arc<ClientConfig>,
    /// The name the certificate must carry.
    pub server_name: ServerName<'static>,
}

/// What every TCP connection of an endpoint shares: the version it sends, the policy its
/// received headers are checked with, and the bound on its send queue.
#[derive(Clone, Debug)]
pub(crate) struct Framing {
    version: ProtocolVersion,
    policy: HeaderPolicy,
    max_queued_bytes: usize,
}

impl Framing {
    fn new(policy: HeaderPolicy) -> Self {
        Self { version: ProtocolVersion::default(), policy, max_queued_bytes: DEFAULT_QUEUE_LIMIT }
    }

    fn connection(&self, peer: SocketAddr, role: Role) -> Connection {
        Connection::new(peer, role, self.version, self.policy.clone(), self.max_queued_bytes)
    }
}

/// The [`Framing`] setters of [`ConnectOptions`] and [`ListenOptions`].
macro_rules! framing_setters {
    () => {
        /// The protocol version of messages sent.
        #[must_use]
        pub const fn version(mut self, version: ProtocolVersion) -> Self {
            self.framing.version = version;
            self
        }

        /// Check received headers with `policy`.
        #[must_use]
        pub fn policy(mut self, policy: HeaderPolicy) -> Self {
            self.framing.policy = policy;
            self
        }

        /// Bound on bytes queued for sending per connection.
        #[must_use]
        pub const fn max_queued_bytes(mut self, bytes: usize) -> Self {
            self.framing.max_queued_bytes = bytes;
            self
        }
    };
}

/// How a TCP connection is dialed (the tester role).
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    pub(crate) connect_timeout: Duration,
    pub(crate) tls: Option<TlsClient>,
    pub(crate) framing: Framing,
    pub(crate) reconnect: Option<ReconnectPolicy>,
    pub(crate) bind: Option<SocketAddr>,
    pub(crate) tester_address: LogicalAddress,
    pub(crate) manual_resume: bool,
}

impl Default for ConnectOptions {
    /// 2 s connect timeout, plain TCP, version 0x02, vendor payload types delivered raw,
    /// no reconnect, tester address 0x0E00.
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(2),
            tls: None,
            framing: Framing::new(HeaderPolicy::tcp().with_unknown_payload_types(true)),
            reconnect: None,
            bind: None,
            tester_address: LogicalAddress::DEFAULT_TESTER,
            manual_resume: true,
        }
    }
}

impl ConnectOptions {
    /// How long the TCP connect (and TLS handshake) may take.
    #[must_use]
    pub const fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Speak TLS.
    #[must_use]
    pub fn tls(mut self, tls: TlsClient) -> Self {
        self.tls = Some(tls);
        self
    }

    framing_setters!();

    /// A fresh tester connection to `peer` with these options.
    fn connection(&self, peer: SocketAddr) -> Connection {
        let mut conn = self.framing.connection(peer, Role::Tester);
        conn.set_tester_address(self.tester_address);
        conn
    }

    /// Re-establish the connection when the peer closes it.
    #[must_use]
    pub fn reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.reconnect = Some(policy);
        self
    }

    /// Whether messages held across a reconnect wait for [`EventLoop::resume`] (default
    /// `true`, so routing can be re-activated first) or are resent at once.
    #[must_use]
    pub const fn manual_resume(mut self, on: bool) -> Self {
        self.manual_resume = on;
        self
    }

    /// Connect from this local address.
    #[must_use]
    pub const fn bind(mut self, local: SocketAddr) -> Self {
        self.bind = Some(local);
        self
    }

    /// The source address alive checks are answered with (update it with
    /// [`EventLoop::set_tester_address`] after activating another one).
    #[must_use]
    pub const fn tester_address(mut self, address: LogicalAddress) -> Self {
        self.tester_address = address;
        self
    }
}

/// How a TCP listener serves connections (the entity role).
#[derive(Clone, Debug)]
pub struct ListenOptions {
    pub(crate) tls: Option<Arc<ServerConfig>>,
    pub(crate) framing: Framing,
    pub(crate) coalesce_writes: bool,
}

impl Default for ListenOptions {
    /// Plain TCP, version 0x02, [`HeaderPolicy::tcp`] (reserved types answered with NACK 0x01).
    fn default() -> Self {
        Self { tls: None, framing: Framing::new(HeaderPolicy::tcp()), coalesce_writes: false }
    }
}

impl ListenOptions {
    /// Serve TLS with `config`.
    #[must_use]
    pub fn tls(mut self, config: Arc<ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    framing_setters!();

    /// Write what accepted connections send at the end of the current loop iteration
    /// instead of at once, so that answers produced together (a diagnostic ACK and the
    /// ECU's response) leave in one segment. For servers that keep calling
    /// [`EventLoop::poll`].
    #[must_use]
    pub const fn coalesce_writes(mut self, on: bool) -> Self {
        self.coalesce_writes = on;
        self
    }
}

#[derive(Debug)]
enum StreamState {
    /// TCP connect in progress.
    Connecting,
    /// TLS handshake in progress.
    Handshaking,
    Open,
    /// Waiting for the next reconnect attempt.
    Waiting,
}

struct Stream {
    socket: Option<TcpStream>,
    conn: Connection,
    tls: Option<rustls::Connection>,
    state: StreamState,
    /// Set for dialed connections: what is needed to dial again.
    dial: Option<ConnectOptions>,
    /// Reconnect attempt in progress (0 = the first connection).
    attempt: u32,
    /// Messages carried over a reconnect, sent after [`EventLoop::resume`].
    held: Vec<Outgoing>,
    ever_connected: bool,
    /// At most this many bytes per write call (fault injection: 1 = one byte per segment).
    write_chunk: Option<usize>,
    /// Sends are flushed by the next `poll` rather than at once.
    coalesce: bool,
    /// Incoming bytes are left in the socket (fault injection: a peer that stops reading).
    reading_paused: bool,
}

enum Endpoint {
    Stream(Box<Stream>),
    Listener {
        listener: TcpListener,
        options: ListenOptions,
    },
    Udp {
        socket: UdpSocket,
        decoder: DatagramDecoder,
        options: UdpOptions,
        queue: VecDeque<(SocketAddr, Vec<u8>)>,
    },
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    ConnectTimeout { handle: Handle, attempt: u32 },
    Reconnect { handle: Handle, attempt: u32 },
    User { handle: Option<Handle>, id: u64 },
}

/// One thread's DoIP endpoints, driven by `mio`.
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

    /// Raises [`Event::Timer`] with `id` at `at`.
    pub fn set_timer(&mut self, handle: Option<Handle>, at: Instant, id: u64) {
        self.add_timer(at, TimerKind::User { handle, id });
    }

    /// Dials `peer` as a tester. [`Event::Connected`] or [`Event::Disconnected`] follows.
    ///
    /// # Errors
    /// When no socket can be created or bound.
    pub fn connect(&mut self, peer: SocketAddr, options: ConnectOptions) -> Result<Handle> {
        let handle = self.new_handle();
        let stream = Stream {
            socket: None,
            conn: options.connection(peer),
            tls: None,
            state: StreamState::Waiting,
            dial: Some(options),
            attempt: 0,
            held: Vec::new(),
            ever_connected: false,
            write_chunk: None,
            coalesce: false,
            reading_paused: false,
        };
        self.endpoints.insert(handle.0, Endpoint::Stream(Box::new(stream)));
        if let Err(e) = self.dial(handle) {
            self.endpoints.remove(&handle.0);
            return Err(e);
        }
        Ok(handle)
    }

    /// Starts a (re)connect attempt of a dialed stream.
    fn dial(&mut self, handle: Handle) -> Result<()> {
        let Some(Endpoint::Stream(s)) = self.endpoints.get_mut(&handle.0) else {
            return Err(Error::UnknownHandle(handle));
        };
        let Some(options) = &s.dial else { return Err(Error::WrongEndpoint(handle)) };
        let peer = s.conn.peer();
        let mut socket = open_tcp(peer, options.bind).map_err(|e| Error::io(peer, e))?;
        self.poll
            .registry()
            .register(&mut socket, Self::token(handle), Interest::READABLE | Interest::WRITABLE)
            .map_err(|e| Error::io(peer, e))?;
        s.socket = Some(socket);
        s.state = StreamState::Connecting;
        let at = Instant::now() + options.connect_timeout;
        let attempt = s.attempt;
        self.add_timer(at, TimerKind::ConnectTimeout { handle, attempt });
        Ok(())
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
        let decoder = DatagramDecoder::new(options.policy.clone());
        self.endpoints
            .insert(handle.0, Endpoint::Udp { socket, decoder, options, queue: VecDeque::new() });
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
            Some(Endpoint::Udp { socket, .. }) => socket.local_addr(),
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

    fn stream_mut(&mut self, handle: Handle) -> Result<&mut Stream> {
        match self.endpoints.get_mut(&handle.0) {
            Some(Endpoint::Stream(s)) => Ok(s),
            Some(_) => Err(Error::WrongEndpoint(handle)),
            None => Err(Error::UnknownHandle(handle)),
        }
    }

    /// Queues `message` on a TCP connection and writes as much as the socket takes now.
    /// While the first connection is being set up the message waits in the queue; while a
    /// dropped connection is being re-established it is held with the other unsent messages
    /// until [`EventLoop::resume`].
    ///
    /// # Errors
    /// Unknown handle, a full queue, or a closing connection.
    pub fn send(&mut self, handle: Handle, message: &Message<'_>) -> Result<SendId> {
        log::debug!("{handle} send {message}");
        let outgoing = self.stream_mut(handle)?.conn.encode(message)?;
        self.enqueue(handle, outgoing)
    }

    /// Queues raw bytes on a TCP connection (see [`Connection::send_raw`]), like
    /// [`EventLoop::send`].
    ///
    /// # Errors
    /// As [`EventLoop::send`].
    pub fn send_raw(&mut self, handle: Handle, bytes: Vec<u8>) -> Result<SendId> {
        let outgoing = self.stream_mut(handle)?.conn.raw(bytes)?;
        self.enqueue(handle, outgoing)
    }

    /// Holds `outgoing` while a dropped connection is re-established; otherwise queues it and
    /// has it written.
    fn enqueue(&mut self, handle: Handle, outgoing: Outgoing) -> Result<SendId> {
        let s = self.stream_mut(handle)?;
        if s.ever_connected && !matches!(s.state, StreamState::Open) {
            let id = outgoing.id.unwrap_or(SendId(0));
            s.held.push(outgoing);
            return Ok(id);
        }
        let id = s.conn.push(outgoing);
        self.schedule_flush(handle);
        Ok(id)
    }

    /// Writes a stream's queue now, or at the start of the next poll when it coalesces.
    fn schedule_flush(&mut self, handle: Handle) {
        let Some(Endpoint::Stream(s)) = self.endpoints.get(&handle.0) else { return };
        if !s.coalesce {
            self.flush_stream(handle);
        } else if !self.dirty.contains(&handle) {
            self.dirty.push(handle);
        }
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
        let held = std::mem::take(&mut s.held);
        s.conn.requeue(held);
        self.schedule_flush(handle);
        Ok(())
    }

    /// Sends one datagram from a UDP endpoint.
    ///
    /// # Errors
    /// Unknown handle, not UDP, an encoding error, or the socket's error.
    pub fn send_to(&mut self, handle: Handle, to: SocketAddr, message: &Message<'_>) -> Result<()> {
        let version = match self.endpoints.get(&handle.0) {
            Some(Endpoint::Udp { options, .. }) => options.version,
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
        let Some(Endpoint::Udp { socket, queue, .. }) = self.endpoints.get_mut(&handle.0) else {
            return Err(self.wrong_or_unknown(handle));
        };
        let bytes = message.to_bytes(version).map_err(Error::Encode)?;
        log::debug!("{handle} send to {to}: {message}");
        if queue.is_empty() {
            match socket.send_to(&bytes, to) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(Error::io(to, e)),
            }
        }
        queue.push_back((to, bytes));
        Ok(())
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
            Some(Endpoint::Udp { mut socket, .. }) => {
                let _ = self.poll.registry().deregister(&mut socket);
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
    pub fn pause_reading(&mut self, handle: Handle, paused: bool) -> Result<()> {
        self.stream_mut(handle)?.reading_paused = paused;
        if !paused {
            // Readiness is edge-triggered: read what arrived while paused.
            self.read_stream(handle, false)?;
        }
        Ok(())
    }

    fn report_unsent(&mut self, handle: Handle, s: &mut Stream) {
        let unsent = s.conn.take_unsent();
        for o in s.held.drain(..).chain(unsent) {
            if let Some(id) = o.id {
                self.out.push_back(Event::SendFailed { handle, id });
            }
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
        if !self.out.is_empty() {
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
                TimerKind::ConnectTimeout { handle, attempt } => {
                    let expired = match self.endpoints.get(&handle.0) {
                        Some(Endpoint::Stream(s))
                            if s.attempt == attempt
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
                TimerKind::Reconnect { handle, attempt } => {
                    let current = matches!(
                        self.endpoints.get(&handle.0),
                        Some(Endpoint::Stream(s)) if s.attempt == attempt && matches!(s.state, StreamState::Waiting)
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
            Some(Endpoint::Udp { .. }) => self.ready_udp(handle, readable, writable),
            None => {}
        }
    }

    fn ready_stream(&mut self, handle: Handle, readable: bool, writable: bool, closed: bool) {
        let Ok(s) = self.stream_mut(handle) else { return };
        if matches!(s.state, StreamState::Connecting) {
            match connect_result(s) {
                Ok(false) => return,
                Ok(true) => {
                    if let Err(e) = self.established(handle) {
                        self.fail_stream(handle, e);
                        return;
                    }
                }
                Err(e) => {
                    self.fail_stream(handle, e);
                    return;
                }
            }
        }
        if readable && let Err(e) = self.read_stream(handle, closed) {
            self.flush_stream(handle);
            self.fail_stream(handle, e);
            return;
        }
        if writable || readable {
            self.flush_stream(handle);
        }
    }

    /// TCP is connected: start TLS or open.
    fn established(&mut self, handle: Handle) -> Result<()> {
        let s = self.stream_mut(handle)?;
        let peer = s.conn.peer();
        if let Some(socket) = &s.socket {
            socket.set_nodelay(true).map_err(|e| Error::io(peer, e))?;
        }
        match s.dial.as_ref().and_then(|d| d.tls.clone()) {
            Some(tls) => {
                let client = rustls::ClientConnection::new(tls.config, tls.server_name)
                    .map_err(|source| Error::Tls { peer, source })?;
                s.tls = Some(client.into());
                s.state = StreamState::Handshaking;
                self.flush_stream(handle);
            }
            None => self.opened(handle),
        }
        Ok(())
    }

    /// The connection (and TLS handshake) is up.
    fn opened(&mut self, handle: Handle) {
        let Ok(s) = self.stream_mut(handle) else { return };
        s.state = StreamState::Open;
        let peer = s.conn.peer();
        let attempt = s.attempt;
        s.ever_connected = true;
        if s.dial.is_none() {
            return; // accepted connections were reported on accept
        }
        if attempt == 0 {
            self.out.push_back(Event::Connected { handle, peer });
        } else {
            s.attempt = 0;
            if s.dial.as_ref().is_some_and(|d| !d.manual_resume) {
                let held = std::mem::take(&mut s.held);
                s.conn.requeue(held);
            }
            self.out.push_back(Event::Reconnected { handle, attempt });
        }
        self.flush_stream(handle);
    }

    /// Reads what the socket has. After a hang-up or error edge (`closed`) it reads to the
    /// end; otherwise a short read proves the socket drained and saves the final read that
    /// would only say `WouldBlock` (edge-triggered readiness fires again for new data).
    fn read_stream(&mut self, handle: Handle, closed: bool) -> Result<()> {
        let Ok(s) = self.stream_mut(handle) else { return Ok(()) };
        if s.reading_paused && !closed {
            return Ok(());
        }
        let peer = s.conn.peer();
        let was_handshaking = matches!(s.state, StreamState::Handshaking);
        let Some(socket) = s.socket.as_mut() else { return Ok(()) };
        let result = match &mut s.tls {
            None => read_plain(&mut s.conn, socket, peer, !closed),
            Some(tls) => read_tls(&mut s.conn, tls, socket, peer),
        };
        let handshake_done = was_handshaking && s.tls.as_ref().is_some_and(|t| !t.is_handshaking());
        self.drain_connection(handle);
        if handshake_done {
            self.opened(handle);
        }
        result
    }

    /// Moves a connection's events out, logging them.
    fn drain_connection(&mut self, handle: Handle) {
        let Some(Endpoint::Stream(s)) = self.endpoints.get_mut(&handle.0) else { return };
        let peer = s.conn.peer();
        while let Some(event) = s.conn.poll_event() {
            self.out.push_back(match event {
                ConnectionEvent::Frame(frame) => {
                    log::debug!("{handle} received {}", frame.message);
                    Event::Message { handle, frame }
                }
                ConnectionEvent::Refused(error) => {
                    log::warn!("{handle} refused a header from {peer}: {error}");
                    Event::Refused { handle, from: peer, error }
                }
                ConnectionEvent::NackReceived(code) => {
                    log::warn!("{handle} {peer} sent generic NACK {code}");
                    Event::NackReceived { handle, code }
                }
                ConnectionEvent::AliveCheckAnswered => {
                    log::debug!("{handle} answered an alive check from {peer}");
                    Event::AliveCheckAnswered { handle }
                }
            });
        }
    }

    /// Writes what the connection has queued; closes it when the spec says so.
    fn flush_stream(&mut self, handle: Handle) {
        let Ok(s) = self.stream_mut(handle) else { return };
        if !matches!(s.state, StreamState::Open | StreamState::Handshaking) {
            return;
        }
        let peer = s.conn.peer();
        let Some(socket) = s.socket.as_mut() else { return };
        let result = match &mut s.tls {
            None => write_plain(&mut s.conn, socket, s.write_chunk),
            Some(tls) => write_tls(&mut s.conn, tls, socket),
        };
        let close = s.conn.wants_close() && !s.tls.as_ref().is_some_and(|t| t.wants_write());
        if let Err(e) = result {
            self.fail_stream(handle, Error::io(peer, e));
        } else if close {
            let source = s.conn.close_reason().cloned();
            let error = match source {
                Some(source) => Error::Protocol { peer, source },
                None => Error::ClosedByPeer { peer },
            };
            self.fail_stream(handle, error);
        }
    }

    /// A stream failed or closed: reconnect if its policy says so, else report and remove.
    fn fail_stream(&mut self, handle: Handle, error: Error) {
        let Some(Endpoint::Stream(s)) = self.endpoints.get_mut(&handle.0) else { return };
        if let Some(mut socket) = s.socket.take() {
            let _ = self.poll.registry().deregister(&mut socket);
        }
        s.tls = None;
        let policy = s.dial.as_ref().and_then(|d| d.reconnect.clone());
        let next_attempt = s.attempt + 1;
        let may_retry = s.ever_connected && error.is_transient();
        match policy {
            Some(policy) if may_retry && next_attempt <= policy.attempts => {
                let unsent = s.conn.take_unsent();
                s.held.extend(unsent);
                let options = s.dial.clone().unwrap_or_default();
                s.conn = options.connection(s.conn.peer());
                s.attempt = next_attempt;
                s.state = StreamState::Waiting;
                log::info!("{handle} disconnected ({error}); reconnect attempt {next_attempt}");
                self.out.push_back(Event::Disconnected { handle, error, reconnecting: true });
                let at = Instant::now() + policy.delay_before(next_attempt);
                self.add_timer(at, TimerKind::Reconnect { handle, attempt: next_attempt });
            }
            _ => {
                log::info!("{handle} disconnected: {error}");
                if let Some(Endpoint::Stream(mut s)) = self.endpoints.remove(&handle.0) {
                    self.report_unsent(handle, &mut s);
                }
                self.out.push_back(Event::Disconnected { handle, error, reconnecting: false });
            }
        }
    }

    fn accept(&mut self, listener_handle: Handle) {
        loop {
            let Some(Endpoint::Listener { listener, options }) =
                self.endpoints.get(&listener_handle.0)
            else {
                return;
            };
            let (mut socket, peer) = match listener.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors or similar: report, keep listening.
                    log::warn!("{listener_handle} accept failed: {e}");
                    return;
                }
            };
            let options = options.clone();
            let handle = self.new_handle();
            if socket.set_nodelay(true).is_err()
                || self
                    .poll
                    .registry()
                    .register(
                        &mut socket,
                        Self::token(handle),
                        Interest::READABLE | Interest::WRITABLE,
                    )
                    .is_err()
            {
                continue;
            }
            let conn = options.framing.connection(peer, Role::Entity);
            let (tls, state) = match &options.tls {
                Some(config) => match rustls::ServerConnection::new(config.clone()) {
                    Ok(server) => (Some(server.into()), StreamState::Handshaking),
                    Err(e) => {
                        log::warn!("{listener_handle} TLS set-up for {peer} failed: {e}");
                        continue;
                    }
                },
                None => (None, StreamState::Open),
            };
            let stream = Stream {
                socket: Some(socket),
                conn,
                tls,
                state,
                dial: None,
                attempt: 0,
                held: Vec::new(),
                ever_connected: true,
                write_chunk: None,
                coalesce: options.coalesce_writes,
                reading_paused: false,
            };
            self.endpoints.insert(handle.0, Endpoint::Stream(Box::new(stream)));
            self.out.push_back(Event::Accepted { listener: listener_handle, handle, peer });
        }
    }

    fn ready_udp(&mut self, handle: Handle, readable: bool, writable: bool) {
        let Some(Endpoint::Udp { socket, decoder, options, queue }) =
            self.endpoints.get_mut(&handle.0)
        else {
            return;
        };
        if writable || readable {
            while let Some((to, bytes)) = queue.front() {
                match socket.send_to(bytes, *to) {
                    Ok(_) => {
                        queue.pop_front();
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        log::warn!("{handle} send to {to} failed: {e}");
                        queue.pop_front();
                    }
                }
            }
        }
        if !readable {
            return;
        }
        loop {
            let (n, from) = match socket.recv_from(&mut self.datagram) {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // e.g. ICMP port unreachable for an earlier send: not fatal for UDP.
                    log::debug!("{handle} receive error: {e}");
                    continue;
                }
            };
            match decoder.decode(&self.datagram[..n]) {
                Ok(frame) => {
                    log::debug!("{handle} datagram from {from}: {}", frame.message);
                    self.out.push_back(Event::Datagram { handle, from, frame: frame.into_owned() });
                }
                Err(error) => {
                    if options.answer_nacks
                        && let Some(code) = error.nack_code()
                        && let Ok(bytes) =
                            Message::from(GenericNack::new(code)).to_bytes(options.version)
                        && socket.send_to(&bytes, from).is_err()
                    {
                        log::debug!("{handle} could not send NACK to {from}");
                    }
                    self.out.push_back(Event::Refused { handle, from, error });
                }
            }
        }
    }
}

/// A non-blocking TCP socket connecting to `peer`, optionally from `bind`.
fn open_tcp(peer: SocketAddr, bind: Option<SocketAddr>) -> io::Result<TcpStream> {
    let Some(local) = bind else { return TcpStream::connect(peer) };
    let socket = Socket::new(Domain::for_address(peer), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.bind(&local.into())?;
    match socket.connect(&peer.into()) {
        Ok(()) => {}
        Err(e)
            if e.raw_os_error() == Some(EINPROGRESS) || e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(socket.into()))
}

/// `EINPROGRESS`: a non-blocking connect has started (`io::ErrorKind::InProgress` is not
/// stable yet).
#[cfg(any(target_os = "linux", target_os = "android"))]
const EINPROGRESS: i32 = 115;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const EINPROGRESS: i32 = 36;

/// Whether a connecting socket is now connected (`Ok(false)`: still connecting).
fn connect_result(s: &mut Stream) -> Result<bool> {
    let peer = s.conn.peer();
    let Some(socket) = &s.socket else { return Ok(false) };
    if let Ok(Some(e)) | Err(e) = socket.take_error() {
        return Err(connect_error(peer, e));
    }
    match socket.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
        Err(e) => Err(connect_error(peer, e)),
    }
}

fn connect_error(peer: SocketAddr, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::ConnectionRefused {
        Error::Refused { peer }
    } else {
        Error::io(peer, e)
    }
}

fn closed_error(peer: SocketAddr, e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionAborted => Error::ClosedByPeer { peer },
        _ => Error::io(peer, e),
    }
}

/// Reads until the socket is drained (`short_read_drains`: a short read counts as drained).
/// Connections the kernel completes before the loop accepts them. A connection burst (or a
/// flood) beyond the backlog has its SYNs dropped and retried a second later, so servers keep
/// a deep one; the kernel caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: i32 = 4096;

/// A non-blocking listener with address reuse and a deep backlog.
fn listener(local: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(local), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&local.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(TcpListener::from_std(socket.into()))
}

fn read_plain(
    conn: &mut Connection,
    socket: &mut TcpStream,
    peer: SocketAddr,
    short_read_drains: bool,
) -> Result<()> {
    loop {
        let asked = conn.read_size();
        match conn.read_from(socket) {
            Ok(0) => return Err(Error::ClosedByPeer { peer }),
            Ok(n) if short_read_drains && n < asked => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(closed_error(peer, e)),
        }
    }
}

/// Reads TLS records until the socket is drained, feeding plaintext to the connection.
fn read_tls(
    conn: &mut Connection,
    tls: &mut rustls::Connection,
    socket: &mut TcpStream,
    peer: SocketAddr,
) -> Result<()> {
    loop {
        let eof = match tls.read_tls(socket) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(closed_error(peer, e)),
        };
        let state = match tls.process_new_packets() {
            Ok(state) => state,
            Err(source) => {
                let _ = tls.write_tls(socket); // the alert telling the peer why
                return Err(Error::Tls { peer, source });
            }
        };
        loop {
            match conn.read_from(&mut tls.reader()) {
                Ok(0) => return Err(Error::ClosedByPeer { peer }),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(Error::TlsTruncated { peer });
                }
                Err(e) => return Err(Error::io(peer, e)),
            }
        }
        if eof {
            return Err(if state.peer_has_closed() {
                Error::ClosedByPeer { peer }
            } else {
                Error::TlsTruncated { peer }
            });
        }
    }
}

fn write_plain(
    conn: &mut Connection,
    socket: &mut TcpStream,
    chunk: Option<usize>,
) -> io::Result<()> {
    while let Some(bytes) = conn.pending_output() {
        let bytes = &bytes[..chunk.map_or(bytes.len(), |c| c.min(bytes.len()))];
        match socket.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => conn.consume_output(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn write_tls(
    conn: &mut Connection,
    tls: &mut rustls::Connection,
    socket: &mut TcpStream,
) -> io::Result<()> {
    while let Some(bytes) = conn.pending_output() {
        let n = tls.writer().write(bytes)?;
        if n == 0 {
            break;
        }
        conn.consume_output(n);
    }
    while tls.wants_write() {
        match tls.write_tls(socket) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
