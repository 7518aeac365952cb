//! The crate's one error type.

use std::net::SocketAddr;
use std::time::Duration;

use doip_proto::{
    DiagnosticNackCode, LogicalAddress, RoutingActivationResponse, RoutingActivationResponseCode,
};

/// Why a tester operation failed. Peer-caused variants name the peer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket, TLS or protocol-level failure below the client.
    #[error(transparent)]
    Transport(#[from] doip_transport::Error),
    /// The entity refused routing activation (any code but 0x10; 0x11 is waited through).
    #[error("routing activation refused by {peer}: {code}")]
    ActivationDenied {
        /// The entity.
        peer: SocketAddr,
        /// Its answer's code.
        code: RoutingActivationResponseCode,
        /// The whole answer (addresses, OEM-specific bytes).
        response: RoutingActivationResponse,
    },
    /// The entity refused a diagnostic message.
    #[error("diagnostic message to {target} refused by {peer}: {code}")]
    DiagnosticNack {
        /// The entity.
        peer: SocketAddr,
        /// The addressed ECU.
        target: LogicalAddress,
        /// The NACK code.
        code: DiagnosticNackCode,
    },
    /// No answer arrived in time.
    #[error("timed out waiting for {what} from {peer}")]
    Timeout {
        /// The peer.
        peer: SocketAddr,
        /// What was awaited.
        what: &'static str,
    },
    /// The ECU kept answering "response pending" (7F sid 78) for longer than the session's
    /// cap ([`crate::SessionConfig::max_pending`]).
    #[error(
        "{target} answered \"response pending\" to service {service:#04x} for {waited:?}, beyond the cap"
    )]
    PendingLimit {
        /// The ECU.
        target: LogicalAddress,
        /// The request's service id.
        service: u8,
        /// How long it kept answering pending.
        waited: Duration,
    },
    /// The connection was lost after the request was written: the entity may have received
    /// and executed it (an ECU reset, an erase, a TransferData block), so it is **not** sent
    /// again. Check the ECU's state before repeating it.
    #[error(
        "connection to {peer} lost after the request to {target} was sent; it may have been delivered ({cause})"
    )]
    MaybeDelivered {
        /// The entity.
        peer: SocketAddr,
        /// The request's target address.
        target: LogicalAddress,
        /// Why the connection ended.
        #[source]
        cause: Box<doip_transport::Error>,
    },
    /// The tester address is outside the tester range 0x0E00–0x0FFF.
    #[error("{0} is not a tester address (0x0E00-0x0FFF)")]
    InvalidTesterAddress(LogicalAddress),
    /// No ECU session with this index in the [`crate::Tester`].
    #[error("no ECU session #{0}")]
    UnknownSession(usize),
    /// The UDS payload is empty (a diagnostic message carries at least one byte).
    #[error("empty UDS payload")]
    EmptyPayload,
    /// The session already holds as many requests as it may
    /// ([`crate::SessionConfig::max_requests`]); wait for some to finish.
    #[error("too many requests waiting on {peer} ({limit})")]
    TooManyRequests {
        /// The entity.
        peer: SocketAddr,
        /// The bound.
        limit: usize,
    },
    /// The session was closed (by [`crate::Session::close`] or dropping the client) before
    /// the request finished.
    #[error("the session with {peer} was closed")]
    Closed {
        /// The entity.
        peer: SocketAddr,
    },
    /// A network interface name that this host does not have.
    #[error("no network interface {0:?}")]
    UnknownInterface(String),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
