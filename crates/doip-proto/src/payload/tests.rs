//! Example frames of PROTOCOL.md §7, and encode/decode round trips for every message type.

use alloc::vec;
use alloc::vec::Vec;

use arbitrary::{Arbitrary, Unstructured};
use proptest::prelude::*;

use super::*;
use crate::codes::*;
use crate::types::{Eid, Gid, LogicalAddress, Vin};

pub(crate) fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(core::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// Decodes `wire` as one whole frame, checks version and message, and re-encodes it.
fn check(wire: &str, version: u8, expected: impl Into<Message<'static>>) {
    let expected = expected.into();
    let bytes = hex(wire);
    let (frame, rest) = Frame::parse(&bytes).unwrap();
    assert!(rest.is_empty());
    assert!(frame.header.has_valid_pattern());
    assert_eq!(frame.header.version.value(), version);
    assert_eq!(frame.message, expected);
    let mut out = Vec::new();
    assert_eq!(frame.encode(&mut out).unwrap(), bytes.len());
    assert_eq!(out, bytes, "re-encoding differs");
    let mut slice = vec![0u8; bytes.len()];
    expected.encode_to_slice(frame.header.version, &mut slice).unwrap();
    assert_eq!(slice, bytes);
}

const A: fn(u16) -> LogicalAddress = LogicalAddress;

#[test]
fn example_1_vehicle_identification_request() {
    check("ff 00 0001 00000000", 0xFF, VehicleIdentificationRequest);
}

#[test]
fn example_2_vehicle_announcement() {
    let mac = [0x00, 0x1a, 0x37, 0xbf, 0xee, 0x74];
    check(
        "02 fd 0004 00000020 4241554e4545344d5a3137303432343033 4010 001a37bfee74 001a37bfee74 00",
        2,
        VehicleAnnouncement {
            vin: "BAUNEE4MZ17042403".parse().unwrap(),
            logical_address: A(0x4010),
            eid: Eid(mac),
            gid: Gid(mac),
            further_action: FurtherAction::NoFurtherActionRequired,
            sync_status: None,
        },
    );
}

#[test]
fn example_3_entity_status() {
    check(
        "02 fd 4002 00000007 00 01 00 00000fff",
        2,
        EntityStatusResponse {
            node_type: NodeType::Gateway,
            max_open_sockets: 1,
            currently_open_sockets: 0,
            max_data_size: Some(4095),
        },
    );
}

#[test]
fn example_4_generic_nack() {
    check("02 fd 0000 00000001 01", 2, GenericNack::new(GenericNackCode::UnknownPayloadType));
}

#[test]
fn example_5_routing_activation_requests() {
    check(
        "02 fd 0005 0000000b 0e80 00 00000000 00000000",
        2,
        RoutingActivationRequest::new(A(0x0E80)).with_oem_specific([0; 4]),
    );
    check("02 fd 0005 00000007 0e00 00 00000000", 2, RoutingActivationRequest::new(A(0x0E00)));
}

const V1: ProtocolVersion = ProtocolVersion::Iso2010;

#[test]
fn version_1_routing_activation_requests_have_a_2_byte_activation_type() {
    // As Wireshark decodes them: 8 bytes, or 12 with OEM data.
    let wwh_obd =
        RoutingActivationRequest::new(A(0x0E80)).with_activation_type(ActivationType::WwhObd);
    check("01 fe 0005 00000008 0e80 0001 00000000", 1, wwh_obd);
    check(
        "01 fe 0005 0000000c 0e80 e000 00000000 deadbeef",
        1,
        RoutingActivationRequest::new(A(0x0E80))
            .with_activation_type_v1(0xE000)
            .with_oem_specific([0xde, 0xad, 0xbe, 0xef]),
    );
    // A request sent under version 0x01 takes the 2010 layout, under 0x02 the later one.
    let m = Message::from(RoutingActivationRequest::new(A(0x0E00)));
    assert_eq!(m.to_bytes(V1).unwrap(), hex("01 fe 0005 00000008 0e00 0000 00000000"));
    assert_eq!(m.encoded_len_for(V1), 16);
    assert_eq!(m.encoded_len(), 15);
    assert_eq!(m.payload_len_for(ProtocolVersion::Iso2019), 7);
    // The 2012 lengths are wrong under version 0x01.
    let e = Frame::parse(&hex("01 fe 0005 00000007 0e00 00 00000000")).unwrap_err();
    assert_eq!(
        e,
        crate::Error::InvalidPayloadLength {
            payload_type: PayloadType::RoutingActivationRequest,
            length: 7,
            expected: crate::LengthRule::Either(8, 12),
        }
    );
    // `Message::parse` keeps the layout of 0x02 and later; `parse_for` follows the version.
    let payload = hex("0e80 0001 00000000");
    assert!(Message::parse(PayloadType::RoutingActivationRequest, &payload).is_err());
    assert_eq!(
        Message::parse_for(V1, PayloadType::RoutingActivationRequest, &payload),
        Ok(wwh_obd.into())
    );
    // Only the request differs: a version 0x01 response has the usual layout.
    check(
        "01 fe 0006 00000009 0e80 4010 10 00000000",
        1,
        RoutingActivationResponse::new(
            A(0x0E80),
            A(0x4010),
            RoutingActivationResponseCode::Success,
        ),
    );
}

#[test]
fn example_6_routing_activation_response() {
    check(
        "02 fd 0006 00000009 0e80 4010 10 00000000",
        2,
        RoutingActivationResponse::new(
            A(0x0E80),
            A(0x4010),
            RoutingActivationResponseCode::Success,
        ),
    );
}

#[test]
fn example_7_alive_check_and_power_mode() {
    check("02 fd 0007 00000000", 2, AliveCheckRequest);
    check("02 fd 0008 00000002 0e00", 2, AliveCheckResponse::new(A(0x0E00)));
    check("02 fd 4004 00000001 01", 2, DiagnosticPowerModeResponse::new(PowerMode::Ready));
}

#[test]
fn example_8_diagnostic_message() {
    check(
        "02 fd 8001 00000006 0e80 4010 10 03",
        2,
        DiagnosticMessage::new(A(0x0E80), A(0x4010), &[0x10, 0x03][..]),
    );
}

#[test]
fn example_9_diagnostic_nack() {
    let request = DiagnosticMessage::new(A(0x0E80), A(0x4010), &[][..]);
    check(
        "02 fd 8003 00000008 4010 0e80 02 22f101",
        2,
        DiagnosticMessageNegativeAck::new(&request, DiagnosticNackCode::InvalidSourceAddress)
            .with_previous_message(&[0x22, 0xf1, 0x01][..]),
    );
}

#[test]
fn example_10_diagnostic_ack() {
    check(
        "02 fd 8002 00000007 0008 000e 00 1001",
        2,
        DiagnosticAcknowledgement {
            source_address: A(0x0008),
            target_address: A(0x000E),
            code: DiagnosticAckCode::Acknowledged,
            previous_message: vec![0x10, 0x01].into(),
        },
    );
}

#[test]
fn requests_with_eid_and_vin_and_empty_requests() {
    let vin: Vin = "WVWZZZ1JZXW000001".parse().unwrap();
    let mut wire = hex("ff 00 0003 00000011");
    wire.extend_from_slice(vin.as_bytes());
    let (frame, _) = Frame::parse(&wire).unwrap();
    assert_eq!(frame.message, VehicleIdentificationRequestWithVin::new(vin).into());
    check(
        "ff 00 0002 00000006 001a37bfee74",
        0xFF,
        VehicleIdentificationRequestWithEid::new(Eid([0x00, 0x1a, 0x37, 0xbf, 0xee, 0x74])),
    );
    check("02 fd 4001 00000000", 2, EntityStatusRequest);
    check("02 fd 4003 00000000", 2, DiagnosticPowerModeRequest);
}

#[test]
fn optional_fields_follow_the_length() {
    check(
        "02 fd 0004 00000021 4241554e4545344d5a3137303432343033 4010 001a37bfee74 001a37bfee74 10 10",
        2,
        VehicleAnnouncement {
            vin: "BAUNEE4MZ17042403".parse().unwrap(),
            logical_address: A(0x4010),
            eid: Eid([0x00, 0x1a, 0x37, 0xbf, 0xee, 0x74]),
            gid: Gid([0x00, 0x1a, 0x37, 0xbf, 0xee, 0x74]),
            further_action: FurtherAction::RoutingActivationRequired,
            sync_status: Some(SyncStatus::Incomplete),
        },
    );
    check(
        "02 fd 4002 00000003 01 04 02",
        2,
        EntityStatusResponse {
            node_type: NodeType::Node,
            max_open_sockets: 4,
            currently_open_sockets: 2,
            max_data_size: None,
        },
    );
    check(
        "02 fd 0006 0000000d 0e80 4010 11 00000000 deadbeef",
        2,
        RoutingActivationResponse {
            oem_specific: Some([0xde, 0xad, 0xbe, 0xef]),
            ..RoutingActivationResponse::new(
                A(0x0E80),
                A(0x4010),
                RoutingActivationResponseCode::ConfirmationRequired,
            )
        },
    );
}

#[test]
fn vendor_frame_is_kept_raw() {
    check(
        "02 fd f010 00000003 010203",
        2,
        Message::unknown(PayloadType::from(0xF010), vec![1, 2, 3]),
    );
    check("02 fd 1234 00000000", 2, Message::unknown(PayloadType::from(0x1234), vec![]));
}

#[test]
fn wrong_lengths_name_nack_0x04() {
    for (wire, payload_type) in [
        ("02 fd 0005 00000008 0e80 00 00000000 00", 0x0005),
        ("02 fd 0004 0000001f", 0x0004),
        ("02 fd 4002 00000004 00 01 00 00", 0x4002),
        ("02 fd 8001 00000003 0e80 40", 0x8001),
        ("02 fd 8002 00000004 0e80 4010", 0x8002),
        ("02 fd 0000 00000000", 0x0000),
        ("02 fd 0007 00000001 00", 0x0007),
    ] {
        let mut bytes = hex(wire);
        let declared = u32::from_be_bytes(bytes[4..8].try_into().unwrap()) as usize;
        bytes.resize(8 + declared, 0);
        let e = Frame::parse(&bytes).unwrap_err();
        assert!(
            matches!(e, crate::Error::InvalidPayloadLength { payload_type: t, .. } if t.value() == payload_type),
            "{wire}: {e:?}"
        );
        assert_eq!(e.nack_code(), Some(GenericNackCode::InvalidPayloadLength));
        assert!(e.closes_connection());
    }
}

#[test]
fn incomplete_frames_say_how_much_is_missing() {
    let bytes = hex("02 fd 8001 00000006 0e80 4010 10");
    assert_eq!(Frame::parse(&bytes[..3]).unwrap_err(), crate::Error::Incomplete { needed: 5 });
    assert_eq!(Frame::parse(&bytes).unwrap_err(), crate::Error::Incomplete { needed: 1 });
}

#[test]
fn encoding_checks_the_buffer() {
    let m: Message<'_> = AliveCheckResponse::new(A(0x0E00)).into();
    let mut small = [0u8; 9];
    assert_eq!(
        m.encode_to_slice(ProtocolVersion::Iso2012, &mut small),
        Err(crate::Error::BufferTooSmall { needed: 10, available: 9 })
    );
    let mut out = vec![0xAA];
    m.encode(ProtocolVersion::Iso2019, &mut out).unwrap();
    assert_eq!(out, hex("aa 03 fc 0008 00000002 0e00"));
}

#[test]
fn into_owned_detaches_from_input() {
    let owned: Message<'static> = {
        let bytes = hex("02 fd 8001 00000006 0e80 4010 3e 00");
        let (frame, _) = Frame::parse(&bytes).unwrap();
        frame.message.into_owned()
    };
    assert_eq!(owned, DiagnosticMessage::new(A(0x0E80), A(0x4010), vec![0x3e, 0x00]).into());
}

