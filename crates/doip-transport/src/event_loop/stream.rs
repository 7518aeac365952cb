//! TCP streams of the loop, dialed or accepted: their state, and the loop's handling of
//! them (dialing, readiness, TLS handshakes, flushing, failing and reconnecting, accepting).

use std::io;

use mio::Interest;
use mio::net::TcpStream;

use super::stream_io::{
    ReadBudget, ReadEnd, connect_result, open_tcp, read_plain, read_tls, write_plain, write_tls,
};
use super::{ACCEPTS_PER_POLL, Endpoint, EventLoop, TimerKind};
use crate::connection::{Connection, ConnectionEvent, Outgoing, Role, SendId};
use crate::{ConnectOptions, Error, Event, Handle, Result};

#[derive(Debug)]
pub(super) enum StreamState {
    /// TCP connect in progress.
    Connecting,
    /// TLS handshake in progress.
    Handshaking,
    Open,
    /// Waiting for the next reconnect attempt.
    Waiting,
}

/// A TCP connection of the loop, dialed or accepted: socket, protocol state, TLS, and what
/// dialing again needs.
pub(super) struct Stream {
    pub(super) socket: Option<TcpStream>,
    pub(super) conn: Connection,
    pub(super) tls: Option<rustls::Connection>,
    pub(super) state: StreamState,
    /// Set for dialed connections: what is needed to dial again.
    pub(super) dial: Option<ConnectOptions>,
    /// Reconnect attempt in progress (0 = the first connection; back to 0 after a
    /// successful reconnect, so it does not tell dials apart: see `dials`).
    pub(super) attempt: u32,
    /// Dials made so far: the generation a connect or reconnect timer belongs to, so that a
    /// timer of an earlier dial never acts on a later one.
    pub(super) dials: u64,
    /// Messages carried over a reconnect, sent after [`EventLoop::resume`](super::EventLoop::resume).
    held: Vec<Outgoing>,
    /// The bytes of `held`: they count against the connection's `max_queued_bytes`.
    held_bytes: usize,
    /// The stream has been open: a dialed one holds sends while it is re-established.
    pub(super) ever_connected: bool,
    /// At most this many bytes per write call (fault injection: 1 = one byte per segment).
    pub(super) write_chunk: Option<usize>,
    /// Sends are flushed by the next `poll` rather than at once.
    pub(super) coalesce: bool,
    /// What stops reading, and how to read.
    pub(super) reading: Reading,
}

/// What stops a stream's reading, and how it reads.
#[derive(Debug, Default)]
pub(super) struct Reading {
    /// Incoming bytes are left in the socket (fault injection: a peer that stops reading).
    pub(super) paused: bool,
    /// Reading stopped because the connection's answers back up
    /// ([`Connection::wants_read`]); it resumes once a flush drains them.
    pub(super) blocked: bool,
    /// The socket reported a hang-up or an error: read to the end, whatever a read returns.
    pub(super) peer_closed: bool,
}

impl Stream {
    /// A stream in `state` over `socket` (none yet for a dialed one).
    pub(super) fn new(
        socket: Option<TcpStream>,
        conn: Connection,
        tls: Option<rustls::Connection>,
        state: StreamState,
        dial: Option<ConnectOptions>,
    ) -> Self {
        Self {
            socket,
            conn,
            tls,
            state,
            ever_connected: false,
            dial,
            attempt: 0,
            dials: 0,
            held: Vec::new(),
            held_bytes: 0,
            write_chunk: None,
            coalesce: false,
            reading: Reading::default(),
        }
    }

    /// Holds messages until [`EventLoop::resume`](super::EventLoop::resume).
    pub(super) fn hold(&mut self, messages: impl IntoIterator<Item = Outgoing>) {
        for o in messages {
            self.held_bytes += o.bytes.len();
            self.held.push(o);
        }
    }

    /// Takes the held messages.
    pub(super) fn take_held(&mut self) -> Vec<Outgoing> {
        self.held_bytes = 0;
        std::mem::take(&mut self.held)
    }

    /// Moves the held messages into the connection's queue, behind what it holds already.
    pub(super) fn release_held(&mut self) {
        let held = self.take_held();
        self.conn.requeue(held);
    }

