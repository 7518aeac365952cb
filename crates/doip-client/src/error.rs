//! The crate's one error type.

use std::net::SocketAddr;

use doip_proto::{DiagnosticNackCode, LogicalAddress, RoutingActivationResponseCode};

/// Why a tester operation failed. Peer-caused variants name the peer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket, TLS or protocol-level failure below the client.
    #[error(transparent)]
    Transport(#[from] doip_transport::Error),
    /// The entity refused routing activation.
    #[error("routing activation refused by {peer}: {code}")]
    ActivationDenied {
        /// The entity.
        peer: SocketAddr,
        /// Its answer.
        code: RoutingActivationResponseCode,
    },
    /// The entity answered a routing activation for another tester address.
    #[error("routing activation answer from {peer} names tester {got}, we are {expected}")]
    ActivationMismatch {
        /// The entity.
        peer: SocketAddr,
        /// Our source address.
        expected: LogicalAddress,
        /// The address in the answer.
        got: LogicalAddress,
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
    /// The tester address is outside the tester range 0x0E00–0x0FFF.
    #[error("{0} is not a tester address (0x0E00-0x0FFF)")]
    InvalidTesterAddress(LogicalAddress),
    /// No ECU session with this index in the [`crate::Tester`].
    #[error("no ECU session #{0}")]
    UnknownSession(usize),
    /// The UDS payload is empty (a diagnostic message carries at least one byte).
    #[error("empty UDS payload")]
    EmptyPayload,
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
