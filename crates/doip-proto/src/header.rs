//! The 8-byte generic DoIP header and its validation (PROTOCOL.md §1).
//!
//! Parsing a header never fails on content: the version, inverse byte and payload type are kept
//! as sent, so captures decode faithfully. Whether a receiver accepts the header is decided
//! separately by a [`HeaderPolicy`], which applies the spec's checks in the spec's order and
//! names the generic NACK to answer.

use core::fmt;

use nom::IResult;
use nom::Parser as _;
use nom::number::complete::{be_u8, be_u16, be_u32};

use crate::Error;
#[cfg(test)]
use crate::codes::GenericNackCode;
use crate::codes::open_enum;

/// Length of the generic DoIP header in bytes.
pub const HEADER_LEN: usize = 8;

/// Default largest payload a decoder accepts: 4 MiB, enough for any flashing block size in use.
pub const DEFAULT_MAX_PAYLOAD_LENGTH: u32 = 4 * 1024 * 1024;

open_enum! {
    /// Protocol version byte of the header.
    pub enum ProtocolVersion: u8 {
        /// 0x01: ISO/DIS 13400-2:2010.
        Iso2010 = 0x01 => "ISO/DIS 13400-2:2010",
        /// 0x02: ISO 13400-2:2012, what most ECUs speak.
        Iso2012 = 0x02 => "ISO 13400-2:2012",
        /// 0x03: ISO 13400-2:2019.
        Iso2019 = 0x03 => "ISO 13400-2:2019",
        /// 0x04: ISO 13400-2:2019/Amd1 (experimental).
        Iso2019Amd1 = 0x04 => "ISO 13400-2:2019/Amd1",
        /// 0xFF: a tester that does not know the entity's version may use this in vehicle
        /// identification requests (payload types 0x0001–0x0003) only.
        VehicleIdentificationDefault = 0xFF => "default for vehicle identification requests",
    } else {
        /// Any other value: reserved.
        Reserved(_) => "reserved",
    }
}

impl Default for ProtocolVersion {
    /// [`ProtocolVersion::Iso2012`] (0x02), the version most entities speak.
    fn default() -> Self {
        Self::Iso2012
    }
}

impl ProtocolVersion {
    /// The inverse version byte that must follow this version on the wire.
    #[must_use]
    #[inline]
    pub const fn inverse(self) -> u8 {
        !self.value()
    }
}

open_enum! {
    /// Payload type field of the header (PROTOCOL.md §2).
    pub enum PayloadType: u16 {
        /// 0x0000: generic DoIP header negative acknowledge.
        GenericNack = 0x0000 => "generic DoIP header negative acknowledge",
        /// 0x0001: vehicle identification request.
        VehicleIdentificationRequest = 0x0001 => "vehicle identification request",
        /// 0x0002: vehicle identification request with EID.
        VehicleIdentificationRequestWithEid = 0x0002 =>
            "vehicle identification request with EID",
        /// 0x0003: vehicle identification request with VIN.
        VehicleIdentificationRequestWithVin = 0x0003 =>
            "vehicle identification request with VIN",
        /// 0x0004: vehicle announcement / vehicle identification response.
        VehicleAnnouncement = 0x0004 => "vehicle announcement/identification response",
        /// 0x0005: routing activation request.
        RoutingActivationRequest = 0x0005 => "routing activation request",
        /// 0x0006: routing activation response.
        RoutingActivationResponse = 0x0006 => "routing activation response",
        /// 0x0007: alive check request.
        AliveCheckRequest = 0x0007 => "alive check request",
        /// 0x0008: alive check response.
        AliveCheckResponse = 0x0008 => "alive check response",
        /// 0x4001: DoIP entity status request.
        EntityStatusRequest = 0x4001 => "DoIP entity status request",
        /// 0x4002: DoIP entity status response.
        EntityStatusResponse = 0x4002 => "DoIP entity status response",
        /// 0x4003: diagnostic power mode information request.
        DiagnosticPowerModeRequest = 0x4003 => "diagnostic power mode information request",
        /// 0x4004: diagnostic power mode information response.
        DiagnosticPowerModeResponse = 0x4004 => "diagnostic power mode information response",
        /// 0x8001: diagnostic message.
        DiagnosticMessage = 0x8001 => "diagnostic message",
        /// 0x8002: diagnostic message positive acknowledgement.
        DiagnosticMessagePositiveAck = 0x8002 => "diagnostic message positive acknowledgement",
        /// 0x8003: diagnostic message negative acknowledgement.
        DiagnosticMessageNegativeAck = 0x8003 => "diagnostic message negative acknowledgement",
    } else {
        /// 0xF000–0xFFFF: manufacturer specific.
        VendorSpecific(0xF000..=0xFFFF) => "manufacturer specific",
        /// Any other value: reserved by ISO 13400-2.
        Reserved(_) => "reserved",
    }
}

