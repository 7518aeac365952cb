//! The crate's one error type.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use doip_proto::GenericNackCode;

/// What went wrong on a DoIP endpoint. Every variant a peer can cause names the peer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Nothing arrived before the deadline.
    #[error("timed out after {after:?} waiting for {what} from {peer}")]
    Timeout {
        /// The peer waited on.
        peer: SocketAddr,
        /// What was awaited.
        what: &'static str,
        /// How long was waited.
        after: Duration,
    },
    /// The peer closed the connection.
    #[error("connection closed by {peer}")]
    ClosedByPeer {
        /// The peer.
        peer: SocketAddr,
    },
    /// The peer refused the TCP connection.
    #[error("connection to {peer} refused")]
    Refused {
        /// The peer.
        peer: SocketAddr,
    },
    /// The TLS handshake or a TLS record failed (certificate errors included).
    #[error("TLS with {peer} failed: {source}")]
    Tls {
        /// The peer.
        peer: SocketAddr,
        /// rustls' reason.
        #[source]
        source: rustls::Error,
    },
    /// The peer closed TLS without `close_notify` (a truncation attack or a crash).
    #[error("{peer} closed the TLS connection without close_notify")]
    TlsTruncated {
        /// The peer.
        peer: SocketAddr,
    },
    /// The peer answered one of our messages with a generic header NACK.
    #[error("{peer} answered with generic NACK {code}")]
    Nack {
        /// The peer.
        peer: SocketAddr,
        /// Its NACK code.
        code: GenericNackCode,
    },
    /// The peer sent a header the spec makes us refuse (we answered with the NACK named in
    /// `source`, and closed the connection where the spec says so).
    #[error("bad DoIP header from {peer}: {source}")]
    Protocol {
        /// The peer.
        peer: SocketAddr,
        /// The refused check.
        #[source]
        source: doip_proto::Error,
    },
    /// A message could not be encoded (payload too long for the length field).
    #[error("cannot encode message: {0}")]
    Encode(#[source] doip_proto::Error),
    /// The send queue of a connection (messages held across a reconnect included) or of a
    /// UDP endpoint is full; wait for it to drain.
    #[error("send queue to {peer} is full ({queued} bytes)")]
    QueueFull {
        /// The peer (for UDP: the datagram's destination).
        peer: SocketAddr,
        /// Bytes already queued.
        queued: usize,
    },
    /// The connection is closed (or reconnecting and not yet resumed).
    #[error("no open connection to {peer}")]
    NotConnected {
        /// The peer.
        peer: SocketAddr,
    },
    /// No endpoint has this handle (closed, or never existed).
    #[error("unknown endpoint handle {0}")]
    UnknownHandle(crate::Handle),
    /// The operation does not apply to this kind of endpoint (e.g. `send_to` on TCP).
    #[error("endpoint {0} does not support this operation")]
    WrongEndpoint(crate::Handle),
    /// The background event-loop thread has stopped.
    #[error("the event loop thread has stopped")]
    LoopStopped,
    /// An operating-system error on a socket.
    #[error("I/O error{}: {source}", peer.map(|p| format!(" with {p}")).unwrap_or_default())]
    Io {
        /// The peer, when the socket has one.
        peer: Option<SocketAddr>,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    pub(crate) fn io(peer: impl Into<Option<SocketAddr>>, source: io::Error) -> Self {
        Self::Io { peer: peer.into(), source }
    }

    /// Whether retrying on a new connection can help (the peer went away, refused, timed out
    /// or the network failed), as opposed to a protocol or configuration error.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Timeout { .. }
                | Self::ClosedByPeer { .. }
                | Self::Refused { .. }
                | Self::TlsTruncated { .. }
                | Self::NotConnected { .. }
                | Self::Io { .. }
        )
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
