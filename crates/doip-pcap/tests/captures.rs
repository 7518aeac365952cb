//! The captures under `tests/data/`: generated here from typed messages, checked byte for
//! byte (`DOIP_BLESS=1 cargo test -p doip-pcap --test captures` rewrites them), and decoded.
#![allow(clippy::unwrap_used)] // test fixtures

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use doip_pcap::synth::{CaptureWriter, Format, SESSION_START, TcpConnection, udp_frame};
use doip_pcap::{CaptureError, Content, DecodeOptions, Event, StreamError, decode_capture};
use doip_proto::{
    ActivationType, AliveCheckRequest, AliveCheckResponse, DiagnosticAckCode, DiagnosticMessage,
    DiagnosticMessageNegativeAck, DiagnosticMessagePositiveAck, DiagnosticNackCode,
    DiagnosticPowerModeRequest, DiagnosticPowerModeResponse, Eid, EntityStatusRequest,
    EntityStatusResponse, FurtherAction, GenericNack, GenericNackCode, Gid, LogicalAddress,
    Message, NodeType, PayloadType, PowerMode, ProtocolVersion, RoutingActivationRequest,
    RoutingActivationResponse, RoutingActivationResponseCode, SyncStatus, VehicleAnnouncement,
    VehicleIdentificationRequest, VehicleIdentificationRequestWithEid,
    VehicleIdentificationRequestWithVin, Vin,
};

