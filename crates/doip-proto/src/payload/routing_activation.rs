//! Routing activation request (0x0005) and response (0x0006).

use nom::IResult;
use nom::Parser as _;
use nom::number::complete::{be_u8, be_u16, be_u32};

use super::{Payload, Writer, array, logical_address, optional_tail};
use crate::codes::{ActivationType, RoutingActivationResponseCode};
use crate::header::{PayloadType, ProtocolVersion};
use crate::types::LogicalAddress;

/// The tester asks the entity to route its diagnostic messages (must follow within 2 s of
/// connecting).
///
/// Version 0x01 (ISO/DIS 13400-2:2010) has a 2-byte activation type (8 or 12 bytes in all,
/// as Wireshark decodes it); later versions one byte (7 or 11). The layout follows the
/// header's version: [`Message::parse_for`](crate::Message::parse_for) and
/// [`Message::encode`](crate::Message::encode). The 2-byte value is
/// `activation_type_high << 8 | activation_type`
/// ([`RoutingActivationRequest::activation_type_v1`]), so the values 0x0000 and 0x0001 read as
/// [`ActivationType::Default`] and [`ActivationType::WwhObd`] in any version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct RoutingActivationRequest {
    /// The tester's logical address.
    pub source_address: LogicalAddress,
    /// Which activation is requested (under version 0x01: the low byte of the 2-byte field).
    pub activation_type: ActivationType,
    /// Version 0x01 only: the high byte of its 2-byte activation type; 0 for the values in
    /// use. Written and read only under version 0x01; later versions have no such byte and
    /// encode without it.
    pub activation_type_high: u8,
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
            activation_type_high: 0,
            reserved: 0,
            oem_specific: None,
        }
    }

    /// The same request with another activation type (and no version 0x01 high byte).
    #[must_use]
    pub const fn with_activation_type(mut self, activation_type: ActivationType) -> Self {
        self.activation_type = activation_type;
        self.activation_type_high = 0;
        self
    }

    /// The same request with a 2-byte activation type of version 0x01 (ISO/DIS
    /// 13400-2:2010): its low byte becomes `activation_type`, its high byte
    /// `activation_type_high`. Later versions send only the low byte.
    #[must_use]
    pub const fn with_activation_type_v1(mut self, activation_type: u16) -> Self {
        let [high, low] = activation_type.to_be_bytes();
        self.activation_type = ActivationType::from_value(low);
        self.activation_type_high = high;
        self
    }

    /// The activation type as version 0x01 (ISO/DIS 13400-2:2010) sends it, 2 bytes; under
    /// later versions equal to `activation_type`'s value unless `activation_type_high` is set.
    #[must_use]
    pub const fn activation_type_v1(&self) -> u16 {
        u16::from_be_bytes([self.activation_type_high, self.activation_type.value()])
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
                activation_type_high: 0,
                reserved,
                oem_specific,
            })
            .parse(input)
    }

    fn len(&self) -> usize {
        7 + if self.oem_specific.is_some() { 4 } else { 0 }
    }

    fn write(&self, out: &mut Writer<'_>) {
        self.write_for(out, ProtocolVersion::Iso2012);
    }

    #[inline]
    fn parse_for(input: &[u8], version: ProtocolVersion) -> IResult<&[u8], Self> {
        if !is_v1(version) {
            return Self::parse(input);
        }
        (logical_address, be_u16, be_u32, optional_tail(array))
            .map(|(source_address, activation_type, reserved, oem_specific)| Self {
                source_address,
                reserved,
                oem_specific,
                ..Self::new(source_address).with_activation_type_v1(activation_type)
            })
            .parse(input)
    }

    fn len_for(&self, version: ProtocolVersion) -> usize {
        self.len() + usize::from(is_v1(version))
    }

    fn write_for(&self, out: &mut Writer<'_>, version: ProtocolVersion) {
        out.u16(self.source_address.0);
        if is_v1(version) {
            out.u16(self.activation_type_v1());
        } else {
            out.u8(self.activation_type.value());
        }
        out.u32(self.reserved);
        if let Some(oem) = &self.oem_specific {
            out.bytes(oem);
        }
    }
}

/// Whether `version` is 0x01 (ISO/DIS 13400-2:2010), whose routing activation request has a
/// 2-byte activation type.
const fn is_v1(version: ProtocolVersion) -> bool {
    version.value() == 0x01
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