/// Which payload lengths the spec allows for a payload type (PROTOCOL.md §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LengthRule {
    /// Exactly this many bytes.
    Exact(u32),
    /// A required part, or the required part plus an optional field.
    Either(u32, u32),
    /// At least this many bytes.
    AtLeast(u32),
    /// Any length (reserved and vendor payload types).
    Any,
}

impl LengthRule {
    /// Whether `length` satisfies the rule.
    #[must_use]
    #[inline]
    pub const fn accepts(self, length: u32) -> bool {
        match self {
            Self::Exact(n) => length == n,
            Self::Either(a, b) => length == a || length == b,
            Self::AtLeast(n) => length >= n,
            Self::Any => true,
        }
    }
}

impl fmt::Display for LengthRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(n) => write!(f, "exactly {n}"),
            Self::Either(a, b) => write!(f, "{a} or {b}"),
            Self::AtLeast(n) => write!(f, "at least {n}"),
            Self::Any => f.write_str("any length"),
        }
    }
}

/// The transport a message arrived on; the spec allows each payload type on one or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// TCP_DATA (port 13400, or 3496 with TLS).
    Tcp,
    /// UDP_DISCOVERY (port 13400).
    Udp,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
        })
    }
}

impl PayloadType {
    /// The payload lengths the spec allows for this type from version 0x02 (ISO 13400-2:2012)
    /// on ([`PayloadType::length_rule_for`] for a given header's version). Diagnostic messages
    /// are accepted from 4 bytes (no user data), as PROTOCOL.md §2 decides.
    #[must_use]
    #[inline]
    pub const fn length_rule(self) -> LengthRule {
        match self {
            Self::GenericNack | Self::DiagnosticPowerModeResponse => LengthRule::Exact(1),
            Self::VehicleIdentificationRequest
            | Self::AliveCheckRequest
            | Self::EntityStatusRequest
            | Self::DiagnosticPowerModeRequest => LengthRule::Exact(0),
            Self::VehicleIdentificationRequestWithEid => LengthRule::Exact(6),
            Self::VehicleIdentificationRequestWithVin => LengthRule::Exact(17),
            Self::VehicleAnnouncement => LengthRule::Either(32, 33),
            Self::RoutingActivationRequest => LengthRule::Either(7, 11),
            Self::RoutingActivationResponse => LengthRule::Either(9, 13),
            Self::AliveCheckResponse => LengthRule::Exact(2),
            Self::EntityStatusResponse => LengthRule::Either(3, 7),
            Self::DiagnosticMessage => LengthRule::AtLeast(4),
            Self::DiagnosticMessagePositiveAck | Self::DiagnosticMessageNegativeAck => {
                LengthRule::AtLeast(5)
            }
            Self::VendorSpecific(_) | Self::Reserved(_) => LengthRule::Any,
        }
    }