    /// Whether sends are held: a dialed connection that dropped and is being re-established.
    /// (An accepted connection is never re-established; what is sent during its TLS
    /// handshake is queued and leaves when the handshake completes.)
    fn holds_sends(&self) -> bool {
        self.dial.is_some() && self.ever_connected && !matches!(self.state, StreamState::Open)
    }

    /// Whether one more message may be held: held messages and the new connection's queue
    /// together stay within `max_queued_bytes`, like the queue of an open connection.
    fn admit_held(&self) -> Result<()> {
        let queued = self.held_bytes + self.conn.queued_bytes();
        if queued >= self.conn.max_queued_bytes() {
            return Err(Error::QueueFull { peer: self.conn.peer(), queued });
        }
        Ok(())
    }
}

impl EventLoop {
    /// Starts a (re)connect attempt of a dialed stream.
    pub(super) fn dial(&mut self, handle: Handle) -> Result<()> {
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
        s.reading.blocked = false;
        s.reading.peer_closed = false;
        let timeout = options.connect_timeout;
        s.dials += 1;
        let dial = s.dials;
        self.add_timer_after(timeout, TimerKind::ConnectTimeout { handle, dial });
        Ok(())
    }

    pub(super) fn stream_mut(&mut self, handle: Handle) -> Result<&mut Stream> {
        match self.endpoints.get_mut(&handle.0) {
            Some(Endpoint::Stream(s)) => Ok(s),
            Some(_) => Err(Error::WrongEndpoint(handle)),
            None => Err(Error::UnknownHandle(handle)),
        }
    }

    /// Holds `outgoing` while a dropped connection is re-established; otherwise queues it and
    /// has it written.
    pub(super) fn enqueue(&mut self, handle: Handle, outgoing: Outgoing) -> Result<SendId> {
        let s = self.stream_mut(handle)?;
        if s.holds_sends() {
            s.admit_held()?;
            let id = outgoing.id.unwrap_or(SendId(0));
            s.hold([outgoing]);
            return Ok(id);
        }
        let id = s.conn.push(outgoing);
        self.schedule_flush(handle);
        Ok(id)
    }

    /// Writes a stream's queue now, or at the start of the next poll when it coalesces.
    pub(super) fn schedule_flush(&mut self, handle: Handle) {
        let Some(Endpoint::Stream(s)) = self.endpoints.get(&handle.0) else { return };
        if !s.coalesce {
            self.flush_stream(handle);
        } else if !self.dirty.contains(&handle) {
            self.dirty.push(handle);
        }
    }

    pub(super) fn ready_stream(
        &mut self,
        handle: Handle,
        readable: bool,
        writable: bool,
        closed: bool,
    ) {
        let Ok(s) = self.stream_mut(handle) else { return };
        s.reading.peer_closed |= closed;
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
        if readable && let Err(e) = self.read_stream(handle) {
            self.flush_stream(handle);
            self.fail_stream(handle, e);
            return;
        }
        if writable || readable {
            self.flush_stream(handle);
        }
    }

