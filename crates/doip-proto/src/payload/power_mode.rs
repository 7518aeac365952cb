//! Diagnostic power mode information request (0x4003) and response (0x4004).

use nom::IResult;
use nom::Parser as _;
use nom::number::complete::be_u8;

use super::{Payload, Writer, empty_payload};
use crate::codes::PowerMode;
use crate::header::PayloadType;

empty_payload!(
    /// The tester asks whether the vehicle is in a power mode that allows diagnostics.
    DiagnosticPowerModeRequest
);

/// The entity's diagnostic power mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct DiagnosticPowerModeResponse {
    /// The power mode.
    pub power_mode: PowerMode,
}

impl DiagnosticPowerModeResponse {
    /// A response reporting `power_mode`.
    #[must_use]
    pub const fn new(power_mode: PowerMode) -> Self {
        Self { power_mode }
    }
}

impl Payload<'_> for DiagnosticPowerModeResponse {
    const PAYLOAD_TYPE: PayloadType = PayloadType::DiagnosticPowerModeResponse;

    #[inline]
    fn parse(input: &[u8]) -> IResult<&[u8], Self> {
        be_u8.map(|m: u8| Self { power_mode: m.into() }).parse(input)
    }

    fn len(&self) -> usize {
        1
    }

    fn write(&self, out: &mut Writer<'_>) {
        out.u8(self.power_mode.value());
    }
}
