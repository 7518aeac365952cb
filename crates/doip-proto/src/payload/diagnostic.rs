//! Diagnostic message (0x8001) and its positive (0x8002) and negative (0x8003)
//! acknowledgements. User data is borrowed from the input on decode.

use alloc::borrow::Cow;

use nom::IResult;
use nom::Parser as _;
use nom::combinator::rest;
use nom::number::complete::be_u8;

use super::{IntoOwned, Payload, Writer, logical_address};
use crate::codes::{DiagnosticAckCode, DiagnosticNackCode};
use crate::header::PayloadType;
use crate::types::LogicalAddress;

/// UDS data between a tester and an ECU.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct DiagnosticMessage<'a> {
    /// Sender: the tester's activated address, or the answering ECU.
    pub source_address: LogicalAddress,
    /// Receiver: an ECU (physical or functional address), or the tester.
    pub target_address: LogicalAddress,
    /// The UDS PDU. Send at least one byte; an empty one is accepted on receive.
    pub user_data: Cow<'a, [u8]>,
}

impl<'a> DiagnosticMessage<'a> {
    /// A message from `source_address` to `target_address` carrying `user_data`
    /// (a slice is borrowed, a `Vec` is moved in).
    #[must_use]
    pub fn new(
        source_address: LogicalAddress,
        target_address: LogicalAddress,
        user_data: impl Into<Cow<'a, [u8]>>,
    ) -> Self {
        Self { source_address, target_address, user_data: user_data.into() }
    }
}

impl<'a> Payload<'a> for DiagnosticMessage<'a> {
    const PAYLOAD_TYPE: PayloadType = PayloadType::DiagnosticMessage;

    #[inline]
    fn parse(input: &'a [u8]) -> IResult<&'a [u8], Self> {
        (logical_address, logical_address, rest)
            .map(|(source_address, target_address, data)| Self {
                source_address,
                target_address,
                user_data: Cow::Borrowed(data),
            })
            .parse(input)
    }

    fn len(&self) -> usize {
        4 + self.user_data.len()
    }

    fn write(&self, out: &mut Writer<'_>) {
        out.u16(self.source_address.0);
        out.u16(self.target_address.0);
        out.bytes(&self.user_data);
    }
}

impl IntoOwned for DiagnosticMessage<'_> {
    type Owned = DiagnosticMessage<'static>;

    fn into_owned(self) -> Self::Owned {
        DiagnosticMessage {
            source_address: self.source_address,
            target_address: self.target_address,
            user_data: Cow::Owned(self.user_data.into_owned()),
        }
    }
}

/// The entity's acknowledgement of a diagnostic message; `C` is the ACK or NACK code table.
/// Use the aliases [`DiagnosticMessagePositiveAck`] and [`DiagnosticMessageNegativeAck`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct DiagnosticAcknowledgement<'a, C> {
    /// The ECU address the tester's message was sent to.
    pub source_address: LogicalAddress,
    /// The tester's address.
    pub target_address: LogicalAddress,
    /// The ACK or NACK code.
    pub code: C,
    /// An optional copy of (the start of) the acknowledged user data; empty when absent.
    pub previous_message: Cow<'a, [u8]>,
}

/// 0x8002: the entity accepted a diagnostic message for routing.
pub type DiagnosticMessagePositiveAck<'a> = DiagnosticAcknowledgement<'a, DiagnosticAckCode>;

/// 0x8003: the entity refused a diagnostic message.
pub type DiagnosticMessageNegativeAck<'a> = DiagnosticAcknowledgement<'a, DiagnosticNackCode>;

/// The two acknowledgement code tables and the payload type each travels in.
pub trait AcknowledgementCode: Copy + From<u8> + Into<u8> {
    /// 0x8002 for ACK codes, 0x8003 for NACK codes.
    const PAYLOAD_TYPE: PayloadType;
}

impl AcknowledgementCode for DiagnosticAckCode {
    const PAYLOAD_TYPE: PayloadType = PayloadType::DiagnosticMessagePositiveAck;
}

impl AcknowledgementCode for DiagnosticNackCode {
    const PAYLOAD_TYPE: PayloadType = PayloadType::DiagnosticMessageNegativeAck;
}

impl<'a, C: AcknowledgementCode> DiagnosticAcknowledgement<'a, C> {
    /// An acknowledgement of `message` with `code`, without a copy of its data. The
    /// addresses are the message's, swapped.
    #[must_use]
    pub fn new(message: &DiagnosticMessage<'_>, code: C) -> Self {
        Self {
            source_address: message.target_address,
            target_address: message.source_address,
            code,
            previous_message: Cow::Borrowed(&[]),
        }
    }

    /// The same acknowledgement carrying `previous_message` (a copy of the acknowledged data).
    #[must_use]
    pub fn with_previous_message(mut self, previous_message: impl Into<Cow<'a, [u8]>>) -> Self {
        self.previous_message = previous_message.into();
        self
    }
}

impl<'a, C: AcknowledgementCode> Payload<'a> for DiagnosticAcknowledgement<'a, C> {
    const PAYLOAD_TYPE: PayloadType = C::PAYLOAD_TYPE;

    #[inline]
    fn parse(input: &'a [u8]) -> IResult<&'a [u8], Self> {
        (logical_address, logical_address, be_u8, rest)
            .map(|(source_address, target_address, code, previous)| Self {
                source_address,
                target_address,
                code: C::from(code),
                previous_message: Cow::Borrowed(previous),
            })
            .parse(input)
    }

    fn len(&self) -> usize {
        5 + self.previous_message.len()
    }

    fn write(&self, out: &mut Writer<'_>) {
        out.u16(self.source_address.0);
        out.u16(self.target_address.0);
        out.u8(self.code.into());
        out.bytes(&self.previous_message);
    }
}

impl<C> IntoOwned for DiagnosticAcknowledgement<'_, C> {
    type Owned = DiagnosticAcknowledgement<'static, C>;

    fn into_owned(self) -> Self::Owned {
        DiagnosticAcknowledgement {
            source_address: self.source_address,
            target_address: self.target_address,
            code: self.code,
            previous_message: Cow::Owned(self.previous_message.into_owned()),
        }
    }
}