    /// The payload lengths the spec allows for this type in a header of `version`: as
    /// [`PayloadType::length_rule`], except that a routing activation request of ISO/DIS
    /// 13400-2:2010 (version 0x01) has a 2-byte activation type, so 8 or 12 bytes (as
    /// Wireshark decodes it). Header validation and payload parsing both use this.
    #[must_use]
    #[inline]
    pub const fn length_rule_for(self, version: ProtocolVersion) -> LengthRule {
        if self.value() == 0x0005 && version.value() == 0x01 {
            LengthRule::Either(8, 12)
        } else {
            self.length_rule()
        }
    }

    /// Whether the spec carries this type on `transport`. Entity status and power mode
    /// requests are allowed on TCP too, because real testers send them there.
    #[must_use]
    #[inline]
    pub const fn allowed_on(self, transport: Transport) -> bool {
        match self {
            Self::GenericNack
            | Self::EntityStatusRequest
            | Self::EntityStatusResponse
            | Self::DiagnosticPowerModeRequest
            | Self::DiagnosticPowerModeResponse => true,
            Self::VehicleIdentificationRequest
            | Self::VehicleIdentificationRequestWithEid
            | Self::VehicleIdentificationRequestWithVin
            | Self::VehicleAnnouncement => matches!(transport, Transport::Udp),
            Self::RoutingActivationRequest
            | Self::RoutingActivationResponse
            | Self::AliveCheckRequest
            | Self::AliveCheckResponse
            | Self::DiagnosticMessage
            | Self::DiagnosticMessagePositiveAck
            | Self::DiagnosticMessageNegativeAck => matches!(transport, Transport::Tcp),
            Self::VendorSpecific(_) | Self::Reserved(_) => true,
        }
    }

    /// Whether a header of this type may carry version 0xFF (vehicle identification requests).
    #[must_use]
    #[inline]
    pub const fn allows_default_version(self) -> bool {
        matches!(
            self,
            Self::VehicleIdentificationRequest
                | Self::VehicleIdentificationRequestWithEid
                | Self::VehicleIdentificationRequestWithVin
        )
    }
}

/// The generic DoIP header, exactly as received or about to be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// Protocol version.
    pub version: ProtocolVersion,
    /// Inverse protocol version; valid when it equals `!version`.
    pub inverse_version: u8,
    /// Payload type.
    pub payload_type: PayloadType,
    /// Number of payload bytes after the header.
    pub payload_length: u32,
}

impl Header {
    /// A well-formed header (inverse byte computed from `version`).
    #[must_use]
    pub const fn new(
        version: ProtocolVersion,
        payload_type: PayloadType,
        payload_length: u32,
    ) -> Self {
        Self { version, inverse_version: version.inverse(), payload_type, payload_length }
    }

    /// Whether the inverse version byte matches the version.
    #[must_use]
    #[inline]
    pub const fn has_valid_pattern(&self) -> bool {
        self.inverse_version == self.version.inverse()
    }

    /// Reads a header from its 8 wire bytes; never fails.
    #[must_use]
    #[inline]
    pub const fn from_bytes(b: [u8; HEADER_LEN]) -> Self {
        Self {
            version: ProtocolVersion::from_value(b[0]),
            inverse_version: b[1],
            payload_type: PayloadType::from_value(u16::from_be_bytes([b[2], b[3]])),
            payload_length: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// The 8 wire bytes of this header.
    #[must_use]
    pub const fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let t = self.payload_type.value().to_be_bytes();
        let l = self.payload_length.to_be_bytes();
        [self.version.value(), self.inverse_version, t[0], t[1], l[0], l[1], l[2], l[3]]
    }
}

/// Parses the 8-byte generic header; fails only when fewer than 8 bytes are given.
///
/// # Errors
/// `nom::Err::Error` when `input` is shorter than [`HEADER_LEN`].
pub fn parse_header(input: &[u8]) -> IResult<&[u8], Header> {
    (be_u8, be_u8, be_u16, be_u32)
        .map(|(version, inverse_version, payload_type, payload_length)| Header {
            version: version.into(),
            inverse_version,
            payload_type: payload_type.into(),
            payload_length,
        })
        .parse(input)
}

/// What a receiver accepts: supported versions, transport, size limit, unknown types.
///
/// [`HeaderPolicy::validate`] applies the checks of PROTOCOL.md §1 in the spec's order; its
/// error names the generic NACK to answer ([`Error::nack_code`]) and whether to close
/// ([`Error::closes_connection`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderPolicy {
    transport: Transport,
    /// Bit `v` set: protocol version `v` is supported.
    versions: [u64; 4],
    max_payload_length: u32,
    accept_unknown_payload_types: bool,
}

