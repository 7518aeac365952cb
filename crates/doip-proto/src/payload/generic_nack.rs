//! Generic DoIP header negative acknowledge (0x0000).

use nom::IResult;
use nom::Parser as _;
use nom::number::complete::be_u8;

use super::{Payload, Writer};
use crate::codes::GenericNackCode;
use crate::header::PayloadType;

/// The receiver's answer to a header it refused (PROTOCOL.md §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct GenericNack {
    /// Why the header was refused.
    pub code: GenericNackCode,
}

impl GenericNack {
    /// A NACK with `code`.
    #[must_use]
    pub const fn new(code: GenericNackCode) -> Self {
        Self { code }
    }
}

impl Payload<'_> for GenericNack {
    const PAYLOAD_TYPE: PayloadType = PayloadType::GenericNack;

    #[inline]
    fn parse(input: &[u8]) -> IResult<&[u8], Self> {
        be_u8.map(|code: u8| Self { code: code.into() }).parse(input)
    }

    fn len(&self) -> usize {
        1
    }

    fn write(&self, out: &mut Writer<'_>) {
        out.u8(self.code.value());
    }
}
