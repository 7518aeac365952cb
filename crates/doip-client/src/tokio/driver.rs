//! The driver task: moves bytes and time between tokio's sockets and the [`Session`] — the
//! async counterpart of `wire.rs`, with doip-transport's sans-I/O [`Connection`] doing the
//! TCP framing (header checks and their NACKs, alive check answers, the write queue) as it
//! does for the mio loop. Protocol decisions are the session's.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use doip_proto::{HeaderPolicy, LogicalAddress, ProtocolVersion};
use doip_transport::{Connection, ConnectionEvent, Role, SendId, TlsClient};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::{TcpSocket, UdpSocket};

use super::{Shared, State, now};
use crate::session::{Event, RequestId, Transmit, TransportKind};
use crate::wire::Dial;

/// A byte stream: TCP, or TLS over TCP.
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

type Stream = Box<dyn Io>;
type Dialed = Result<Opened, doip_transport::Error>;
type Dialing = Pin<Box<dyn Future<Output = Dialed> + Send>>;

/// The largest read (and datagram) taken at once.
const READ_SIZE: usize = 64 * 1024;

/// How long a closed connection may take to write what it had queued and say goodbye.
const CLOSE_GRACE: Duration = Duration::from_millis(200);

/// A dialed connection.
struct Opened {
    stream: Stream,
    local: Option<SocketAddr>,
    /// TLS: what `write` accepted may wait inside rustls until a flush.
    tls: bool,
}

/// How to reach the entity, and the connection when there is one.
pub(super) struct Link {
    dial: Dial,
    tester: LogicalAddress,
    version: ProtocolVersion,
    connect_timeout: Duration,
    conn: Option<Connection>,
    reader: Option<ReadHalf<Stream>>,
    writer: Option<WriteHalf<Stream>>,
    dialing: Option<Dialing>,
    udp: Option<UdpSocket>,
    /// The same UDP socket, for sending without waiting for readiness (a datagram is sent
    /// whole or not at all).
    udp_send: Option<std::net::UdpSocket>,
    /// The transport ids of unfinished requests written on this connection.
    sends: HashMap<RequestId, SendId>,
    local: Option<SocketAddr>,
    /// The connection is TLS.
    tls: bool,
    /// TLS bytes were written since the last flush.
    needs_flush: bool,
}

impl Link {
    pub(super) fn new(
        dial: Dial,
        tester: LogicalAddress,
        version: ProtocolVersion,
        connect_timeout: Duration,
    ) -> Self {
        Self {
            dial,
            tester,
            version,
            connect_timeout,
            conn: None,
            reader: None,
            writer: None,
            dialing: None,
            udp: None,
            udp_send: None,
            sends: HashMap::new(),
            local: None,
            tls: false,
            needs_flush: false,
        }
    }

    /// This end's address on `transport`, for the tap.
    fn local(&self, transport: TransportKind) -> Option<SocketAddr> {
        match transport {
            TransportKind::Tcp => self.local,
            TransportKind::Udp => self.udp.as_ref().and_then(|u| u.local_addr().ok()),
        }
    }

    /// Does what the session asks, in order.
    fn flush(&mut self, state: &mut State) {
        while let Some(transmit) = state.session.poll_transmit() {
            let now = now();
            match transmit {
                Transmit::Connect { tls } => {
                    self.dialing = Some(Box::pin(dial(
                        self.dial.target(tls).map(|(peer, tls)| (peer, tls.cloned())),
                        self.dial.local_ip,
                        self.connect_timeout,
                    )));
                }
                Transmit::Close => self.close(),
                Transmit::Tcp { bytes, request } => {
                    if self.conn.is_some() {
                        let local = self.local(TransportKind::Tcp);
                        self.dial.observe(true, TransportKind::Tcp, local, self.dial.peer, &bytes);
                    }
                    let sent = match self.conn.as_mut() {
                        Some(conn) => conn.send_raw(bytes),
                        None => Err(doip_transport::Error::NotConnected { peer: self.dial.peer }),
                    };
                    match (sent, request) {
                        (Ok(id), Some(request)) => {
                            self.sends.insert(request, id);
                            state.session.handle_sent(now, request);
                        }
                        (Ok(_), None) => {}
                        (Err(e), request) => state.session.handle_send_error(now, request, &e),
                    }
                }
                Transmit::Udp { to, bytes, request } => {
                    match (self.send_datagram(to, &bytes), request) {
                        (Ok(()), Some(request)) => state.session.handle_sent(now, request),
                        (Ok(()), None) => {}
                        (Err(e), request) => state.session.handle_send_error(now, request, &e),
                    }
                }
            }
        }
    }