impl HeaderPolicy {
    /// Accepts versions 0x01–0x04, payloads up to [`DEFAULT_MAX_PAYLOAD_LENGTH`], and answers
    /// reserved or vendor payload types with NACK 0x01.
    #[must_use]
    pub const fn new(transport: Transport) -> Self {
        let mut versions = [0; 4];
        versions[0] = 0b1_1110; // 0x01..=0x04
        Self {
            transport,
            versions,
            max_payload_length: DEFAULT_MAX_PAYLOAD_LENGTH,
            accept_unknown_payload_types: false,
        }
    }

    /// [`HeaderPolicy::new`] for TCP_DATA.
    #[must_use]
    pub const fn tcp() -> Self {
        Self::new(Transport::Tcp)
    }

    /// [`HeaderPolicy::new`] for UDP_DISCOVERY.
    #[must_use]
    pub const fn udp() -> Self {
        Self::new(Transport::Udp)
    }

    /// Only these versions are supported (0xFF is always allowed where the spec allows it).
    #[must_use]
    pub fn with_supported_versions(mut self, versions: &[ProtocolVersion]) -> Self {
        self.versions = [0; 4];
        for v in versions {
            let v = v.value();
            self.versions[usize::from(v / 64)] |= 1 << (v % 64);
        }
        self
    }

    /// Largest payload accepted; longer ones get NACK 0x02 and are skipped.
    #[must_use]
    pub const fn with_max_payload_length(mut self, max: u32) -> Self {
        self.max_payload_length = max;
        self
    }

    /// Whether reserved and vendor payload types are delivered as raw messages (`true`, what a
    /// tester or capture reader wants) or answered with NACK 0x01 (`false`, an entity's default).
    #[must_use]
    pub const fn with_unknown_payload_types(mut self, accept: bool) -> Self {
        self.accept_unknown_payload_types = accept;
        self
    }

    /// The transport this policy checks for.
    #[must_use]
    pub const fn transport(&self) -> Transport {
        self.transport
    }

    /// The largest payload accepted.
    #[must_use]
    pub const fn max_payload_length(&self) -> u32 {
        self.max_payload_length
    }

    /// Whether `version` is supported.
    #[must_use]
    #[inline]
    pub const fn supports_version(&self, version: ProtocolVersion) -> bool {
        let v = version.value();
        self.versions[(v / 64) as usize] & (1 << (v % 64)) != 0
    }

    /// Applies the header checks of PROTOCOL.md §1 except the free-memory check.
    ///
    /// # Errors
    /// The first failed check, in the spec's order.
    #[inline]
    pub const fn validate(&self, header: &Header) -> Result<(), Error> {
        self.validate_with_free_memory(header, usize::MAX)
    }

