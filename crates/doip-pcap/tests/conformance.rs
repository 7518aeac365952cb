//! The receiver's header checks (PROTOCOL.md §1) on captured frames: a frame a DoIP entity
//! would refuse is reported with the rule and the generic NACK, its payload still decoded when
//! it parses, and decoding goes on. Byte vectors as other implementations send them.
#![allow(clippy::unwrap_used)] // test code fails loudly

use std::net::SocketAddr;
use std::time::Duration;

use doip_pcap::synth::{CaptureWriter, Format, TcpConnection, udp_frame};
use doip_pcap::{Content, DecodeOptions, Event, StreamError, decode_capture};
use doip_proto::{ActivationType, Error, GenericNackCode, Message, PayloadType};

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

const TESTER: &str = "192.168.0.100:50200";
const ENTITY: &str = "192.168.0.10:13400";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn decode(file: &[u8]) -> Vec<Event<'static>> {
    let mut events = Vec::new();
    decode_capture(file, DecodeOptions::default(), |e| events.push(e.clone().into_owned()))
        .unwrap();
    events
}

/// A TCP connection on which the tester sends each hex string in a segment of its own.
fn tcp(segments: &[&str]) -> Vec<Event<'static>> {
    let mut out = CaptureWriter::new(Vec::new(), Format::Pcap).unwrap();
    let mut c = TcpConnection::new(addr(TESTER), addr(ENTITY));
    let mut frames: Vec<Vec<u8>> = c.open().unwrap().into();
    frames.extend(segments.iter().map(|s| c.send(true, &hex(s)).unwrap()));
    frames.push(c.close(true).unwrap());
    for f in &frames {
        out.packet(Duration::from_secs(1), f).unwrap();
    }
    decode(&out.into_inner())
}

/// One UDP datagram per hex string, tester to entity.
fn udp(datagrams: &[&str]) -> Vec<Event<'static>> {
    let mut out = CaptureWriter::new(Vec::new(), Format::Pcap).unwrap();
    for d in datagrams {
        let frame = udp_frame(addr(TESTER), addr(ENTITY), &hex(d)).unwrap();
        out.packet(Duration::from_secs(1), &frame).unwrap();
    }
    decode(&out.into_inner())
}

/// A refused frame: the DoIP error, and the message still decoded, if any.
fn refusal<'e>(e: &'e Event<'static>) -> (&'e Error, Option<&'e Message<'static>>) {
    match &e.content {
        Content::Malformed { header: Some(_), message, error: StreamError::Doip(error) } => {
            (error, message.as_ref())
        }
        other => panic!("not a refused frame: {other:?}"),
    }
}

fn message<'e>(e: &'e Event<'static>) -> &'e Message<'static> {
    match &e.content {
        Content::Message { message, .. } => message,
        other => panic!("not a message: {other:?}"),
    }
}

const DIAG: &str = "8001 00000006 0e80 4010 1003";

#[test]
fn version_ff_outside_vehicle_identification_is_refused_with_nack_0x00() {
    let events = tcp(&["ff00 8001 00000006 0e80 4010 1003", &format!("02fd {DIAG}")]);
    assert_eq!(events.len(), 2, "{events:#?}");
    let (error, decoded) = refusal(&events[0]);
    assert!(matches!(error, Error::UnsupportedVersion { .. }), "{error:?}");
    assert_eq!(error.nack_code(), Some(GenericNackCode::IncorrectPatternFormat));
    assert!(error.closes_connection());
    assert!(
        error.to_string().contains("0xff is only for vehicle identification requests"),
        "{error}"
    );
    let Some(Message::DiagnosticMessage(m)) = decoded else { panic!("{decoded:?}") };
    assert_eq!(*m.user_data, [0x10, 0x03]);
    // The length field is sound: the next frame decodes.
    assert!(matches!(message(&events[1]), Message::DiagnosticMessage(_)));
}

#[test]
fn only_the_versions_the_spec_defines_are_accepted() {
    for v in [0x00u8, 0x05, 0x7F, 0xFE] {
        let events = tcp(&[&format!("{v:02x}{:02x} {DIAG}", !v)]);
        let (error, decoded) = refusal(&events[0]);
        assert!(matches!(error, Error::UnsupportedVersion { .. }), "{v:#04x}: {error:?}");
        assert_eq!(error.nack_code(), Some(GenericNackCode::IncorrectPatternFormat));
        assert!(matches!(decoded, Some(Message::DiagnosticMessage(_))), "{v:#04x}");
    }
    for v in 0x01u8..=0x04 {
        let events = tcp(&[&format!("{v:02x}{:02x} {DIAG}", !v)]);
        assert!(matches!(message(&events[0]), Message::DiagnosticMessage(_)), "{v:#04x}");
    }
}