    fn send_datagram(&mut self, to: SocketAddr, bytes: &[u8]) -> Result<(), doip_transport::Error> {
        let io = |source| doip_transport::Error::Io { peer: Some(to), source };
        if self.udp.is_none() {
            let socket = std::net::UdpSocket::bind(self.dial.udp_local(to)).map_err(io)?;
            socket.set_nonblocking(true).map_err(io)?;
            self.udp_send = Some(socket.try_clone().map_err(io)?);
            self.udp = Some(UdpSocket::from_std(socket).map_err(io)?);
        }
        self.dial.observe(true, TransportKind::Udp, self.local(TransportKind::Udp), to, bytes);
        match &self.udp_send {
            Some(udp) => udp.send_to(bytes, to).map(drop).map_err(io),
            None => Err(doip_transport::Error::NotConnected { peer: to }),
        }
    }

    /// Closes as the mio loop does: what is queued is written if the socket takes it soon,
    /// then TLS `close_notify` and FIN — on a task of its own, bounded by [`CLOSE_GRACE`].
    fn close(&mut self) {
        if let (Some(mut conn), Some(mut writer)) = (self.conn.take(), self.writer.take()) {
            tokio::spawn(tokio::time::timeout(CLOSE_GRACE, async move {
                while let Some(bytes) = conn.pending_output() {
                    match writer.write(bytes).await {
                        Ok(n) if n > 0 => conn.consume_output(n),
                        _ => return,
                    }
                }
                let _ = writer.shutdown().await;
            }));
        }
        self.drop_connection();
    }

    fn drop_connection(&mut self) {
        self.conn = None;
        self.reader = None;
        self.writer = None;
        self.dialing = None;
        self.sends.clear();
        self.needs_flush = false;
    }

    /// The connection ended with `error`: what was not written is reported unsent (it may
    /// be retried), then the loss.
    fn disconnected(&mut self, state: &mut State, error: &doip_transport::Error) {
        let now = now();
        if let Some(conn) = self.conn.as_mut() {
            let requests: HashMap<SendId, RequestId> =
                self.sends.drain().map(|(request, id)| (id, request)).collect();
            for outgoing in conn.take_unsent() {
                if let Some(request) = outgoing.id.and_then(|id| requests.get(&id)) {
                    state.session.handle_unsent(now, *request);
                }
            }
        }
        self.drop_connection();
        state.session.handle_disconnected(now, error);
    }

    fn connected(&mut self, state: &mut State, opened: Opened) {
        let mut conn = Connection::new(
            self.dial.peer,
            Role::Tester,
            self.version,
            Dial::tcp_policy(),
            Dial::TCP_QUEUE_LIMIT,
        );
        conn.set_tester_address(self.tester);
        let (reader, writer) = tokio::io::split(opened.stream);
        self.conn = Some(conn);
        self.reader = Some(reader);
        self.writer = Some(writer);
        self.local = opened.local;
        self.tls = opened.tls;
        state.session.handle_connected(now());
    }

    /// Closes the connection once a refused header's NACK is out, as the spec requires
    /// (the mio loop does the same after its writes).
    fn close_if_refused(&mut self, state: &mut State) {
        let refused = self
            .conn
            .as_ref()
            .filter(|c| c.wants_close() && !self.needs_flush)
            .and_then(Connection::close_reason);
        if let Some(source) = refused.cloned() {
            let error = doip_transport::Error::Protocol { peer: self.dial.peer, source };
            self.disconnected(state, &error);
        }
    }

