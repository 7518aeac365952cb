//! The crate's one error type.

use crate::nrc::Nrc;
use crate::service::ServiceId;

/// What can go wrong in a UDS exchange, an image file or a flash.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The ECU answered `7F SID NRC`.
    #[error("{service} refused: {nrc}")]
    Negative {
        /// The service refused.
        service: ServiceId,
        /// Why.
        nrc: Nrc,
    },
    /// The answer is not this service's (neither SID + 0x40 nor `7F SID`).
    #[error("{service}: unexpected answer [{}]", hex(answer))]
    UnexpectedAnswer {
        /// The service asked.
        service: ServiceId,
        /// What came back.
        answer: Vec<u8>,
    },
    /// The positive answer does not have the service's format.
    #[error("{service}: malformed answer: {what}")]
    Malformed {
        /// The service asked.
        service: ServiceId,
        /// What is wrong with it.
        what: &'static str,
    },
    /// A request that cannot be encoded (an address too large for its format, an empty DID
    /// list, …).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A check routine reported a status other than 0x00 (correct).
    #[error("routine {routine:#06x} reported status [{}]", hex(status))]
    CheckFailed {
        /// The routine.
        routine: u16,
        /// Its routineStatusRecord.
        status: Vec<u8>,
    },
    /// The user's seed/key algorithm failed.
    #[error("security access level {level:#04x}: key algorithm failed: {reason}")]
    Key {
        /// The seed level.
        level: u8,
        /// The algorithm's reason.
        reason: String,
    },
    /// The DoIP connection failed (timeouts, NACKs, a request that may have been delivered
    /// when the connection dropped: [`doip_client::Error::MaybeDelivered`]).
    #[error(transparent)]
    Doip(#[from] doip_client::Error),
    /// Another channel's error.
    #[error("channel: {0}")]
    Channel(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// An image file that cannot be read.
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    /// A download, upload or flash stopped at this step (and block), for `source`. Nothing
    /// was sent again.
    #[error("stopped at {step}{}: {source}", place(*segment, *block))]
    Step {
        /// The step that failed (e.g. `"TransferData"`).
        step: &'static str,
        /// The segment (0-based), for per-segment steps.
        segment: Option<usize>,
        /// The TransferData block number (1-based, not the wrapping counter).
        block: Option<u64>,
        /// Why.
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// The NRC, for a negative answer (also inside [`Error::Step`]).
    #[must_use]
    pub fn nrc(&self) -> Option<Nrc> {
        match self {
            Self::Negative { nrc, .. } => Some(*nrc),
            Self::Step { source, .. } => source.nrc(),
            _ => None,
        }
    }

    /// Whether the request may have reached the ECU although no answer was taken (the
    /// connection dropped after it was written): it must not be sent again blindly.
    #[must_use]
    pub fn maybe_delivered(&self) -> bool {
        match self {
            Self::Doip(doip_client::Error::MaybeDelivered { .. }) => true,
            Self::Step { source, .. } => source.maybe_delivered(),
            _ => false,
        }
    }
}

/// The crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn place(segment: Option<usize>, block: Option<u64>) -> String {
    match (segment, block) {
        (Some(s), Some(b)) => format!(" (segment {s}, block {b})"),
        (Some(s), None) => format!(" (segment {s})"),
        (None, Some(b)) => format!(" (block {b})"),
        (None, None) => String::new(),
    }
}

/// Bytes as hex, space-separated.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{b:02X}");
    }
    s
}
