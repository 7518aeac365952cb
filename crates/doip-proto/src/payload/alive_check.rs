//! Alive check request (0x0007) and response (0x0008).

use nom::IResult;
use nom::Parser as _;

use super::{Payload, Writer, empty_payload, logical_address};
use crate::header::PayloadType;
use crate::types::LogicalAddress;

empty_payload!(
    /// The entity asks whether the tester on this socket is still there.
    AliveCheckRequest
);

/// The tester's answer, carrying the source address it activated routing with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct AliveCheckResponse {
    /// The tester's logical address registered on this socket.
    pub source_address: LogicalAddress,
}

impl AliveCheckResponse {
    /// The answer a tester with `source_address` sends.
    #[must_use]
    pub const fn new(source_address: LogicalAddress) -> Self {
        Self { source_address }
    }
}

impl Payload<'_> for AliveCheckResponse {
    const PAYLOAD_TYPE: PayloadType = PayloadType::AliveCheckResponse;

    #[inline]
    fn parse(input: &[u8]) -> IResult<&[u8], Self> {
        logical_address.map(|source_address| Self { source_address }).parse(input)
    }

    fn len(&self) -> usize {
        2
    }

    fn write(&self, out: &mut Writer<'_>) {
        out.u16(self.source_address.0);
    }
}