/// An arbitrary message made one whose encoding under any version decodes back to it:
/// `Unknown` only with an unnamed payload type (a named one decodes as its typed message), and
/// no version 0x01 activation type high byte (only version 0x01 sends it; see
/// `version_1_requests_round_trip` for those).
pub(crate) fn canonical(m: Message<'_>) -> Option<Message<'_>> {
    match m {
        Message::Unknown { payload_type, .. } if payload_type.is_named() => None,
        Message::RoutingActivationRequest(r) => {
            Some(RoutingActivationRequest { activation_type_high: 0, ..r }.into())
        }
        m => Some(m),
    }
}

pub(crate) fn arbitrary_message() -> impl Strategy<Value = Message<'static>> {
    proptest::collection::vec(any::<u8>(), 0..256).prop_filter_map("non-canonical", |bytes| {
        canonical(Message::arbitrary(&mut Unstructured::new(&bytes)).ok()?.into_owned())
    })
}

/// The generator behind the property tests reaches every payload type, so "every message
/// type round-trips" is tested, not assumed.
#[test]
fn arbitrary_messages_cover_every_payload_type() {
    let mut seen = alloc::collections::BTreeSet::new();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..5000 {
        let bytes: Vec<u8> = (0..64)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        if let Some(m) = Message::arbitrary(&mut Unstructured::new(&bytes)).ok().and_then(canonical)
        {
            seen.insert(m.payload_type().value());
        }
    }
    for t in (0..=u16::MAX).filter(|&t| PayloadType::from(t).is_named()) {
        assert!(seen.contains(&t), "payload type {t:#06x} never generated");
    }
    assert!(seen.iter().any(|&t| !PayloadType::from(t).is_named()), "no vendor/reserved type");
}

