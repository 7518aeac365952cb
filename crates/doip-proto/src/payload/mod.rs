//! Typed payloads, one module per message family, and the [`Message`] enum over all of them.

mod alive_check;
mod diagnostic;
mod display;
mod entity_status;
mod generic_nack;
mod identification;
mod power_mode;
mod routing_activation;

pub use alive_check::{AliveCheckRequest, AliveCheckResponse};
pub use diagnostic::{
    AcknowledgementCode, DiagnosticAcknowledgement, DiagnosticMessage,
    DiagnosticMessageNegativeAck, DiagnosticMessagePositiveAck,
};
pub use entity_status::{EntityStatusRequest, EntityStatusResponse};
pub use generic_nack::GenericNack;
pub use identification::{
    VehicleAnnouncement, VehicleIdentificationRequest, VehicleIdentificationRequestWithEid,
    VehicleIdentificationRequestWithVin,
};
pub use power_mode::{DiagnosticPowerModeRequest, DiagnosticPowerModeResponse};
pub use routing_activation::{RoutingActivationRequest, RoutingActivationResponse};

use alloc::borrow::Cow;
use alloc::vec::Vec;

use nom::bytes::complete::take;
use nom::number::complete::be_u16;
use nom::{IResult, Parser};

use crate::Error;
use crate::header::{HEADER_LEN, Header, PayloadType, ProtocolVersion, parse_header};
use crate::types::LogicalAddress;

/// One payload layout: its type, nom parser, length and writer.
pub(crate) trait Payload<'a>: Sized {
    /// The payload type this layout is carried in.
    const PAYLOAD_TYPE: PayloadType;

    /// Parses the payload; `input` is exactly the payload bytes, already length-checked
    /// against [`PayloadType::length_rule`], so optional fields are present iff bytes remain.
    fn parse(input: &'a [u8]) -> IResult<&'a [u8], Self>;

    /// Encoded payload length in bytes.
    fn len(&self) -> usize;

    /// Writes exactly [`Payload::len`] bytes.
    fn write(&self, out: &mut Writer<'_>);

    /// [`Payload::parse`] of a payload in a header of `version` (length-checked against
    /// [`PayloadType::length_rule_for`]). Only layouts that differ by version override these
    /// three (the routing activation request of version 0x01).
    #[inline]
    fn parse_for(input: &'a [u8], _version: ProtocolVersion) -> IResult<&'a [u8], Self> {
        Self::parse(input)
    }

    /// [`Payload::len`] under `version`.
    fn len_for(&self, _version: ProtocolVersion) -> usize {
        self.len()
    }

    /// Writes exactly [`Payload::len_for`] bytes under `version`.
    fn write_for(&self, out: &mut Writer<'_>, _version: ProtocolVersion) {
        self.write(out);
    }
}

/// A cursor over an output slice already sized to the encoded length.
pub(crate) struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl Writer<'_> {
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.buf[self.pos..self.pos + b.len()].copy_from_slice(b);
        self.pos += b.len();
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.bytes(&v.to_be_bytes());
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.bytes(&v.to_be_bytes());
    }
}

/// A big-endian logical address field.
pub(crate) fn logical_address(input: &[u8]) -> IResult<&[u8], LogicalAddress> {
    be_u16.map(LogicalAddress).parse(input)
}

/// A fixed-size byte array field (VIN, EID, GID, OEM data).
pub(crate) fn array<const N: usize>(input: &[u8]) -> IResult<&[u8], [u8; N]> {
    take(N).map(|b: &[u8]| b.try_into().unwrap_or([0; N])).parse(input)
}

/// An optional field at the end of a payload: present iff bytes remain (the payload length
/// was checked against the type's [`LengthRule`](crate::LengthRule) before parsing).
pub(crate) fn optional_tail<'a, O>(
    mut field: impl Parser<&'a [u8], Output = O, Error = nom::error::Error<&'a [u8]>>,
) -> impl FnMut(&'a [u8]) -> IResult<&'a [u8], Option<O>> {
    move |input: &'a [u8]| {
        if input.is_empty() {
            Ok((input, None))
        } else {
            field.parse(input).map(|(rest, o)| (rest, Some(o)))
        }
    }
}