const V2: ProtocolVersion = ProtocolVersion::Iso2012;
const TESTER: LogicalAddress = LogicalAddress(0x0E00);
const GATEWAY: LogicalAddress = LogicalAddress(0x4010);
const ENGINE: LogicalAddress = LogicalAddress(0x4011);
const VIN: Vin = Vin(*b"WDOIPRS0000000001");
const EID: Eid = Eid([0x02, 0x00, 0x00, 0x00, 0x40, 0x10]);
const GID: Gid = Gid([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data")
}

fn bytes(message: impl Into<Message<'static>>, version: ProtocolVersion) -> Vec<u8> {
    message.into().to_bytes(version).unwrap()
}

fn announcement(sync: bool) -> VehicleAnnouncement {
    VehicleAnnouncement {
        vin: VIN,
        logical_address: GATEWAY,
        eid: EID,
        gid: GID,
        further_action: FurtherAction::NoFurtherActionRequired,
        sync_status: sync.then_some(SyncStatus::Synchronized),
    }
}

fn diag(source: LogicalAddress, target: LogicalAddress, data: &[u8]) -> Vec<u8> {
    bytes(DiagnosticMessage::new(source, target, data.to_vec()), V2)
}

/// A capture under construction: a clock that advances 1 ms per packet.
struct Recorder {
    out: CaptureWriter<Vec<u8>>,
    clock: Duration,
}

impl Recorder {
    fn new(format: Format) -> Self {
        let out = CaptureWriter::new(Vec::new(), format).unwrap();
        Self { out, clock: Duration::from_secs(SESSION_START) }
    }

    fn put(&mut self, frame: &[u8]) {
        self.clock += Duration::from_micros(1250);
        self.out.packet(self.clock, frame).unwrap();
    }

    fn udp(&mut self, src: SocketAddr, dst: SocketAddr, payload: &[u8]) {
        self.put(&udp_frame(src, dst, payload).unwrap());
    }

    fn tcp(&mut self, c: &mut TcpConnection, from_tester: bool, payload: &[u8]) {
        self.put(&c.send(from_tester, payload).unwrap());
    }

    fn open(&mut self, c: &mut TcpConnection) {
        for f in c.open().unwrap() {
            self.put(&f);
        }
    }

    fn close(&mut self, c: &mut TcpConnection) {
        self.put(&c.close(true).unwrap());
        self.put(&c.close(false).unwrap());
    }

    fn finish(self) -> Vec<u8> {
        self.out.into_inner()
    }
}

/// Every UDP payload type in both directions.
fn discovery(r: &mut Recorder, tester: SocketAddr, entity: SocketAddr, broadcast: SocketAddr) {
    let any = ProtocolVersion::VehicleIdentificationDefault;
    r.udp(tester, broadcast, &bytes(VehicleIdentificationRequest, any));
    r.udp(entity, tester, &bytes(announcement(true), V2));
    r.udp(tester, entity, &bytes(VehicleIdentificationRequestWithEid::new(EID), any));
    r.udp(entity, tester, &bytes(announcement(false), V2));
    r.udp(tester, entity, &bytes(VehicleIdentificationRequestWithVin::new(VIN), any));
    r.udp(entity, tester, &bytes(announcement(true), V2));
    r.udp(tester, entity, &bytes(EntityStatusRequest, V2));
    let status = EntityStatusResponse {
        node_type: NodeType::Gateway,
        max_open_sockets: 4,
        currently_open_sockets: 1,
        max_data_size: Some(0x0001_0000),
    };
    r.udp(entity, tester, &bytes(status, V2));
    let short = EntityStatusResponse { max_data_size: None, ..status };
    r.udp(entity, tester, &bytes(short, V2));
    r.udp(tester, entity, &bytes(DiagnosticPowerModeRequest, V2));
    r.udp(entity, tester, &bytes(DiagnosticPowerModeResponse::new(PowerMode::Ready), V2));
    // A 2019 entity answering an unknown payload type.
    r.udp(tester, entity, &bytes(Message::unknown(PayloadType::from(0x4005), vec![]), V2));
    r.udp(entity, tester, &bytes(GenericNack::new(GenericNackCode::UnknownPayloadType), V2));
}

/// Every TCP payload type, messages split across segments and several per segment.
fn session(r: &mut Recorder, c: &mut TcpConnection) {
    r.open(c);
    let activate = RoutingActivationRequest::new(TESTER);
    r.tcp(c, true, &bytes(activate, V2));
    let ok = RoutingActivationResponseCode::Success;
    r.tcp(c, false, &bytes(RoutingActivationResponse::new(TESTER, GATEWAY, ok), V2));
    // The 11- and 13-byte forms with OEM data, and a denial.
    let oem = activate.with_activation_type(ActivationType::from(0xE0)).with_oem_specific(*b"OEM1");
    r.tcp(c, true, &bytes(oem, V2));
    let mut answer = RoutingActivationResponse::new(TESTER, GATEWAY, ok);
    answer.oem_specific = Some(*b"OEM2");
    r.tcp(c, false, &bytes(answer, V2));
    // ReadDataByIdentifier F190: request, ACK with a copy of the request, answer.
    let request = DiagnosticMessage::new(TESTER, ENGINE, vec![0x22, 0xF1, 0x90]);
    r.tcp(c, true, &bytes(request.clone(), V2));
    let ack = DiagnosticMessagePositiveAck::new(&request, DiagnosticAckCode::Acknowledged)
        .with_previous_message(vec![0x22, 0xF1, 0x90]);
    let mut answer = vec![0x62, 0xF1, 0x90];
    answer.extend_from_slice(VIN.as_bytes());
    // ACK and answer in one segment, as our simulator sends them.
    r.tcp(c, false, &[bytes(ack, V2), diag(ENGINE, TESTER, &answer)].concat());
    // TesterPresent split inside its header, then inside its payload.
    let present = diag(TESTER, ENGINE, &[0x3E, 0x00]);
    r.tcp(c, true, &present[..5]);
    r.tcp(c, true, &present[5..10]);
    r.tcp(c, true, &present[10..]);
    let present_ack = DiagnosticMessagePositiveAck::new(
        &DiagnosticMessage::new(TESTER, ENGINE, vec![0x3E, 0x00]),
        DiagnosticAckCode::Acknowledged,
    );
    r.tcp(c, false, &[bytes(present_ack, V2), diag(ENGINE, TESTER, &[0x7E, 0x00])].concat());
    // A 4 KiB TransferData block in MSS-sized segments.
    let mut block = vec![0x36, 0x01];
    block.extend((0..4093u32).map(|i| (i * 7) as u8));
    let transfer = diag(TESTER, ENGINE, &block);
    for chunk in transfer.chunks(1460) {
        r.tcp(c, true, chunk);
    }
    let unknown = DiagnosticMessage::new(TESTER, LogicalAddress(0x4099), vec![0x3E, 0x00]);
    let nack =
        DiagnosticMessageNegativeAck::new(&unknown, DiagnosticNackCode::UnknownTargetAddress);
    r.tcp(c, true, &bytes(unknown, V2));
    r.tcp(c, false, &bytes(nack, V2));
    // The entity checks the tester is alive; a vendor message; a NACK over TCP.
    r.tcp(c, false, &bytes(AliveCheckRequest, V2));
    r.tcp(c, true, &bytes(AliveCheckResponse::new(TESTER), V2));
    r.tcp(c, true, &bytes(Message::unknown(PayloadType::from(0xF010), vec![1, 2, 3, 4]), V2));
    r.tcp(c, false, &bytes(GenericNack::new(GenericNackCode::UnknownPayloadType), V2));
    // Entity status and power mode over TCP, as doipclient sends them.
    r.tcp(c, true, &bytes(EntityStatusRequest, V2));
    r.tcp(c, true, &bytes(DiagnosticPowerModeRequest, V2));
    r.close(c);
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Every capture under `tests/data/`, by file name.
fn captures() -> Vec<(&'static str, Vec<u8>)> {
    let tester4 = addr("192.168.0.100:50123");
    let entity4 = addr("192.168.0.10:13400");
    let mut udp = Recorder::new(Format::Pcap);
    discovery(&mut udp, tester4, entity4, addr("255.255.255.255:13400"));

    let mut tcp = Recorder::new(Format::Pcap);
    session(&mut tcp, &mut TcpConnection::new(addr("192.168.0.100:50124"), entity4));

    let mut v6 = Recorder::new(Format::PcapNg);
    let tester6 = addr("[fd00::100]:50125");
    let entity6 = addr("[fd00::10]:13400");
    discovery(&mut v6, tester6, entity6, addr("[ff02::1]:13400"));
    session(&mut v6, &mut TcpConnection::new(addr("[fd00::100]:50126"), entity6));

    // DoIP over TLS: records only (handshake, application data, alert).
    let mut tls = Recorder::new(Format::Pcap);
    let mut c = TcpConnection::new(addr("192.168.0.100:50127"), addr("192.168.0.10:3496"));
    tls.open(&mut c);
    let hello = [&[0x16, 0x03, 0x01, 0x00, 0x30][..], &[0x01; 0x30]].concat();
    tls.tcp(&mut c, true, &hello);
    tls.tcp(&mut c, false, &[&[0x16, 0x03, 0x03, 0x00, 0x40][..], &[0x02; 0x40]].concat());
    // Application data that, in clear, would look like a DoIP header.
    let data = [&[0x17, 0x03, 0x03, 0x00, 0x10][..], &[0x02, 0xFD, 0x80, 0x01], &[0; 12]].concat();
    tls.tcp(&mut c, true, &data[..3]);
    tls.tcp(&mut c, true, &data[3..]);
    tls.tcp(&mut c, false, &[0x15, 0x03, 0x03, 0x00, 0x02, 0x01, 0x00]);
    tls.close(&mut c);

    // Malformed traffic: each frame is reported and decoding goes on.
    let mut bad = Recorder::new(Format::Pcap);
    bad.udp(tester4, entity4, &[0x02, 0xFD, 0x00, 0x01, 0, 0, 0]); // datagram cut inside the header
    bad.udp(tester4, entity4, &[0x02, 0xFC, 0x00, 0x01, 0, 0, 0, 0]); // wrong inverse version
    bad.udp(tester4, entity4, &[0x02, 0xFD, 0x40, 0x01, 0, 0, 0, 2, 0, 0]); // length wrong for type
    bad.udp(tester4, entity4, &[0x02, 0xFD, 0x40, 0x03, 0, 0, 0, 4]); // datagram shorter than announced
    bad.udp(entity4, tester4, &bytes(DiagnosticPowerModeResponse::new(PowerMode::NotReady), V2));
    let mut c = TcpConnection::new(addr("192.168.0.100:50128"), entity4);
    bad.open(&mut c);
    bad.tcp(&mut c, true, &bytes(RoutingActivationRequest::new(TESTER), V2));
    // Routing activation response of 8 bytes (9 or 13 allowed), then garbage, then a valid
    // alive check response the decoder finds again.
    bad.tcp(
        &mut c,
        false,
        &[0x02, 0xFD, 0x00, 0x06, 0, 0, 0, 8, 0x0E, 0, 0x40, 0x10, 0x10, 0, 0, 0],
    );
    let mut junk = vec![0xAA; 5];
    junk.extend(bytes(AliveCheckResponse::new(TESTER), V2));
    bad.tcp(&mut c, true, &junk);
    // A 4 GiB length announcement, skipped without buffering, then the stream ends.
    bad.tcp(&mut c, false, &[0x02, 0xFD, 0x80, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x0E, 0x00]);
    bad.close(&mut c);

    vec![
        ("udp-discovery.pcap", udp.finish()),
        ("tcp-session.pcap", tcp.finish()),
        ("ipv6-session.pcapng", v6.finish()),
        ("tls-session.pcap", tls.finish()),
        ("malformed.pcap", bad.finish()),
    ]
}

#[test]
fn committed_captures_match_their_generator() {
    let bless = std::env::var_os("DOIP_BLESS").is_some();
    for (name, bytes) in captures() {
        let path = data_dir().join(name);
        if bless {
            std::fs::write(&path, &bytes).unwrap();
        }
        let committed = std::fs::read(&path).unwrap();
        assert!(committed == bytes, "{name} differs from its generator; DOIP_BLESS=1 rewrites it");
    }
}

fn decode(bytes: &[u8]) -> Vec<Event<'static>> {
    let mut events = Vec::new();
    decode_capture(bytes, DecodeOptions::default(), |e| events.push(e.clone().into_owned()))
        .unwrap();
    events
}

/// The payload types of every message decoded, refused ones included.
fn messages(events: &[Event<'static>]) -> Vec<PayloadType> {
    events
        .iter()
        .filter_map(|e| match &e.content {
            Content::Message { message, .. }
            | Content::Malformed { message: Some(message), .. } => Some(message.payload_type()),
            _ => None,
        })
        .collect()
}

/// The payload types of the messages an entity would refuse, with the NACK it would answer.
fn refused(events: &[Event<'static>]) -> Vec<(u16, Option<GenericNackCode>)> {
    events
        .iter()
        .filter_map(|e| match &e.content {
            Content::Malformed { header: Some(h), error: StreamError::Doip(error), .. } => {
                Some((h.payload_type.value(), error.nack_code()))
            }
            _ => None,
        })
        .collect()
}

fn capture(name: &str) -> Vec<u8> {
    captures().into_iter().find(|(n, _)| *n == name).unwrap().1
}

#[test]
fn every_payload_type_is_decoded_from_udp_and_tcp() {
    let mut seen: Vec<u16> = ["udp-discovery.pcap", "tcp-session.pcap"]
        .iter()
        .flat_map(|n| messages(&decode(&capture(n))))
        .map(PayloadType::value)
        .collect();
    seen.sort_unstable();
    seen.dedup();
    let expected = [
        0x0000, 0x0001, 0x0002, 0x0003, 0x0004, 0x0005, 0x0006, 0x0007, 0x0008, 0x4001, 0x4002,
        0x4003, 0x4004, 0x4005, 0x8001, 0x8002, 0x8003, 0xF010,
    ];
    assert_eq!(seen, expected);
    // The reserved and the vendor type are decoded raw, and flagged: an entity answers both
    // with NACK 0x01 (as the entity in these captures does).
    let unknown = Some(GenericNackCode::UnknownPayloadType);
    assert_eq!(refused(&decode(&capture("udp-discovery.pcap"))), [(0x4005, unknown)]);
    assert_eq!(refused(&decode(&capture("tcp-session.pcap"))), [(0xF010, unknown)]);
}

#[test]
fn split_and_coalesced_segments_give_whole_messages_at_the_completing_packet() {
    let events = decode(&capture("tcp-session.pcap"));
    // Every message is whole; only the vendor message is refused (NACK 0x01), still decoded.
    assert!(
        events.iter().all(|e| match &e.content {
            Content::Message { .. } => true,
            Content::Malformed { message: Some(m), .. } => m.payload_type().value() == 0xF010,
            _ => false,
        }),
        "{events:#?}"
    );
    // The TesterPresent split over three segments completes in the third (packets 10-12).
    let present = events
        .iter()
        .find(|e| {
            matches!(&e.content, Content::Message { message: Message::DiagnosticMessage(d), .. }
                if *d.user_data == [0x3E, 0x00] && d.target_address == ENGINE)
        })
        .unwrap();
    assert_eq!(present.packet, 12);
    // The 4 KiB block arrives whole.
    assert!(events.iter().any(|e| matches!(&e.content,
        Content::Message { message: Message::DiagnosticMessage(d), .. } if d.user_data.len() == 4095)));
    assert_eq!(events.len(), 19);
}

#[test]
fn ipv6_pcapng_decodes_like_ipv4_pcap() {
    let v4: Vec<_> = ["udp-discovery.pcap", "tcp-session.pcap"]
        .iter()
        .flat_map(|n| messages(&decode(&capture(n))))
        .collect();
    let v6 = decode(&capture("ipv6-session.pcapng"));
    assert_eq!(messages(&v6), v4);
    assert!(v6.iter().all(|e| e.src.is_ipv6() && e.time > Duration::from_secs(SESSION_START)));
}

#[test]
fn tls_records_are_reported_not_parsed() {
    let events = decode(&capture("tls-session.pcap"));
    let records: Vec<(u8, u16)> = events
        .iter()
        .map(|e| match e.content {
            Content::Tls { content_type, length, .. } => (content_type, length),
            ref other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(records, [(22, 0x30), (22, 0x40), (23, 0x10), (21, 2)]);
}

#[test]
fn malformed_frames_are_reported_and_decoding_goes_on() {
    let events = decode(&capture("malformed.pcap"));
    let summary: Vec<String> = events
        .iter()
        .map(|e| match &e.content {
            Content::Message { message, .. } => format!("{}: {}", e.packet, message.payload_type()),
            Content::Malformed { error, .. } => format!("{}: {error}", e.packet),
            Content::Tls { .. } => unreachable!(),
        })
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match &e.content {
            Content::Message { .. } => "ok",
            Content::Malformed { error: StreamError::Doip(e), .. } => match e {
                doip_proto::Error::TruncatedHeader { .. } => "truncated header",
                doip_proto::Error::IncorrectPatternFormat { .. } => "pattern",
                doip_proto::Error::InvalidPayloadLength { .. } => "length",
                doip_proto::Error::DatagramLengthMismatch { .. } => "datagram length",
                doip_proto::Error::MessageTooLarge { .. } => "too large",
                _ => "other",
            },
            Content::Malformed { error: StreamError::Unsynchronised { .. }, .. } => "resync",
            Content::Malformed { error: StreamError::Gap { .. }, .. } => "gap",
            Content::Malformed { error: StreamError::Truncated { .. }, .. } => "cut",
            Content::Malformed { .. } | Content::Tls { .. } => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "truncated header",
            "pattern",
            "length",
            "datagram length",
            "ok",
            "ok",
            "length",
            "pattern",
            "resync",
            "ok",
            "too large",
        ],
        "{summary:#?}"
    );
}

#[test]
fn capture_file_errors_are_typed() {
    let good = capture("tcp-session.pcap");
    let empty: &[u8] = &[];
    assert!(matches!(
        decode_capture(empty, DecodeOptions::default(), |_| {}),
        Err(CaptureError::Empty)
    ));
    let text: &[u8] = b"hello, this is not a capture";
    let err = decode_capture(text, DecodeOptions::default(), |_| {}).unwrap_err();
    assert!(matches!(err, CaptureError::NotACapture { ref magic } if magic == "68656c6c"), "{err}");
    // Cut inside the fifth record: four packets are delivered, then the error.
    let mut seen = 0;
    // File header, the handshake (3 × 54-byte frames), the 69-byte activation request.
    let cut = &good[..24 + 3 * (16 + 54) + (16 + 69) + 16 + 30];
    let err = decode_capture(cut, DecodeOptions::default(), |_| seen += 1).unwrap_err();
    assert!(matches!(err, CaptureError::Truncated { packets: 4 }), "{err}");
    assert_eq!(seen, 1, "the activation request before the cut is decoded");
    // A pcapng block shorter than the 12 bytes every block has (found by the pcap_reader
    // fuzz target: pcap-parser itself underflows on it), in either byte order.
    for big_endian in [false, true] {
        let u32b = |v: u32| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
        let u16b = |v: u16| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut file = Vec::new();
        for part in [&0x0A0D_0D0A_u32.to_be_bytes()[..], &u32b(28), &u32b(0x1A2B_3C4D)] {
            file.extend_from_slice(part);
        }
        for part in [&u16b(1)[..], &u16b(0), &[0xFF; 8], &u32b(28)] {
            file.extend_from_slice(part);
        }
        // A process information block (0x80000001) announcing 6 bytes.
        for part in [&u32b(0x8000_0001)[..], &u32b(6), &[0; 16]] {
            file.extend_from_slice(part);
        }
        let err = decode_capture(&file[..], DecodeOptions::default(), |_| {}).unwrap_err();
        assert!(
            matches!(err, CaptureError::Malformed { packets: 0, ref reason } if reason.contains("6 bytes")),
            "{err}"
        );
    }
}