#[test]
fn version_ff_is_fine_in_vehicle_identification_requests_only() {
    let vin = "5756575a5a5a314a5a5857303030303031"; // WVWZZZ1JZXW000001
    let events = udp(&[
        "ff00 0001 00000000",
        "ff00 0002 00000006 001a37bfee74",
        &format!("ff00 0003 00000011 {vin}"),
        "ff00 4001 00000000",
    ]);
    assert_eq!(message(&events[0]).payload_type(), PayloadType::VehicleIdentificationRequest);
    assert_eq!(message(&events[1]).payload_type().value(), 0x0002);
    assert_eq!(message(&events[2]).payload_type().value(), 0x0003);
    let (error, decoded) = refusal(&events[3]);
    assert_eq!(error.nack_code(), Some(GenericNackCode::IncorrectPatternFormat));
    assert_eq!(decoded.unwrap().payload_type(), PayloadType::EntityStatusRequest);
}

#[test]
fn a_wrong_inverse_byte_is_nack_0x00_and_the_stream_resynchronises() {
    let events = tcp(&[&format!("02fc {DIAG} 02fd 0008 00000002 0e80")]);
    let (error, decoded) = refusal(&events[0]);
    assert!(matches!(error, Error::IncorrectPatternFormat { version: 2, inverse_version: 0xFC }));
    assert_eq!(error.nack_code(), Some(GenericNackCode::IncorrectPatternFormat));
    // On TCP the length of a broken header is not trusted: nothing is decoded from it.
    assert!(decoded.is_none());
    assert!(matches!(
        events[1].content,
        Content::Malformed { error: StreamError::Unsynchronised { skipped: 13 }, .. }
    ));
    assert_eq!(message(&events[2]).payload_type(), PayloadType::AliveCheckResponse);
    // A datagram bounds its payload, so there it is decoded.
    let events = udp(&["02fc 0001 00000000"]);
    let (error, decoded) = refusal(&events[0]);
    assert_eq!(error.nack_code(), Some(GenericNackCode::IncorrectPatternFormat));
    assert!(matches!(decoded, Some(Message::VehicleIdentificationRequest(_))));
}

#[test]
fn unknown_payload_types_are_nack_0x01_and_shown_raw() {
    let events = tcp(&["02fd 1234 00000002 abcd", "02fd f010 00000001 01", "02fd 0001 00000000"]);
    for (e, payload_type) in events.iter().zip([0x1234, 0xF010]) {
        let (error, decoded) = refusal(e);
        assert!(matches!(error, Error::UnknownPayloadType { .. }), "{error:?}");
        assert_eq!(error.nack_code(), Some(GenericNackCode::UnknownPayloadType));
        assert!(!error.closes_connection());
        let Some(Message::Unknown { payload_type: t, .. }) = decoded else { panic!() };
        assert_eq!(t.value(), payload_type);
    }
    // A known type on the wrong transport: a vehicle identification request over TCP…
    let (error, decoded) = refusal(&events[2]);
    assert!(matches!(error, Error::PayloadTypeNotAllowed { .. }), "{error:?}");
    assert_eq!(error.nack_code(), Some(GenericNackCode::UnknownPayloadType));
    assert!(matches!(decoded, Some(Message::VehicleIdentificationRequest(_))));
    // …and a diagnostic message over UDP.
    let events = udp(&[&format!("02fd {DIAG}")]);
    let (error, decoded) = refusal(&events[0]);
    assert_eq!(error.nack_code(), Some(GenericNackCode::UnknownPayloadType));
    assert!(matches!(decoded, Some(Message::DiagnosticMessage(_))));
}

#[test]
fn a_length_wrong_for_the_type_is_nack_0x04_and_the_next_frame_decodes() {
    let events = tcp(&["02fd 0008 00000003 0e8000", "02fd 0008 00000002 0e80"]);
    let (error, decoded) = refusal(&events[0]);
    assert!(matches!(error, Error::InvalidPayloadLength { length: 3, .. }), "{error:?}");
    assert_eq!(error.nack_code(), Some(GenericNackCode::InvalidPayloadLength));
    assert!(error.closes_connection());
    assert!(decoded.is_none());
    assert_eq!(message(&events[1]).payload_type(), PayloadType::AliveCheckResponse);
    let events = udp(&["02fd 4004 00000002 0101"]);
    assert_eq!(refusal(&events[0]).0.nack_code(), Some(GenericNackCode::InvalidPayloadLength));
}

#[test]
fn version_1_routing_activation_requests_have_a_2_byte_activation_type() {
    let events = tcp(&[
        "01fe 0005 00000008 0e80 0001 00000000",
        "01fe 0005 0000000c 0e80 e000 00000000 deadbeef",
        "01fe 0005 00000007 0e80 00 00000000",
    ]);
    let Message::RoutingActivationRequest(r) = message(&events[0]) else { panic!() };
    assert_eq!(r.activation_type, ActivationType::WwhObd);
    let Message::RoutingActivationRequest(r) = message(&events[1]) else { panic!() };
    assert_eq!((r.activation_type_v1(), r.oem_specific), (0xE000, Some([0xde, 0xad, 0xbe, 0xef])));
    // The 7-byte form of later versions does not fit version 0x01.
    let (error, _) = refusal(&events[2]);
    assert_eq!(error.nack_code(), Some(GenericNackCode::InvalidPayloadLength));
}