    /// Hands finished requests to their callers (a caller that went away cancelled already)
    /// and forgets their transport ids.
    fn deliver(&mut self, state: &mut State) {
        while let Some(event) = state.session.poll_event() {
            if let Event::Done { id, result } = event {
                self.sends.remove(&id);
                if let Some(reply) = state.replies.remove(&id) {
                    let _ = reply.send(result);
                }
            }
        }
    }

    /// Bytes read from the connection: every whole frame to the session.
    fn received(&mut self, state: &mut State, data: &[u8]) {
        let Some(conn) = self.conn.as_mut() else { return };
        conn.receive(data);
        let mut frames = Vec::new();
        while let Some(event) = conn.poll_event() {
            match event {
                ConnectionEvent::Frame(frame) => frames.push(frame),
                ConnectionEvent::NackReceived(code) => state.session.handle_generic_nack(code),
                ConnectionEvent::Refused(e) => {
                    log::warn!("{}: refused a header ({e}); the NACK was sent", self.dial.peer);
                }
                _ => {}
            }
        }
        let now = now();
        for frame in frames {
            let local = self.local(TransportKind::Tcp);
            self.dial.observe_received(TransportKind::Tcp, local, self.dial.peer, &frame);
            state.session.handle_frame(now, frame);
        }
    }
}

/// Connects to `target` (TCP, then TLS when configured) within `timeout`.
async fn dial(
    target: Result<(SocketAddr, Option<TlsClient>), doip_transport::Error>,
    local_ip: Option<IpAddr>,
    timeout: Duration,
) -> Dialed {
    let (peer, tls) = target?;
    let io = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::ConnectionRefused {
            doip_transport::Error::Refused { peer }
        } else {
            doip_transport::Error::Io { peer: Some(peer), source }
        }
    };
    let timed_out =
        || doip_transport::Error::Timeout { peer, what: "a TCP connection", after: timeout };
    let socket =
        if peer.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }.map_err(io)?;
    if let Some(ip) = local_ip {
        socket.bind(SocketAddr::new(ip, 0)).map_err(io)?;
    }
    let deadline = tokio::time::Instant::now().checked_add(timeout);
    let connect = socket.connect(peer);
    let stream = match deadline {
        Some(at) => tokio::time::timeout_at(at, connect).await.map_err(|_| timed_out())?,
        None => connect.await,
    }
    .map_err(io)?;
    stream.set_nodelay(true).map_err(io)?;
    let local = stream.local_addr().ok();
    let Some(tls) = tls else { return Ok(Opened { stream: Box::new(stream), local, tls: false }) };
    let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
    let handshake = connector.connect(tls.server_name.clone(), stream);
    let stream = match deadline {
        Some(at) => tokio::time::timeout_at(at, handshake).await.map_err(|_| timed_out())?,
        None => handshake.await,
    }
    .map_err(|e| match e.get_ref().and_then(|r| r.downcast_ref::<rustls::Error>()) {
        Some(tls) => doip_transport::Error::Tls { peer, source: tls.clone() },
        None => io(e),
    })?;
    Ok(Opened { stream: Box::new(stream), local, tls: true })
}

/// Reads into `buf` (the branch is enabled only with a reader).
async fn read(reader: &mut Option<ReadHalf<Stream>>, buf: &mut [u8]) -> std::io::Result<usize> {
    match reader {
        Some(r) => r.read(buf).await,
        None => std::future::pending().await,
    }
}

/// Writes what the connection has pending (`Some(written)`), or else flushes (`None`).
async fn write(
    writer: &mut Option<WriteHalf<Stream>>,
    pending: Option<&[u8]>,
    flush: bool,
) -> std::io::Result<Option<usize>> {
    match (writer, pending) {
        (Some(w), Some(bytes)) => w.write(bytes).await.map(Some),
        (Some(w), None) if flush => w.flush().await.map(|()| None),
        _ => std::future::pending().await,
    }
}