/// Payloads with no bytes: the requests that only name their payload type.
macro_rules! empty_payload {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        #[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
        pub struct $name;

        impl crate::payload::Payload<'_> for $name {
            const PAYLOAD_TYPE: crate::header::PayloadType = crate::header::PayloadType::$name;

            fn parse(input: &[u8]) -> nom::IResult<&[u8], Self> {
                Ok((input, Self))
            }

            fn len(&self) -> usize {
                0
            }

            fn write(&self, _out: &mut crate::payload::Writer<'_>) {}
        }
    };
}
pub(crate) use empty_payload;

/// Maps a nom failure of a length-checked payload parser to the spec's length error.
fn length_error(payload_type: PayloadType, version: ProtocolVersion, payload: &[u8]) -> Error {
    Error::InvalidPayloadLength {
        payload_type,
        length: u32::try_from(payload.len()).unwrap_or(u32::MAX),
        expected: payload_type.length_rule_for(version),
    }
}

#[inline]
fn parse_exact<'a, P: Payload<'a>>(
    payload: &'a [u8],
    version: ProtocolVersion,
) -> Result<P, Error> {
    match P::parse_for(payload, version) {
        Ok(([], p)) => Ok(p),
        _ => Err(length_error(P::PAYLOAD_TYPE, version, payload)),
    }
}

