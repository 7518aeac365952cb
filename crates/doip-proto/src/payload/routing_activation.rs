//! Routing activation request (0x0005) and response (0x0006).

use nom::IResult;
use nom::Parser as _;
use nom::number::complete::{be_u8, be_u32};

use super::{Payload, Writer, array, logical_address, optional_tail};
use crate::codes::{ActivationType, RoutingActivationResponseCode};
use crate::header::PayloadType;
use crate::types::LogicalAddress;

/// The tester asks the entity to route its diagnostic messages (must follow within 2 s of
/// connecting).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct RoutingActivationRequest {
    /// The tester's logical address.
    pub source_address: LogicalAddress,
    /// Which activation is requested.
    pub activation_type: ActivationType,
    /// ISO reserved field; zero on send, kept as received.
    pub reserved: u32,
    /// OEM-specific data; absent in the 7-byte form.
    pub oem_specific: Option<[u8; 4]>,
}

impl RoutingActivationRequest {
    /// A default activation (type 0x00) for `source_address`, without OEM data: the 7-byte
    /// form most entities expect.
    #[must_use]
    pub const fn new(source_address: LogicalAddress) -> Self {
        Self {
            source_address,
            activation_type: ActivationType::Default,
            reserved: 0,
            oem_specific: None,
        }
    }

    /// The same request with another activation type.
    #[must_use]
    pub const fn with_activation_type(mut self, activation_type: ActivationType) -> Self {
        self.activation_type = activation_type;
        self
    }

    /// The same request with OEM-specific data (the 11-byte form).
    #[must_use]
    pub const fn with_oem_specific(mut self, oem_specific: [u8; 4]) -> Self {
        self.oem_specific = Some(oem_specific);
        self
    }
}

impl Payload<'_> for RoutingActivationRequest {
    const PAYLOAD_TYPE: PayloadType = PayloadType::RoutingActivationRequest;

    #[inline]
    fn parse(input: &[u8]) -> IResult<&[u8], Self> {
        (logical_address, be_u8, be_u32, optional_tail(array))
            .map(|(source_address, activation_type, reserved, oem_specific)| Self {
                source_address,
                activation_type: activation_type.into(),
                reserved,
                oem_specific,
            })
            .parse(input)
    }

    fn len(&self) -> usize {
        7 + if self.oem_specific.is_some() { 4 } else { 0 }
    }

    fn write(&self, out: &mut Writer<'_>) {
        out.u16(self.source_address.0);
        out.u8(self.activation_type.value());
        out.u32(self.reserved);
        if let Some(oem) = &self.oem_specific {
            out.bytes(oem);
        }
    }
}

/// The entity's decision on a routing activation request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct RoutingActivationResponse {
    /// Echo of the request's source address; a tester checks it.
    pub tester_address: LogicalAddress,
    /// The entity's logical address.
    pub entity_address: LogicalAddress,
    /// The decision.
    pub response_code: RoutingActivationResponseCode,
    /// ISO reserved field; zero on send, kept as received.
    pub reserved: u32,
    /// OEM-specific data; absent in the 9-byte form.
    pub oem_specific: Option<[u8; 4]>,
}

impl RoutingActivationResponse {
    /// A 9-byte response with `response_code`.
    #[must_use]
    pub const fn new(
        tester_address: LogicalAddress,
        entity_address: LogicalAddress,
        response_code: RoutingActivationResponseCode,
    ) -> Self {
        Self { tester_address, entity_address, response_code, reserved: 0, oem_specific: None }
    }
}

impl Payload<'_> for RoutingActivationResponse {
    const PAYLOAD_TYPE: PayloadType = PayloadType::RoutingActivationResponse;

    #[inline]
    fn parse(input: &[u8]) -> IResult<&[u8], Self> {
        (logical_address, logical_address, be_u8, be_u32, optional_tail(array))
            .map(|(tester_address, entity_address, code, reserved, oem_specific)| Self {
                tester_address,
                entity_address,
                response_code: code.into(),
                reserved,
                oem_specific,
            })
            .parse(input)
    }

    fn len(&self) -> usize {
        9 + if self.oem_specific.is_some() { 4 } else { 0 }
    }

    fn write(&self, out: &mut Writer<'_>) {
        out.u16(self.tester_address.0);
        out.u16(self.entity_address.0);
        out.u8(self.response_code.value());
        out.u32(self.reserved);
        if let Some(oem) = &self.oem_specific {
            out.bytes(oem);
        }
    }
}
