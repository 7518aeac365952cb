//! What the loop reports ([`Event`]) and the handles naming its endpoints ([`Handle`]).

use std::fmt;
use std::net::SocketAddr;

use doip_proto::{Frame, GenericNackCode};

use crate::Error;
use crate::connection::SendId;

/// Identifies an endpoint (connection, listener or UDP socket) of an [`EventLoop`](super::EventLoop). Handles
/// are never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Handle(pub(super) u64);

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

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
        /// The message's id from [`EventLoop::send`](super::EventLoop::send).
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
    /// [`EventLoop::resume`](super::EventLoop::resume), so routing can be activated again first.
    Reconnected {
        /// The connection.
        handle: Handle,
        /// The reconnect attempt that succeeded (1 = first).
        attempt: u32,
    },
    /// A timer set with [`EventLoop::set_timer`](super::EventLoop::set_timer) expired.
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