/// Generates [`Message`] and its dispatch over the typed payloads.
macro_rules! messages {
    ($( $(#[$meta:meta])* $variant:ident($ty:ty), )*) => {
        /// Any DoIP payload, typed. Reserved and vendor payload types are kept raw in
        /// [`Message::Unknown`], so no frame is ever lost.
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        #[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
        #[non_exhaustive]
        pub enum Message<'a> {
            $( $(#[$meta])* $variant($ty), )*
            /// A reserved or vendor-specific payload type, with its payload as received.
            /// Encoding one with a named payload type writes those bytes under that type.
            Unknown {
                /// The payload type.
                payload_type: PayloadType,
                /// The raw payload.
                payload: Cow<'a, [u8]>,
            },
        }

        $(
            impl<'a> From<$ty> for Message<'a> {
                fn from(p: $ty) -> Self {
                    Self::$variant(p)
                }
            }
        )*

        impl<'a> Message<'a> {
            /// The payload type this message is carried in.
            #[must_use]
            pub fn payload_type(&self) -> PayloadType {
                match self {
                    $( Self::$variant(_) => <$ty as Payload<'_>>::PAYLOAD_TYPE, )*
                    Self::Unknown { payload_type, .. } => *payload_type,
                }
            }

            /// Encoded payload length (without the header) under version 0x02 or later;
            /// [`Message::payload_len_for`] for any version.
            #[must_use]
            pub fn payload_len(&self) -> usize {
                self.payload_len_for(ProtocolVersion::Iso2012)
            }

            /// Encoded payload length (without the header) in a header of `version`. Only
            /// a routing activation request differs: one byte longer under version 0x01.
            #[must_use]
            pub fn payload_len_for(&self, version: ProtocolVersion) -> usize {
                match self {
                    $( Self::$variant(p) => p.len_for(version), )*
                    Self::Unknown { payload, .. } => payload.len(),
                }
            }

            fn write_payload(&self, out: &mut Writer<'_>, version: ProtocolVersion) {
                match self {
                    $( Self::$variant(p) => p.write_for(out, version), )*
                    Self::Unknown { payload, .. } => out.bytes(payload),
                }
            }

            /// Parses a payload of the given type in the layout of version 0x02 and later
            /// (ISO 13400-2:2012/2019): [`Message::parse_for`] with
            /// [`ProtocolVersion::Iso2012`]. Use [`Message::parse_for`] with the header's
            /// version when it may be 0x01 ([`Frame::parse`] and the decoders do).
            ///
            /// # Errors
            /// [`Error::InvalidPayloadLength`] when the length does not fit the type.
            #[inline]
            pub fn parse(payload_type: PayloadType, payload: &'a [u8]) -> Result<Self, Error> {
                Self::parse_for(ProtocolVersion::Iso2012, payload_type, payload)
            }

            /// Parses a payload of the given type carried in a header of `version`. The
            /// length must fit the type ([`PayloadType::length_rule_for`]); reserved and
            /// vendor types give [`Message::Unknown`] borrowing `payload`. The version
            /// matters only for a routing activation request: version 0x01 (ISO/DIS
            /// 13400-2:2010) has a 2-byte activation type; every other version byte, valid or
            /// not, is read with the layout of 0x02 and later.
            ///
            /// # Errors
            /// [`Error::InvalidPayloadLength`] when the length does not fit the type.
            #[inline]
            pub fn parse_for(
                version: ProtocolVersion,
                payload_type: PayloadType,
                payload: &'a [u8],
            ) -> Result<Self, Error> {
                let length = u32::try_from(payload.len()).unwrap_or(u32::MAX);
                if !payload_type.length_rule_for(version).accepts(length) {
                    return Err(length_error(payload_type, version, payload));
                }
                Ok(match payload_type {
                    $( PayloadType::$variant => Self::$variant(parse_exact(payload, version)?), )*
                    _ => Self::Unknown { payload_type, payload: Cow::Borrowed(payload) },
                })
            }

            /// The same message owning its data, free of the input's lifetime.
            #[must_use]
            pub fn into_owned(self) -> Message<'static> {
                match self {
                    $( Self::$variant(p) => Message::$variant(IntoOwned::into_owned(p)), )*
                    Self::Unknown { payload_type, payload } => Message::Unknown {
                        payload_type,
                        payload: Cow::Owned(payload.into_owned()),
                    },
                }
            }
        }
    };
}

/// Detaches a payload from the lifetime of the bytes it was parsed from.
pub(crate) trait IntoOwned {
    /// The `'static` form.
    type Owned;
    /// Copies borrowed data, if any.
    fn into_owned(self) -> Self::Owned;
}

/// [`IntoOwned`] for payloads that borrow nothing.
macro_rules! owned_already {
    ($($ty:ty),* $(,)?) => {
        $( impl IntoOwned for $ty {
            type Owned = Self;
            fn into_owned(self) -> Self {
                self
            }
        } )*
    };
}

owned_already!(
    GenericNack,
    VehicleIdentificationRequest,
    VehicleIdentificationRequestWithEid,
    VehicleIdentificationRequestWithVin,
    VehicleAnnouncement,
    RoutingActivationRequest,
    RoutingActivationResponse,
    AliveCheckRequest,
    AliveCheckResponse,
    EntityStatusRequest,
    EntityStatusResponse,
    DiagnosticPowerModeRequest,
    DiagnosticPowerModeResponse,
);

messages! {
    /// 0x0000: generic DoIP header negative acknowledge.
    GenericNack(GenericNack),
    /// 0x0001: vehicle identification request.
    VehicleIdentificationRequest(VehicleIdentificationRequest),
    /// 0x0002: vehicle identification request with EID.
    VehicleIdentificationRequestWithEid(VehicleIdentificationRequestWithEid),
    /// 0x0003: vehicle identification request with VIN.
    VehicleIdentificationRequestWithVin(VehicleIdentificationRequestWithVin),
    /// 0x0004: vehicle announcement / vehicle identification response.
    VehicleAnnouncement(VehicleAnnouncement),
    /// 0x0005: routing activation request.
    RoutingActivationRequest(RoutingActivationRequest),
    /// 0x0006: routing activation response.
    RoutingActivationResponse(RoutingActivationResponse),
    /// 0x0007: alive check request.
    AliveCheckRequest(AliveCheckRequest),
    /// 0x0008: alive check response.
    AliveCheckResponse(AliveCheckResponse),
    /// 0x4001: DoIP entity status request.
    EntityStatusRequest(EntityStatusRequest),
    /// 0x4002: DoIP entity status response.
    EntityStatusResponse(EntityStatusResponse),
    /// 0x4003: diagnostic power mode information request.
    DiagnosticPowerModeRequest(DiagnosticPowerModeRequest),
    /// 0x4004: diagnostic power mode information response.
    DiagnosticPowerModeResponse(DiagnosticPowerModeResponse),
    /// 0x8001: diagnostic message (UDS data between tester and ECU).
    DiagnosticMessage(DiagnosticMessage<'a>),
    /// 0x8002: diagnostic message positive acknowledgement.
    DiagnosticMessagePositiveAck(DiagnosticMessagePositiveAck<'a>),
    /// 0x8003: diagnostic message negative acknowledgement.
    DiagnosticMessageNegativeAck(DiagnosticMessageNegativeAck<'a>),
}

impl Message<'_> {
    /// Header plus payload length under version 0x02 or later; [`Message::encoded_len_for`]
    /// for any version.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.payload_len()
    }

    /// Header plus payload length when sent under `version`.
    #[must_use]
    pub fn encoded_len_for(&self, version: ProtocolVersion) -> usize {
        HEADER_LEN + self.payload_len_for(version)
    }

    /// The header this message is sent with under `version`.
    ///
    /// # Errors
    /// [`Error::PayloadTooLong`] when the payload exceeds the 32-bit length field.
    pub fn header(&self, version: ProtocolVersion) -> Result<Header, Error> {
        let length = self.payload_len_for(version);
        let length = u32::try_from(length).map_err(|_| Error::PayloadTooLong { length })?;
        Ok(Header::new(version, self.payload_type(), length))
    }

    /// Writes header and payload into the start of `out`; returns the bytes written. The
    /// payload is laid out for `version` (see [`Message::parse_for`]).
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] when `out` is shorter than [`Message::encoded_len_for`];
    /// [`Error::PayloadTooLong`] when the payload exceeds the 32-bit length field.
    pub fn encode_to_slice(
        &self,
        version: ProtocolVersion,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let header = self.header(version)?;
        let needed = self.encoded_len_for(version);
        let Some(out) = out.get_mut(..needed) else {
            return Err(Error::BufferTooSmall { needed, available: out.len() });
        };
        let mut w = Writer { buf: out, pos: 0 };
        w.bytes(&header.to_bytes());
        self.write_payload(&mut w, version);
        debug_assert_eq!(w.pos, needed, "payload writer and length disagree");
        Ok(needed)
    }

    /// Appends header and payload to `out`; returns the bytes written.
    ///
    /// # Errors
    /// [`Error::PayloadTooLong`] when the payload exceeds the 32-bit length field.
    pub fn encode(&self, version: ProtocolVersion, out: &mut Vec<u8>) -> Result<usize, Error> {
        let start = out.len();
        out.resize(start + self.encoded_len_for(version), 0);
        let written = self.encode_to_slice(version, &mut out[start..]);
        if written.is_err() {
            out.truncate(start);
        }
        written
    }

    /// The encoded frame as a new vector.
    ///
    /// # Errors
    /// [`Error::PayloadTooLong`] when the payload exceeds the 32-bit length field.
    pub fn to_bytes(&self, version: ProtocolVersion) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(self.encoded_len_for(version));
        self.encode(version, &mut out)?;
        Ok(out)
    }
}

/// A decoded DoIP message: the header as received and the typed payload.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Frame<'a> {
    /// The header exactly as received (check it with a [`crate::HeaderPolicy`]).
    pub header: Header,
    /// The typed payload.
    pub message: Message<'a>,
}

impl<'a> Frame<'a> {
    /// Parses one frame from the start of `input` with structural checks only: the length
    /// must fit the payload type (in the header's version's layout, [`Message::parse_for`]),
    /// but the version and transport are not judged (use [`crate::HeaderPolicy`] for that).
    /// Returns the frame and the bytes after it.
    ///
    /// # Errors
    /// [`Error::Incomplete`] when `input` ends inside the frame; otherwise the payload error.
    pub fn parse(input: &'a [u8]) -> Result<(Self, &'a [u8]), Error> {
        let (rest, header) = parse_header(input)
            .map_err(|_| Error::Incomplete { needed: HEADER_LEN - input.len() })?;
        let length = header.payload_length as usize;
        if rest.len() < length {
            return Err(Error::Incomplete { needed: length - rest.len() });
        }
        let (payload, rest) = rest.split_at(length);
        let message = Message::parse_for(header.version, header.payload_type, payload)?;
        Ok((Self { header, message }, rest))
    }

    /// The same frame owning its data.
    #[must_use]
    pub fn into_owned(self) -> Frame<'static> {
        Frame { header: self.header, message: self.message.into_owned() }
    }

    /// Re-encodes the message under the header's version (the length is recomputed).
    ///
    /// # Errors
    /// As [`Message::encode`].
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<usize, Error> {
        self.message.encode(self.header.version, out)
    }
}

/// Builds [`Message::Unknown`] over owned bytes (for tests and vendor messages).
impl Message<'static> {
    /// A vendor or reserved message owning `payload`.
    #[must_use]
    pub fn unknown(payload_type: PayloadType, payload: Vec<u8>) -> Self {
        Self::Unknown { payload_type, payload: Cow::Owned(payload) }
    }
}

#[cfg(test)]
pub(crate) mod tests;