proptest! {
    #[test]
    fn encode_then_decode_is_identity(m in arbitrary_message(), v in any::<u8>()) {
        let version = ProtocolVersion::from(v);
        let wire = m.to_bytes(version).unwrap();
        prop_assert_eq!(wire.len(), m.encoded_len_for(version));
        let (frame, rest) = Frame::parse(&wire).unwrap();
        prop_assert!(rest.is_empty());
        prop_assert_eq!(frame.header, m.header(version).unwrap());
        prop_assert_eq!(frame.message, m);
    }

    #[test]
    fn version_1_requests_round_trip(
        source in any::<u16>(),
        activation_type in any::<u16>(),
        reserved in any::<u32>(),
        oem in proptest::option::of(any::<[u8; 4]>()),
    ) {
        let request = RoutingActivationRequest {
            reserved,
            oem_specific: oem,
            ..RoutingActivationRequest::new(A(source)).with_activation_type_v1(activation_type)
        };
        prop_assert_eq!(request.activation_type_v1(), activation_type);
        let m = Message::from(request);
        let wire = m.to_bytes(V1).unwrap();
        prop_assert_eq!(wire.len(), m.encoded_len_for(V1));
        prop_assert_eq!(wire.len(), 16 + if oem.is_some() { 4 } else { 0 });
        prop_assert_eq!(&wire[10..12], &activation_type.to_be_bytes()[..]);
        let (frame, rest) = Frame::parse(&wire).unwrap();
        prop_assert!(rest.is_empty());
        prop_assert_eq!(frame.header, m.header(V1).unwrap());
        prop_assert_eq!(&frame.message, &m);
        // Later versions send the low byte only.
        let later = m.to_bytes(ProtocolVersion::Iso2019).unwrap();
        let (frame, _) = Frame::parse(&later).unwrap();
        let Message::RoutingActivationRequest(later) = frame.message else { panic!() };
        prop_assert_eq!(later.activation_type_v1(), activation_type & 0xFF);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_frame_parser(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut input = &bytes[..];
        while let Ok((frame, rest)) = Frame::parse(input) {
            let _ = frame.message.encoded_len();
            input = rest;
        }
    }
}
