//! The simulator over real loopback sockets: testers built on doip-transport, and raw
//! `std::net` sockets where the tester must misbehave.
#![allow(clippy::unwrap_used)] // test helpers fail loudly

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use doip_proto::{
    ActivationType, AliveCheckRequest, DiagnosticMessage, DiagnosticNackCode, EntityStatusRequest,
    Frame, LogicalAddress, Message, ProtocolVersion, RoutingActivationRequest,
    RoutingActivationResponseCode as Code, VehicleIdentificationRequest,
    VehicleIdentificationRequestWithEid, VehicleIdentificationRequestWithVin,
};
use doip_sim::{Confirmation, Faults, PendingReply, SimConfig, SimHandle, Simulator};
use doip_transport::{Blocking, ConnectOptions, Error, Handle};

const TESTER: LogicalAddress = LogicalAddress(0x0E00);
const GATEWAY: LogicalAddress = LogicalAddress(0x4010);
const ENGINE: LogicalAddress = LogicalAddress(0x4011);

fn start(config: &SimConfig) -> SimHandle {
    Simulator::new(config).unwrap().spawn().unwrap()
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

fn bytes(m: &Message<'_>) -> Vec<u8> {
    m.to_bytes(ProtocolVersion::Iso2012).unwrap()
}

/// A raw tester socket for cases the transport would not produce.
struct Raw(TcpStream);

impl Raw {
    fn connect(addr: SocketAddr) -> Self {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Self(s)
    }

    fn send(&mut self, m: &Message<'_>) {
        self.0.write_all(&bytes(m)).unwrap();
    }

    fn recv(&mut self) -> Frame<'static> {
        let mut head = [0u8; 8];
        self.0.read_exact(&mut head).unwrap();
        let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let mut all = head.to_vec();
        all.resize(8 + len, 0);
        self.0.read_exact(&mut all[8..]).unwrap();
        Frame::parse(&all).unwrap().0.into_owned()
    }

    fn activate(&mut self, sa: LogicalAddress) -> Code {
        self.send(&RoutingActivationRequest::new(sa).into());
        activation_code(&self.recv())
    }

    /// Whether the entity closed the socket (EOF or reset within 5 s).
    fn closed(&mut self) -> bool {
        let mut b = [0u8; 64];
        loop {
            match self.0.read(&mut b) {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    }
}

fn activation_code(frame: &Frame<'_>) -> Code {
    match &frame.message {
        Message::RoutingActivationResponse(r) => r.response_code,
        other => panic!("expected a routing activation response, got {other}"),
    }
}

/// A tester on doip-transport with routing activated.
fn tester(sim: &SimHandle, background: bool) -> (Blocking, Handle) {
    let mut t = if background { Blocking::spawn() } else { Blocking::new() }.unwrap();
    let h = t.connect(sim.tcp, ConnectOptions::default()).unwrap();
    t.send(h, &RoutingActivationRequest::new(TESTER).into()).unwrap();
    assert_eq!(activation_code(&t.recv_frame(h, deadline()).unwrap()), Code::Success);
    (t, h)
}

/// Sends a UDS request and returns the ECU's answer after checking the ACK.
fn uds(t: &mut Blocking, h: Handle, target: LogicalAddress, request: &[u8]) -> Vec<u8> {
    t.send(h, &DiagnosticMessage::new(TESTER, target, request.to_vec()).into()).unwrap();
    let ack = t.recv_frame(h, deadline()).unwrap();
    assert!(matches!(ack.message, Message::DiagnosticMessagePositiveAck(_)), "{}", ack.message);
    answer(t, h)
}

fn answer(t: &mut Blocking, h: Handle) -> Vec<u8> {
    match t.recv_frame(h, deadline()).unwrap().message {
        Message::DiagnosticMessage(m) => m.user_data.to_vec(),
        other => panic!("expected a UDS answer, got {other}"),
    }
}

fn udp(sim: &SimHandle, request: &Message<'_>) -> Option<Frame<'static>> {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    // Version 0xFF is allowed on identification requests only.
    let version = if request.payload_type().allows_default_version() {
        ProtocolVersion::VehicleIdentificationDefault
    } else {
        ProtocolVersion::Iso2012
    };
    s.send_to(&request.to_bytes(version).unwrap(), sim.udp).unwrap();
    let mut buf = [0u8; 128];
    let (n, _) = s.recv_from(&mut buf).ok()?;
    Some(Frame::parse(&buf[..n]).unwrap().0.into_owned())
}

#[test]
fn identification_answers_all_three_kinds_and_only_on_a_match() {
    let sim = start(&SimConfig::for_tests());
    let answer = udp(&sim, &VehicleIdentificationRequest.into()).unwrap();
    let Message::VehicleAnnouncement(a) = answer.message else { panic!("{}", answer.message) };
    assert_eq!(a.vin.to_string(), "WDOIPRS0000000001");
    assert_eq!(a.logical_address, GATEWAY);
    assert_eq!(
        answer.header.version,
        ProtocolVersion::Iso2012,
        "answers carry the entity's version"
    );
    assert!(udp(&sim, &VehicleIdentificationRequestWithEid::new(a.eid).into()).is_some());
    assert!(udp(&sim, &VehicleIdentificationRequestWithVin::new(a.vin).into()).is_some());
    let other_vin = "WDOIPRS9999999999".parse().unwrap();
    assert!(udp(&sim, &VehicleIdentificationRequestWithVin::new(other_vin).into()).is_none());
    let other_eid = "02:00:00:00:99:99".parse().unwrap();
    assert!(udp(&sim, &VehicleIdentificationRequestWithEid::new(other_eid).into()).is_none());
}

#[test]
fn version_ff_outside_identification_gets_nack_0x00() {
    let sim = start(&SimConfig::for_tests());
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let request = Message::from(EntityStatusRequest)
        .to_bytes(ProtocolVersion::VehicleIdentificationDefault)
        .unwrap();
    s.send_to(&request, sim.udp).unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = s.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], [0x02, 0xfd, 0, 0, 0, 0, 0, 1, 0x00]);
}

#[test]
fn entity_status_and_power_mode_over_udp_and_tcp() {
    let sim = start(&SimConfig::for_tests());
    let status = udp(&sim, &EntityStatusRequest.into()).unwrap();
    assert!(matches!(status.message, Message::EntityStatusResponse(s) if s.max_open_sockets == 4));
    let power = udp(&sim, &doip_proto::DiagnosticPowerModeRequest.into()).unwrap();
    assert!(
        matches!(power.message, Message::DiagnosticPowerModeResponse(p) if p.power_mode == doip_proto::PowerMode::Ready)
    );
    let mut raw = Raw::connect(sim.tcp);
    raw.send(&EntityStatusRequest.into());
    let status = raw.recv();
    assert!(
        matches!(status.message, Message::EntityStatusResponse(s) if s.currently_open_sockets == 1)
    );
    raw.send(&doip_proto::DiagnosticPowerModeRequest.into());
    assert!(matches!(raw.recv().message, Message::DiagnosticPowerModeResponse(_)));
}

#[test]
fn announcements_are_sent_three_times_at_start_up() {
    let listener = UdpSocket::bind("127.0.0.1:0").unwrap();
    listener.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut config = SimConfig::for_tests();
    config.announce.to = Some(listener.local_addr().unwrap());
    config.announce.interval_ms = 50;
    let _sim = start(&config);
    let mut buf = [0u8; 64];
    let started = Instant::now();
    for _ in 0..3 {
        let (n, _) = listener.recv_from(&mut buf).unwrap();
        assert!(matches!(
            Frame::parse(&buf[..n]).unwrap().0.message,
            Message::VehicleAnnouncement(_)
        ));
    }
    assert!(started.elapsed() >= Duration::from_millis(90), "spaced by the interval");
    listener.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    assert!(listener.recv_from(&mut buf).is_err(), "exactly three");
}

#[test]
fn uds_services_through_routing() {
    let sim = start(&SimConfig::for_tests());
    let (mut t, h) = tester(&sim, false);
    assert_eq!(uds(&mut t, h, GATEWAY, &[0x3E, 0x00]), [0x7E, 0x00]);
    let mut vin = vec![0x62, 0xF1, 0x90];
    vin.extend_from_slice(b"WDOIPRS0000000001");
    assert_eq!(uds(&mut t, h, ENGINE, &[0x22, 0xF1, 0x90]), vin);
    assert_eq!(uds(&mut t, h, ENGINE, &[0x10, 0x03])[..2], [0x50, 0x03]);
    assert_eq!(uds(&mut t, h, ENGINE, &[0x31, 0x01, 0xFF, 0x00]), [0x71, 0x01, 0xFF, 0x00, 0x00]);
    assert_eq!(uds(&mut t, h, ENGINE, &[0x19, 0x01, 0xFF]), [0x59, 0x01, 0xFF, 0x01, 0x00, 0x03]);
    assert_eq!(uds(&mut t, h, ENGINE, &[0x86, 0x00]), [0x7F, 0x86, 0x11]);
}

#[test]
fn flash_download_reports_the_crc_of_what_arrived() {
    let sim = start(&SimConfig::for_tests());
    let (mut t, h) = tester(&sim, false);
    let image: Vec<u8> =
        (0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let size = u32::try_from(image.len()).unwrap().to_be_bytes();
    let request = [&[0x34, 0x00, 0x44, 0, 0, 0, 0][..], &size].concat();
    assert_eq!(uds(&mut t, h, ENGINE, &request), [0x74, 0x20, 0x0F, 0xFF]);
    for (i, block) in image.chunks(4093).enumerate() {
        let counter = u8::try_from((i + 1) % 256).unwrap();
        assert_eq!(
            uds(&mut t, h, ENGINE, &[&[0x36, counter][..], block].concat()),
            [0x76, counter]
        );
    }
    let crc = crc32(&image).to_be_bytes();
    assert_eq!(uds(&mut t, h, ENGINE, &[0x37]), [0x77, crc[0], crc[1], crc[2], crc[3]]);
}

/// CRC-32 (IEEE), written out here so the test does not share the simulator's code.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn functional_requests_are_answered_by_every_ecu() {
    let sim = start(&SimConfig::for_tests());
    let (mut t, h) = tester(&sim, false);
    t.send(h, &DiagnosticMessage::new(TESTER, LogicalAddress(0xE400), vec![0x3E, 0x00]).into())
        .unwrap();
    assert!(matches!(
        t.recv_frame(h, deadline()).unwrap().message,
        Message::DiagnosticMessagePositiveAck(_)
    ));
    let mut sources: Vec<u16> = (0..3)
        .map(|_| match t.recv_frame(h, deadline()).unwrap().message {
            Message::DiagnosticMessage(m) => {
                assert_eq!(&*m.user_data, [0x7E, 0x00]);
                m.source_address.0
            }
            other => panic!("{other}"),
        })
        .collect();
    sources.sort_unstable();
    assert_eq!(sources, [0x4010, 0x4011, 0x4012]);
}

#[test]
fn response_pending_precedes_a_slow_answer() {
    let mut config = SimConfig::for_tests();
    config.ecus[1].pending = vec![PendingReply { service: 0x31, count: 2, interval_ms: 30 }];
    let sim = start(&config);
    let (mut t, h) = tester(&sim, false);
    assert_eq!(uds(&mut t, h, ENGINE, &[0x31, 0x01, 0xFF, 0x00]), [0x7F, 0x31, 0x78]);
    assert_eq!(answer(&mut t, h), [0x7F, 0x31, 0x78]);
    assert_eq!(answer(&mut t, h), [0x71, 0x01, 0xFF, 0x00, 0x00]);
}

#[test]
fn ecu_reset_drops_connections_and_is_unavailable_for_a_while() {
    let sim = start(&SimConfig::for_tests());
    let (mut t, h) = tester(&sim, false);
    assert_eq!(uds(&mut t, h, GATEWAY, &[0x11, 0x01]), [0x51, 0x01]);
    assert!(matches!(t.recv_frame(h, deadline()), Err(Error::ClosedByPeer { .. })));
    assert!(TcpStream::connect(sim.tcp).is_err(), "refused while resetting");
    std::thread::sleep(Duration::from_millis(400));
    let (mut t, h) = tester(&sim, false);
    assert_eq!(uds(&mut t, h, GATEWAY, &[0x3E, 0x00]), [0x7E, 0x00]);
}

#[test]
fn activation_refusals_follow_the_spec() {
    let mut config = SimConfig::for_tests();
    config.routing.tls_required_types = vec![0xE0];
    let sim = start(&config);
    // 0x00: unknown source address, then the socket closes.
    let mut raw = Raw::connect(sim.tcp);
    assert_eq!(raw.activate(LogicalAddress(0x1234)), Code::UnknownSourceAddress);
    assert!(raw.closed());
    // 0x06: unsupported activation type.
    let mut raw = Raw::connect(sim.tcp);
    raw.send(
        &RoutingActivationRequest::new(TESTER)
            .with_activation_type(ActivationType::from(0x42))
            .into(),
    );
    assert_eq!(activation_code(&raw.recv()), Code::UnsupportedActivationType);
    assert!(raw.closed());
    // 0x07: the type needs TLS.
    let mut raw = Raw::connect(sim.tcp);
    raw.send(
        &RoutingActivationRequest::new(TESTER)
            .with_activation_type(ActivationType::CentralSecurity)
            .into(),
    );
    assert_eq!(activation_code(&raw.recv()), Code::TlsRequired);
    assert!(raw.closed());
    // 0x02: another source address on a registered socket.
    let mut raw = Raw::connect(sim.tcp);
    assert_eq!(raw.activate(TESTER), Code::Success);
    assert_eq!(raw.activate(TESTER), Code::Success, "again with the same address is fine");
    assert_eq!(raw.activate(LogicalAddress(0x0E01)), Code::SourceAddressMismatch);
    assert!(raw.closed());
}

#[test]
fn authentication_and_confirmation_flows() {
    let mut config = SimConfig::for_tests();
    config.routing.authentication_key = Some("c0ffee00".into());
    let sim = start(&config);
    let mut raw = Raw::connect(sim.tcp);
    assert_eq!(raw.activate(TESTER), Code::MissingAuthentication);
    raw.send(
        &RoutingActivationRequest::new(TESTER).with_oem_specific([0xC0, 0xFF, 0xEE, 0x00]).into(),
    );
    assert_eq!(activation_code(&raw.recv()), Code::Success, "the socket stayed open after 0x04");

    let mut config = SimConfig::for_tests();
    config.routing.confirmation = Some(Confirmation { delay_ms: 150, accept: true });
    let sim = start(&config);
    let mut raw = Raw::connect(sim.tcp);
    assert_eq!(raw.activate(TESTER), Code::ConfirmationRequired);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(raw.activate(TESTER), Code::Success);

    let mut config = SimConfig::for_tests();
    config.routing.confirmation = Some(Confirmation { delay_ms: 0, accept: false });
    let sim = start(&config);
    let mut raw = Raw::connect(sim.tcp);
    assert_eq!(raw.activate(TESTER), Code::RejectedConfirmation);
    assert!(raw.closed());
}

#[test]
fn an_address_active_elsewhere_is_checked_with_an_alive_check() {
    let mut config = SimConfig::for_tests();
    config.timing.alive_check_ms = 200;
    let sim = start(&config);
    // The first tester's transport answers alive checks in the background: 0x03 for the second.
    let (_first, _h) = tester(&sim, true);
    let mut second = Raw::connect(sim.tcp);
    assert_eq!(second.activate(TESTER), Code::SourceAddressAlreadyActive);
    assert!(second.closed());
    // A silent socket holding the address is closed and the address moves.
    let mut silent = Raw::connect(sim.tcp);
    assert_eq!(silent.activate(LogicalAddress(0x0E05)), Code::Success);
    let mut newcomer = Raw::connect(sim.tcp);
    assert_eq!(newcomer.activate(LogicalAddress(0x0E05)), Code::Success);
    let check = silent.recv();
    assert!(matches!(check.message, Message::AliveCheckRequest(_)), "{}", check.message);
    assert!(silent.closed());
}

#[test]
fn when_every_socket_is_taken_alive_checks_decide() {
    let mut config = SimConfig::for_tests();
    config.identity.max_sockets = 1;
    config.timing.alive_check_ms = 200;
    let sim = start(&config);
    let first = tester(&sim, true);
    let mut second = Raw::connect(sim.tcp);
    assert_eq!(second.activate(LogicalAddress(0x0E01)), Code::AllSocketsRegistered);
    assert!(second.closed());
    drop(first);
    // A silent holder loses its slot.
    let sim2 = {
        let mut config = SimConfig::for_tests();
        config.identity.max_sockets = 1;
        config.timing.alive_check_ms = 200;
        start(&config)
    };
    let mut silent = Raw::connect(sim2.tcp);
    assert_eq!(silent.activate(TESTER), Code::Success);
    let mut newcomer = Raw::connect(sim2.tcp);
    assert_eq!(newcomer.activate(LogicalAddress(0x0E01)), Code::Success);
    assert!(silent.closed());
}

#[test]
fn diagnostic_nacks() {
    let mut config = SimConfig::for_tests();
    config.identity.max_data_size = 64;
    let sim = start(&config);
    let nack = |raw: &mut Raw| match raw.recv().message {
        Message::DiagnosticMessageNegativeAck(n) => n.code,
        other => panic!("expected a NACK, got {other}"),
    };
    // Before activation: 0x02 and close.
    let mut raw = Raw::connect(sim.tcp);
    raw.send(&DiagnosticMessage::new(TESTER, GATEWAY, vec![0x3E, 0x00]).into());
    assert_eq!(nack(&mut raw), DiagnosticNackCode::InvalidSourceAddress);
    assert!(raw.closed());
    let mut raw = Raw::connect(sim.tcp);
    assert_eq!(raw.activate(TESTER), Code::Success);
    raw.send(&DiagnosticMessage::new(TESTER, LogicalAddress(0x4999), vec![0x3E, 0x00]).into());
    assert_eq!(nack(&mut raw), DiagnosticNackCode::UnknownTargetAddress);
    raw.send(&DiagnosticMessage::new(TESTER, GATEWAY, vec![0x36; 65]).into());
    assert_eq!(nack(&mut raw), DiagnosticNackCode::DiagnosticMessageTooLarge);
    // Another source address than the registered one: 0x02 and close.
    raw.send(&DiagnosticMessage::new(LogicalAddress(0x0E01), GATEWAY, vec![0x3E, 0x00]).into());
    assert_eq!(nack(&mut raw), DiagnosticNackCode::InvalidSourceAddress);
    assert!(raw.closed());
}

#[test]
fn inactivity_timers_close_sockets() {
    let mut config = SimConfig::for_tests();
    config.timing.initial_inactivity_ms = 150;
    config.timing.general_inactivity_ms = 300;
    let sim = start(&config);
    let started = Instant::now();
    let mut idle = Raw::connect(sim.tcp);
    assert!(idle.closed());
    assert!(started.elapsed() >= Duration::from_millis(140));
    let mut active = Raw::connect(sim.tcp);
    assert_eq!(active.activate(TESTER), Code::Success);
    // Traffic restarts the general timer.
    std::thread::sleep(Duration::from_millis(200));
    active.send(&DiagnosticMessage::new(TESTER, GATEWAY, vec![0x3E, 0x80]).into());
    assert!(matches!(active.recv().message, Message::DiagnosticMessagePositiveAck(_)));
    let quiet_from = Instant::now();
    assert!(active.closed());
    assert!(quiet_from.elapsed() >= Duration::from_millis(250), "{:?}", quiet_from.elapsed());
}

#[test]
fn bad_headers_get_the_spec_nack() {
    let sim = start(&SimConfig::for_tests());
    let mut raw = Raw::connect(sim.tcp);
    raw.0.write_all(&[0x02, 0xfd, 0x12, 0x34, 0, 0, 0, 2, 0xaa, 0xbb]).unwrap();
    assert!(matches!(raw.recv().message, Message::GenericNack(n) if n.code.value() == 0x01));
    raw.0.write_all(&[0x03, 0xfc, 0x80, 0x01, 0, 0, 0, 4, 0x0e, 0, 0x40, 0x10]).unwrap();
    assert!(matches!(raw.recv().message, Message::GenericNack(n) if n.code.value() == 0x00));
    assert!(raw.closed());
}

fn faulty(faults: Faults) -> (SimHandle, Blocking, Handle) {
    let mut config = SimConfig::for_tests();
    config.faults = faults;
    let sim = start(&config);
    let (t, h) = tester(&sim, false);
    (sim, t, h)
}

#[test]
fn fault_drop_and_delay_acks_and_responses() {
    let (_sim, mut t, h) = faulty(Faults { drop_ack: true, ..Faults::default() });
    t.send(h, &DiagnosticMessage::new(TESTER, GATEWAY, vec![0x3E, 0x00]).into()).unwrap();
    assert_eq!(answer(&mut t, h), [0x7E, 0x00], "the answer comes without an ACK");

    let (_sim, mut t, h) =
        faulty(Faults { ack_delay_ms: 200, response_delay_ms: 100, ..Faults::default() });
    let sent = Instant::now();
    t.send(h, &DiagnosticMessage::new(TESTER, GATEWAY, vec![0x3E, 0x00]).into()).unwrap();
    assert_eq!(answer(&mut t, h), [0x7E, 0x00], "the answer overtakes the delayed ACK");
    assert!(sent.elapsed() >= Duration::from_millis(90));
    assert!(matches!(
        t.recv_frame(h, deadline()).unwrap().message,
        Message::DiagnosticMessagePositiveAck(_)
    ));
    assert!(sent.elapsed() >= Duration::from_millis(190));

    let (_sim, mut t, h) = faulty(Faults { drop_response: true, ..Faults::default() });
    t.send(h, &DiagnosticMessage::new(TESTER, GATEWAY, vec![0x3E, 0x00]).into()).unwrap();
    assert!(matches!(
        t.recv_frame(h, deadline()).unwrap().message,
        Message::DiagnosticMessagePositiveAck(_)
    ));
    let short = Instant::now() + Duration::from_millis(200);
    assert!(matches!(t.recv_frame(h, short), Err(Error::Timeout { .. })));
}

#[test]
fn fault_close_after_messages() {
    let (_sim, mut t, h) = faulty(Faults { close_after_messages: Some(2), ..Faults::default() });
    // Message 1 was the activation; message 2 is answered, then the connection closes.
    assert_eq!(uds(&mut t, h, GATEWAY, &[0x3E, 0x00]), [0x7E, 0x00]);
    assert!(matches!(t.recv_frame(h, deadline()), Err(Error::ClosedByPeer { .. })));
}

#[test]
fn fault_one_byte_segments_still_decode() {
    let (_sim, mut t, h) = faulty(Faults { one_byte_segments: true, ..Faults::default() });
    let mut vin = vec![0x62, 0xF1, 0x90];
    vin.extend_from_slice(b"WDOIPRS0000000001");
    assert_eq!(uds(&mut t, h, ENGINE, &[0x22, 0xF1, 0x90]), vin);
}

#[test]
fn fault_unsolicited_alive_checks() {
    let mut config = SimConfig::for_tests();
    config.faults.alive_check_interval_ms = Some(50);
    let sim = start(&config);
    let mut raw = Raw::connect(sim.tcp);
    assert_eq!(raw.activate(TESTER), Code::Success);
    for _ in 0..3 {
        assert!(matches!(raw.recv().message, Message::AliveCheckRequest(_)));
    }
    // A transport tester answers them and keeps working meanwhile.
    drop(raw);
    let (mut t, h) = tester(&sim, false);
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(uds(&mut t, h, GATEWAY, &[0x3E, 0x00]), [0x7E, 0x00]);
}

#[test]
fn fault_malformed_header_and_hostile_length() {
    let cases = [
        (Faults { malformed_header: true, ..Faults::default() }, 0x00),
        (Faults { hostile_length: true, ..Faults::default() }, 0x02),
    ];
    for (faults, nack) in cases {
        let (_sim, mut t, h) = faulty(faults);
        t.send(h, &DiagnosticMessage::new(TESTER, GATEWAY, vec![0x3E, 0x00]).into()).unwrap();
        let ack = t.recv_frame(h, deadline()).unwrap();
        assert!(matches!(ack.message, Message::DiagnosticMessagePositiveAck(_)));
        match t.recv_frame(h, deadline()) {
            Err(Error::Protocol { source, .. }) => {
                assert_eq!(source.nack_code().map(doip_proto::GenericNackCode::value), Some(nack));
            }
            other => panic!("expected a refused header, got {other:?}"),
        }
    }
}

#[test]
fn faults_switch_at_run_time_per_tester() {
    let sim = start(&SimConfig::for_tests());
    let (mut t, h) = tester(&sim, false);
    sim.set_faults(Some(TESTER), Faults { drop_response: true, ..Faults::default() });
    std::thread::sleep(Duration::from_millis(50));
    t.send(h, &DiagnosticMessage::new(TESTER, GATEWAY, vec![0x3E, 0x00]).into()).unwrap();
    assert!(matches!(
        t.recv_frame(h, deadline()).unwrap().message,
        Message::DiagnosticMessagePositiveAck(_)
    ));
    assert!(t.recv_frame(h, Instant::now() + Duration::from_millis(200)).is_err());
    sim.set_faults(Some(TESTER), Faults::default());
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(uds(&mut t, h, GATEWAY, &[0x3E, 0x00]), [0x7E, 0x00]);
}

#[test]
fn testers_may_ask_the_entity_for_an_alive_check() {
    let sim = start(&SimConfig::for_tests());
    let mut raw = Raw::connect(sim.tcp);
    raw.send(&AliveCheckRequest.into());
    assert!(
        matches!(raw.recv().message, Message::AliveCheckResponse(r) if r.source_address == GATEWAY)
    );
}

#[test]
fn toml_configuration() {
    let config = SimConfig::from_toml(
        r#"
        bind = "127.0.0.1"
        tcp_port = 0
        udp_port = 0
        [identity]
        vin = "TOMLVIN0000000042"
        logical_address = "0x1000"
        [[ecus]]
        name = "only"
        logical_address = "0x1001"
        dids = { "0x0102" = "0a0b" }
        "#,
    )
    .unwrap();
    let sim = start(&config);
    let (mut t, h) = tester(&sim, false);
    assert_eq!(
        uds(&mut t, h, LogicalAddress(0x1001), &[0x22, 0x01, 0x02]),
        [0x62, 0x01, 0x02, 0x0a, 0x0b]
    );
    assert!(SimConfig::from_toml("unknown_field = 1").is_err());
    assert!(Simulator::new(&SimConfig::from_toml("[identity]\nvin = \"short\"").unwrap()).is_err());
}

/// Users plug their own ECU behaviour in through `UdsHandler`.
#[test]
fn a_custom_uds_handler_answers() {
    struct Echo;
    impl doip_sim::UdsHandler for Echo {
        fn handle(&mut self, request: &[u8]) -> doip_sim::UdsReply {
            doip_sim::UdsReply::Respond([&[request[0] + 0x40][..], &request[1..]].concat())
        }
    }
    let mut sim = Simulator::new(&SimConfig::for_tests()).unwrap();
    sim.set_ecu(LogicalAddress(0x4020), "echo", Box::new(Echo));
    let sim = sim.spawn().unwrap();
    let (mut t, h) = tester(&sim, false);
    assert_eq!(
        uds(&mut t, h, LogicalAddress(0x4020), &[0x2E, 0x01, 0x02, 0x03]),
        [0x6E, 0x01, 0x02, 0x03]
    );
}
