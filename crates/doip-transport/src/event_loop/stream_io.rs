//! Socket I/O of TCP streams: connecting, listening, reading into and writing from a
//! [`Connection`] (plain or through rustls), and mapping socket errors to [`Error`]s.

use std::io::{self, Write};
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use socket2::{Domain, Protocol, Socket, Type};

use super::stream::Stream;
use crate::connection::Connection;
use crate::{Error, Result};

/// A non-blocking TCP socket connecting to `peer`, optionally from `bind`.
pub(super) fn open_tcp(peer: SocketAddr, bind: Option<SocketAddr>) -> io::Result<TcpStream> {
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
pub(super) const EINPROGRESS: i32 = 115;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(super) const EINPROGRESS: i32 = 36;

/// Whether a connecting socket is now connected (`Ok(false)`: still connecting).
pub(super) fn connect_result(s: &mut Stream) -> Result<bool> {
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

pub(super) fn connect_error(peer: SocketAddr, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::ConnectionRefused {
        Error::Refused { peer }
    } else {
        Error::io(peer, e)
    }
}

pub(super) fn closed_error(peer: SocketAddr, e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionAborted => Error::ClosedByPeer { peer },
        _ => Error::io(peer, e),
    }
}

/// Connections the kernel completes before the loop accepts them. A connection burst (or a
/// flood) beyond the backlog has its SYNs dropped and retried a second later, so servers keep
/// a deep one; the kernel caps it at `net.core.somaxconn`.
pub(super) const LISTEN_BACKLOG: i32 = 4096;

/// A non-blocking listener with address reuse and a deep backlog.
pub(super) fn listener(local: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(local), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&local.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// Why a stream's read stopped without an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ReadEnd {
    /// The socket is drained for now; the next readiness edge brings more.
    Drained,
    /// This poll's [`ReadBudget`] is spent; the socket may hold more (no new edge will say so).
    BudgetSpent,
    /// [`Connection::wants_read`] is false: the peer does not read our answers, so its bytes
    /// stay in the socket until they are written. The socket may hold more.
    Backpressure,
}

/// What one stream may still read in this poll (see [`super::STREAM_READ_BYTES`]).
#[derive(Debug)]
pub(super) struct ReadBudget {
    bytes: usize,
    calls: usize,
}

impl ReadBudget {
    /// A stream's budget for one poll.
    pub(super) const fn stream() -> Self {
        Self { bytes: super::STREAM_READ_BYTES, calls: super::STREAM_READ_CALLS }
    }

    /// Counts one read call; false when the budget is spent (the read must not be made).
    fn call(&mut self) -> bool {
        if self.bytes == 0 || self.calls == 0 {
            return false;
        }
        self.calls -= 1;
        true
    }

    fn got(&mut self, n: usize) {
        self.bytes = self.bytes.saturating_sub(n);
    }
}

/// Reads until the socket is drained (`short_read_drains`: a short read counts as drained),
/// the budget is spent or the connection stops wanting input.
pub(super) fn read_plain(
    conn: &mut Connection,
    socket: &mut TcpStream,
    peer: SocketAddr,
    short_read_drains: bool,
    budget: &mut ReadBudget,
) -> Result<ReadEnd> {
    loop {
        if !conn.wants_read() {
            return Ok(ReadEnd::Backpressure);
        }
        if !budget.call() {
            return Ok(ReadEnd::BudgetSpent);
        }
        let asked = conn.read_size();
        match conn.read_from(socket) {
            Ok(0) => return Err(Error::ClosedByPeer { peer }),
            Ok(n) => {
                budget.got(n);
                if short_read_drains && n < asked {
                    return Ok(ReadEnd::Drained);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadEnd::Drained),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(closed_error(peer, e)),
        }
    }
}

/// Reads TLS records, feeding plaintext to the connection, until the socket is drained, the
/// budget is spent or the connection stops wanting input. The plaintext of every record read
/// is handed over at once (rustls holds at most one read's worth, a few KiB), so nothing is
/// left inside rustls when this returns.
pub(super) fn read_tls(
    conn: &mut Connection,
    tls: &mut rustls::Connection,
    socket: &mut TcpStream,
    peer: SocketAddr,
    budget: &mut ReadBudget,
) -> Result<ReadEnd> {
    loop {
        if !conn.wants_read() {
            return Ok(ReadEnd::Backpressure);
        }
        if !budget.call() {
            return Ok(ReadEnd::BudgetSpent);
        }
        let eof = match tls.read_tls(socket) {
            Ok(0) => true,
            Ok(n) => {
                budget.got(n);
                false
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadEnd::Drained),
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

/// Messages gathered into one vectored write.
const WRITE_SLICES: usize = 16;

pub(super) fn write_plain(
    conn: &mut Connection,
    socket: &mut TcpStream,
    chunk: Option<usize>,
) -> io::Result<()> {
    loop {
        // Everything queued in one vectored write (an ACK and the answer leave together),
        // unless writes are cut into chunks (fault injection).
        let written = {
            let mut slices = [io::IoSlice::new(&[]); WRITE_SLICES];
            let filled = conn.pending_slices(&mut slices);
            match (filled, chunk) {
                (0, _) => return Ok(()),
                (_, None) => socket.write_vectored(&slices[..filled]),
                (_, Some(c)) => socket.write(&slices[0][..c.min(slices[0].len())]),
            }
        };
        match written {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => conn.consume_output(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Moves queued plaintext into rustls and its records to the socket, until the queue is
/// empty or the socket would block. rustls takes at most 64 KiB at a time (its send buffer
/// limit), so a larger queue takes several rounds: stopping after one round while the socket
/// still took everything would leave the rest waiting for a writability edge that never
/// comes. During the handshake rustls keeps what it took until the handshake completes.
pub(super) fn write_tls(
    conn: &mut Connection,
    tls: &mut rustls::Connection,
    socket: &mut TcpStream,
) -> io::Result<()> {
    loop {
        let mut moved = 0;
        while let Some(bytes) = conn.pending_output() {
            let n = tls.writer().write(bytes)?;
            if n == 0 {
                break;
            }
            conn.consume_output(n);
            moved += n;
        }
        while tls.wants_write() {
            match tls.write_tls(socket) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if moved == 0 || conn.pending_output().is_none() {
            return Ok(());
        }
    }
}