    /// Applies every header check of PROTOCOL.md §1, with `free_memory` bytes currently free
    /// for payloads (check 4, NACK 0x03).
    ///
    /// # Errors
    /// The first failed check, in the spec's order.
    #[inline]
    pub const fn validate_with_free_memory(
        &self,
        header: &Header,
        free_memory: usize,
    ) -> Result<(), Error> {
        let payload_type = header.payload_type;
        let length = header.payload_length;
        // 1. pattern: inverse byte and version.
        if !header.has_valid_pattern() {
            return Err(Error::IncorrectPatternFormat {
                version: header.version.value(),
                inverse_version: header.inverse_version,
            });
        }
        let version_ok = if matches!(header.version, ProtocolVersion::VehicleIdentificationDefault)
        {
            payload_type.allows_default_version()
        } else {
            self.supports_version(header.version)
        };
        if !version_ok {
            return Err(Error::UnsupportedVersion { version: header.version, payload_type });
        }
        // 2. payload type known and allowed on this transport.
        if !payload_type.is_named() && !self.accept_unknown_payload_types {
            return Err(Error::UnknownPayloadType { payload_type, length });
        }
        if !payload_type.allowed_on(self.transport) {
            return Err(Error::PayloadTypeNotAllowed {
                payload_type,
                length,
                transport: self.transport,
            });
        }
        // 3. larger than we can ever process.
        if length > self.max_payload_length {
            return Err(Error::MessageTooLarge {
                payload_type,
                length,
                max: self.max_payload_length,
            });
        }
        // 4. larger than the memory free right now.
        if length as usize > free_memory {
            return Err(Error::OutOfMemory { payload_type, length, free: free_memory });
        }
        // 5. length fits the payload type.
        let expected = payload_type.length_rule_for(header.version);
        if !expected.accepts(length) {
            return Err(Error::InvalidPayloadLength { payload_type, length, expected });
        }
        Ok(())
    }
}

