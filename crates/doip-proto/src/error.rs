//! The crate's one error type.

use core::fmt;

use crate::codes::GenericNackCode;
use crate::header::{LengthRule, PayloadType, ProtocolVersion, Transport};

/// Why bytes could not be decoded, a header was refused, or a message could not be encoded.
///
/// Errors caused by a peer's header map to the generic NACK the spec prescribes
/// ([`Error::nack_code`]) and say whether the connection must close
/// ([`Error::closes_connection`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// More input is needed; not an error of the peer.
    #[error("incomplete input: {needed} more bytes needed")]
    Incomplete {
        /// How many more bytes are needed at least.
        needed: usize,
    },
    /// A datagram shorter than the 8-byte header (answer NACK 0x00).
    #[error("truncated header: {length} bytes, a DoIP header has 8")]
    TruncatedHeader {
        /// The datagram's length.
        length: usize,
    },
    /// The inverse version byte does not match the version (NACK 0x00, close).
    #[error(
        "incorrect pattern format: version {version:#04x}, inverse version {inverse_version:#04x}"
    )]
    IncorrectPatternFormat {
        /// The version byte received.
        version: u8,
        /// The inverse version byte received.
        inverse_version: u8,
    },
    /// The version is not supported, or is 0xFF on a type other than 0x0001–0x0003
    /// (NACK 0x00, close).
    #[error("{}", VersionRule(.version, .payload_type))]
    UnsupportedVersion {
        /// The version received.
        version: ProtocolVersion,
        /// The payload type it came with.
        payload_type: PayloadType,
    },
    /// A reserved or vendor payload type the receiver does not accept (NACK 0x01, skip).
    #[error("unknown payload type {payload_type} ({length}-byte payload skipped)")]
    UnknownPayloadType {
        /// The payload type received.
        payload_type: PayloadType,
        /// Its announced payload length.
        length: u32,
    },
    /// A payload type that the spec does not carry on this transport (NACK 0x01, skip).
    #[error("{payload_type} is not allowed over {transport} ({length}-byte payload skipped)")]
    PayloadTypeNotAllowed {
        /// The payload type received.
        payload_type: PayloadType,
        /// Its announced payload length.
        length: u32,
        /// The transport it arrived on.
        transport: Transport,
    },
    /// Longer than the receiver's maximum (NACK 0x02, skip).
    #[error("message too large: {payload_type} announces {length} bytes, at most {max} accepted")]
    MessageTooLarge {
        /// The payload type received.
        payload_type: PayloadType,
        /// Its announced payload length.
        length: u32,
        /// The receiver's maximum.
        max: u32,
    },
    /// Longer than the memory free right now (NACK 0x03, skip).
    #[error("out of memory: {payload_type} announces {length} bytes, {free} bytes free")]
    OutOfMemory {
        /// The payload type received.
        payload_type: PayloadType,
        /// Its announced payload length.
        length: u32,
        /// Bytes free when it arrived.
        free: usize,
    },
    /// A length the spec does not allow for the payload type (NACK 0x04, close).
    #[error("invalid payload length {length} for {payload_type}: expected {expected}")]
    InvalidPayloadLength {
        /// The payload type received.
        payload_type: PayloadType,
        /// The length received.
        length: u32,
        /// What the spec allows.
        expected: LengthRule,
    },
    /// A UDP datagram whose size is not 8 + the header's payload length (NACK 0x04).
    #[error(
        "datagram of {datagram_length} bytes, but its header announces a {payload_length}-byte payload"
    )]
    DatagramLengthMismatch {
        /// The payload length in the header.
        payload_length: u32,
        /// The datagram's length.
        datagram_length: usize,
    },
    /// The caller's output buffer is too small for the encoded message.
    #[error("buffer too small: {needed} bytes needed, {available} available")]
    BufferTooSmall {
        /// Bytes the encoding needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// A payload longer than the header's 32-bit length field can announce.
    #[error("payload of {length} bytes does not fit the 32-bit length field")]
    PayloadTooLong {
        /// The payload's length.
        length: usize,
    },
    /// Text that is not a valid value of the named kind (VIN, EID, address…).
    #[error("not a valid {what}")]
    InvalidText {
        /// What was expected.
        what: &'static str,
    },
}

impl Error {
    /// The generic NACK the receiver answers with, or `None` when the peer is not at fault.
    #[must_use]
    pub const fn nack_code(&self) -> Option<GenericNackCode> {
        Some(match self {
            Self::TruncatedHeader { .. }
            | Self::IncorrectPatternFormat { .. }
            | Self::UnsupportedVersion { .. } => GenericNackCode::IncorrectPatternFormat,
            Self::UnknownPayloadType { .. } | Self::PayloadTypeNotAllowed { .. } => {
                GenericNackCode::UnknownPayloadType
            }
            Self::MessageTooLarge { .. } => GenericNackCode::MessageTooLarge,
            Self::OutOfMemory { .. } => GenericNackCode::OutOfMemory,
            Self::InvalidPayloadLength { .. } | Self::DatagramLengthMismatch { .. } => {
                GenericNackCode::InvalidPayloadLength
            }
            Self::Incomplete { .. }
            | Self::BufferTooSmall { .. }
            | Self::PayloadTooLong { .. }
            | Self::InvalidText { .. } => return None,
        })
    }

    /// Whether the spec says to close the TCP connection after this error.
    #[must_use]
    pub const fn closes_connection(&self) -> bool {
        match self.nack_code() {
            Some(code) => code.closes_socket(),
            None => false,
        }
    }
}

/// The rule an [`Error::UnsupportedVersion`] broke, in words: 0xFF outside vehicle
/// identification requests, or a version the receiver does not speak.
struct VersionRule<'e>(&'e ProtocolVersion, &'e PayloadType);

impl fmt::Display for VersionRule<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self(version, payload_type) = *self;
        let v = version.value();
        if matches!(version, ProtocolVersion::VehicleIdentificationDefault) {
            write!(
                f,
                "protocol version {v:#04x} is only for vehicle identification requests \
                 (0x0001-0x0003), not for {payload_type}"
            )
        } else if version.is_named() {
            write!(f, "unsupported protocol version {v:#04x} ({})", version.description())
        } else {
            write!(
                f,
                "unsupported protocol version {v:#04x}: ISO 13400-2 defines 0x01-0x04 (and 0xff \
                 for vehicle identification requests)"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use super::*;

    #[test]
    fn version_errors_name_the_rule() {
        let e = |version: u8, payload_type: u16| {
            Error::UnsupportedVersion { version: version.into(), payload_type: payload_type.into() }
                .to_string()
        };
        assert_eq!(
            e(0xFF, 0x8001),
            "protocol version 0xff is only for vehicle identification requests (0x0001-0x0003), \
             not for diagnostic message (0x8001)"
        );
        assert_eq!(
            e(0x05, 0x8001),
            "unsupported protocol version 0x05: ISO 13400-2 defines 0x01-0x04 (and 0xff for \
             vehicle identification requests)"
        );
        assert_eq!(e(0x02, 0x8001), "unsupported protocol version 0x02 (ISO 13400-2:2012)");
    }
}