/// The next datagram.
async fn recv(udp: Option<&UdpSocket>, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    match udp {
        Some(u) => u.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

/// The dial in progress.
async fn finish(dialing: &mut Option<Dialing>, peer: SocketAddr) -> Dialed {
    match dialing {
        Some(d) => d.await,
        None => Err(doip_transport::Error::NotConnected { peer }),
    }
}

/// What one turn of the loop saw.
enum Input {
    Woken,
    Read(std::io::Result<usize>),
    Wrote(std::io::Result<Option<usize>>),
    Datagram(std::io::Result<(usize, SocketAddr)>),
    Dialed(Dialed),
    Deadline,
}

/// Marks the driver ended however the task stops (returned, panicked in a tap, dropped with
/// its runtime): waiting callers get [`crate::Error::Closed`], later calls fail at once.
struct Ended(Arc<Shared>);

impl Drop for Ended {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.ended = true;
        state.replies.clear();
        drop(state);
        self.0.arrived.notify_waiters();
    }
}

/// The task: runs until every handle is gone or the client is closed.
pub(super) async fn run(shared: Arc<Shared>, mut link: Link) {
    let _ended = Ended(shared.clone());
    let mut buf = vec![0u8; READ_SIZE];
    let mut datagram = vec![0u8; READ_SIZE];
    loop {
        let deadline = {
            let mut state = shared.lock();
            if shared.closing.load(Ordering::SeqCst) {
                state.session.close(now());
                link.flush(&mut state);
                link.drop_connection();
                link.deliver(&mut state);
                return;
            }
            link.flush(&mut state);
            link.deliver(&mut state);
            state.session.poll_timeout()
        };
        shared.arrived.notify_waiters();
        let Link { conn, reader, writer, udp, dialing, dial: target, needs_flush, .. } = &mut link;
        let peer = target.peer;
        let wants_read = reader.is_some() && conn.as_ref().is_some_and(Connection::wants_read);
        let pending = conn.as_ref().and_then(Connection::pending_output);
        let flush = *needs_flush && pending.is_none();
        let input = tokio::select! {
            () = shared.wake.notified() => Input::Woken,
            r = read(reader, &mut buf), if wants_read => Input::Read(r),
            r = write(writer, pending, flush), if (pending.is_some() || flush) && writer.is_some()
                => Input::Wrote(r),
            r = recv(udp.as_ref(), &mut datagram), if udp.is_some() => Input::Datagram(r),
            r = finish(dialing, peer), if dialing.is_some() => Input::Dialed(r),
            () = sleep_until(deadline), if deadline.is_some() => Input::Deadline,
        };
        let mut state = shared.lock();
        let now = now();
        match input {
            Input::Woken => {}
            Input::Read(Ok(0)) => link.disconnected(
                &mut state,
                &doip_transport::Error::ClosedByPeer { peer: link.dial.peer },
            ),
            Input::Read(Ok(n)) => link.received(&mut state, buf.get(..n).unwrap_or_default()),
            Input::Read(Err(e)) | Input::Wrote(Err(e)) => {
                let error = doip_transport::Error::Io { peer: Some(link.dial.peer), source: e };
                link.disconnected(&mut state, &error);
            }
            Input::Wrote(Ok(Some(n))) => {
                if let Some(conn) = link.conn.as_mut() {
                    conn.consume_output(n);
                }
                link.needs_flush = link.tls;
            }
            Input::Wrote(Ok(None)) => link.needs_flush = false,
            Input::Datagram(Ok((n, from))) => {
                // Checked as the mio loop checks them: UDP header rules, vendor types allowed.
                let decoder = doip_proto::DatagramDecoder::new(
                    HeaderPolicy::udp().with_unknown_payload_types(true),
                );
                if let Ok(frame) = decoder.decode(datagram.get(..n).unwrap_or_default()) {
                    let frame = frame.into_owned();
                    let local = link.local(TransportKind::Udp);
                    link.dial.observe_received(TransportKind::Udp, local, from, &frame);
                    state.session.handle_datagram(now, from, frame);
                }
            }
            Input::Datagram(Err(e)) => log::debug!("UDP receive failed: {e}"),
            Input::Dialed(Ok(opened)) => {
                link.dialing = None;
                link.connected(&mut state, opened);
            }
            Input::Dialed(Err(e)) => {
                link.dialing = None;
                state.session.handle_disconnected(now, &e);
            }
            Input::Deadline => state.session.handle_timeout(now),
        }
        link.close_if_refused(&mut state);
    }
}

/// Sleeps until `deadline` (`None`: never; the branch is disabled then).
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