impl Default for HeaderPolicy {
    /// [`HeaderPolicy::tcp`].
    fn default() -> Self {
        Self::tcp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(bytes: [u8; 8]) -> Header {
        Header::from_bytes(bytes)
    }

    #[test]
    fn parse_matches_from_bytes_and_round_trips() {
        let raw = [0x02, 0xfd, 0x80, 0x01, 0, 0, 0, 6];
        let (rest, h) = parse_header(&raw).expect("8 bytes");
        assert!(rest.is_empty());
        assert_eq!(h, header(raw));
        assert_eq!(h, Header::new(ProtocolVersion::Iso2012, PayloadType::DiagnosticMessage, 6));
        assert_eq!(h.to_bytes(), raw);
        assert!(parse_header(&raw[..7]).is_err());
    }

    #[test]
    fn every_version_and_payload_type_round_trips() {
        for v in 0..=u8::MAX {
            assert_eq!(ProtocolVersion::from(v).value(), v);
        }
        for t in 0..=u16::MAX {
            let pt = PayloadType::from(t);
            assert_eq!(pt.value(), t);
            assert_eq!(
                pt.is_named(),
                !matches!(pt, PayloadType::Reserved(_) | PayloadType::VendorSpecific(_))
            );
        }
        let named = (0..=u16::MAX).filter(|&t| PayloadType::from(t).is_named()).count();
        assert_eq!(named, 16, "PROTOCOL.md §2 names 16 payload types");
        assert!(matches!(PayloadType::from(0xF010), PayloadType::VendorSpecific(0xF010)));
        assert!(matches!(PayloadType::from(0x8004), PayloadType::Reserved(0x8004)));
    }

    #[test]
    fn checks_run_in_the_spec_order() {
        let tcp = HeaderPolicy::tcp().with_max_payload_length(100);
        // Bad inverse byte wins over everything else.
        let e =
            tcp.validate(&header([0x02, 0x00, 0x12, 0x34, 0xff, 0xff, 0xff, 0xff])).unwrap_err();
        assert_eq!(e.nack_code(), Some(GenericNackCode::IncorrectPatternFormat));
        assert!(e.closes_connection());
        // Unsupported version.
        let e = tcp.validate(&header([0x05, 0xfa, 0x80, 0x01, 0, 0, 0, 5])).unwrap_err();
        assert!(matches!(e, Error::UnsupportedVersion { .. }));
        // 0xFF only for identification requests.
        let e = tcp.validate(&header([0xff, 0x00, 0x80, 0x01, 0, 0, 0, 5])).unwrap_err();
        assert_eq!(e.nack_code(), Some(GenericNackCode::IncorrectPatternFormat));
        // Unknown type before size.
        let e =
            tcp.validate(&header([0x02, 0xfd, 0x12, 0x34, 0xff, 0xff, 0xff, 0xff])).unwrap_err();
        assert_eq!(e.nack_code(), Some(GenericNackCode::UnknownPayloadType));
        assert!(!e.closes_connection());
        // UDP-only type on TCP.
        let e = tcp.validate(&header([0x02, 0xfd, 0x00, 0x01, 0, 0, 0, 0])).unwrap_err();
        assert!(matches!(e, Error::PayloadTypeNotAllowed { transport: Transport::Tcp, .. }));
        // Too large before wrong length.
        let e = tcp.validate(&header([0x02, 0xfd, 0x00, 0x07, 0, 0, 1, 0])).unwrap_err();
        assert_eq!(e.nack_code(), Some(GenericNackCode::MessageTooLarge));
        // Out of memory.
        let h = header([0x02, 0xfd, 0x80, 0x01, 0, 0, 0, 50]);
        let e = tcp.validate_with_free_memory(&h, 49).unwrap_err();
        assert_eq!(e.nack_code(), Some(GenericNackCode::OutOfMemory));
        assert!(tcp.validate_with_free_memory(&h, 50).is_ok());
        // Wrong length for type.
        let e = tcp.validate(&header([0x02, 0xfd, 0x00, 0x05, 0, 0, 0, 8])).unwrap_err();
        assert_eq!(e.nack_code(), Some(GenericNackCode::InvalidPayloadLength));
        assert!(e.closes_connection());
    }

    #[test]
    fn version_1_routing_activation_requests_have_2_byte_activation_types() {
        let tcp = HeaderPolicy::tcp();
        for (version, ok, bad) in [(0x01, [8, 12], [7, 11]), (0x02, [7, 11], [8, 12])] {
            for (lengths, accepted) in [(ok, true), (bad, false)] {
                for length in lengths {
                    let h = header([version, !version, 0x00, 0x05, 0, 0, 0, length]);
                    assert_eq!(tcp.validate(&h).is_ok(), accepted, "{h:?}");
                }
            }
        }
        let v1 = ProtocolVersion::Iso2010;
        assert_eq!(
            PayloadType::RoutingActivationRequest.length_rule_for(v1),
            LengthRule::Either(8, 12)
        );
        // Only the request differs in version 0x01.
        assert_eq!(
            PayloadType::RoutingActivationResponse.length_rule_for(v1),
            PayloadType::RoutingActivationResponse.length_rule()
        );
    }

    #[test]
    fn version_ff_is_fine_for_identification_requests_over_udp() {
        let udp = HeaderPolicy::udp();
        assert!(udp.validate(&header([0xff, 0x00, 0x00, 0x01, 0, 0, 0, 0])).is_ok());
        assert!(udp.validate(&header([0xff, 0x00, 0x00, 0x03, 0, 0, 0, 17])).is_ok());
        assert!(udp.validate(&header([0xff, 0x00, 0x40, 0x01, 0, 0, 0, 0])).is_err());
    }

    #[test]
    fn supported_versions_are_configurable() {
        let p = HeaderPolicy::tcp().with_supported_versions(&[ProtocolVersion::Iso2019]);
        assert!(p.supports_version(ProtocolVersion::Iso2019));
        assert!(!p.supports_version(ProtocolVersion::Iso2012));
        let p = HeaderPolicy::tcp().with_supported_versions(&[ProtocolVersion::from(0xC8)]);
        assert!(p.supports_version(ProtocolVersion::from(0xC8)));
    }

    #[test]
    fn vendor_types_pass_when_accepted() {
        let p = HeaderPolicy::tcp().with_unknown_payload_types(true);
        assert!(p.validate(&header([0x02, 0xfd, 0xf0, 0x10, 0, 0, 0, 3])).is_ok());
        assert!(
            HeaderPolicy::tcp().validate(&header([0x02, 0xfd, 0xf0, 0x10, 0, 0, 0, 3])).is_err()
        );
    }
}