    /// TCP is connected: start TLS or open.
    pub(super) fn established(&mut self, handle: Handle) -> Result<()> {
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

    /// The connection (and TLS handshake) is up: report it (accepted connections were
    /// reported on accept) and write what was queued meanwhile, which rustls held back
    /// until now.
    pub(super) fn opened(&mut self, handle: Handle) {
        let Ok(s) = self.stream_mut(handle) else { return };
        s.state = StreamState::Open;
        let peer = s.conn.peer();
        let attempt = s.attempt;
        s.ever_connected = true;
        if s.dial.is_some() && attempt == 0 {
            self.out.push_back(Event::Connected { handle, peer });
        } else if s.dial.is_some() {
            s.attempt = 0;
            if s.dial.as_ref().is_some_and(|d| !d.manual_resume) {
                s.release_held();
            }
            self.out.push_back(Event::Reconnected { handle, attempt });
        }
        self.flush_stream(handle);
    }

    /// Reads what the socket has, within one poll's [`ReadBudget`] and while the connection
    /// wants input. After a hang-up or error (`peer_closed`) it reads to the end; otherwise a
    /// short read proves the socket drained and saves the final read that would only say
    /// `WouldBlock` (edge-triggered readiness fires again for new data). Stopped by the
    /// budget, the stream is continued by the next poll; stopped by back-pressure, by the
    /// flush that drains its answers ([`EventLoop::flush_stream`]): in neither case would a
    /// new readiness edge come for the bytes already waiting.
    pub(super) fn read_stream(&mut self, handle: Handle) -> Result<()> {
        let Ok(s) = self.stream_mut(handle) else { return Ok(()) };
        if s.reading.paused && !s.reading.peer_closed {
            return Ok(());
        }
        let peer = s.conn.peer();
        let was_handshaking = matches!(s.state, StreamState::Handshaking);
        let Some(socket) = s.socket.as_mut() else { return Ok(()) };
        let mut budget = ReadBudget::stream();
        let result = match &mut s.tls {
            None => read_plain(&mut s.conn, socket, peer, !s.reading.peer_closed, &mut budget),
            Some(tls) => read_tls(&mut s.conn, tls, socket, peer, &mut budget),
        };
        s.reading.blocked = matches!(result, Ok(ReadEnd::Backpressure));
        if s.reading.blocked {
            log::debug!("{handle} stops reading {peer}: our answers are not being read");
        }
        let handshake_done = was_handshaking && s.tls.as_ref().is_some_and(|t| !t.is_handshaking());
        self.drain_connection(handle);
        if matches!(result, Ok(ReadEnd::BudgetSpent)) {
            self.continue_next_poll(handle);
        }
        if handshake_done {
            self.opened(handle);
        }
        result.map(|_| ())
    }

    /// Moves a connection's events out, logging them.
    pub(super) fn drain_connection(&mut self, handle: Handle) {
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
    pub(super) fn flush_stream(&mut self, handle: Handle) {
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
        let resume_reading = s.reading.blocked && s.conn.wants_read();
        if let Err(e) = result {
            self.fail_stream(handle, Error::io(peer, e));
        } else if close {
            let source = s.conn.close_reason().cloned();
            let error = match source {
                Some(source) => Error::Protocol { peer, source },
                None => Error::ClosedByPeer { peer },
            };
            self.fail_stream(handle, error);
        } else if resume_reading {
            s.reading.blocked = false;
            log::debug!("{handle} reads {peer} again");
            self.continue_next_poll(handle);
        }
    }

    /// A stream failed or closed: reconnect if its policy says so, else report and remove.
    pub(super) fn fail_stream(&mut self, handle: Handle, error: Error) {
        let Some(Endpoint::Stream(s)) = self.endpoints.get_mut(&handle.0) else { return };
        if let Some(mut socket) = s.socket.take() {
            let _ = self.poll.registry().deregister(&mut socket);
        }
        s.tls = None;
        s.reading.blocked = false;
        let policy = s.dial.as_ref().and_then(|d| d.reconnect.clone());
        let next_attempt = s.attempt + 1;
        let may_retry = s.ever_connected && error.is_transient();
        match policy {
            Some(policy) if may_retry && next_attempt <= policy.attempts => {
                let unsent = s.conn.take_unsent();
                s.hold(unsent);
                let options = s.dial.clone().unwrap_or_default();
                s.conn = options.connection(s.conn.peer());
                s.attempt = next_attempt;
                s.state = StreamState::Waiting;
                log::info!("{handle} disconnected ({error}); reconnect attempt {next_attempt}");
                self.out.push_back(Event::Disconnected { handle, error, reconnecting: true });
                let dial = s.dials;
                self.add_timer_after(
                    policy.delay_before(next_attempt),
                    TimerKind::Reconnect { handle, dial },
                );
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

    /// Accepts what the listener's backlog holds, at most [`ACCEPTS_PER_POLL`] connections;
    /// a listener with more waiting is continued by the next poll.
    pub(super) fn accept(&mut self, listener_handle: Handle) {
        for _ in 0..ACCEPTS_PER_POLL {
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
            let mut stream = Stream::new(Some(socket), conn, tls, state, None);
            stream.coalesce = options.coalesce_writes;
            self.endpoints.insert(handle.0, Endpoint::Stream(Box::new(stream)));
            self.out.push_back(Event::Accepted { listener: listener_handle, handle, peer });
        }
        self.continue_next_poll(listener_handle);
    }

    pub(super) fn report_unsent(&mut self, handle: Handle, s: &mut Stream) {
        let unsent = s.conn.take_unsent();
        for o in s.take_held().into_iter().chain(unsent) {
            if let Some(id) = o.id {
                self.out.push_back(Event::SendFailed { handle, id });
            }
        }
    }
}
