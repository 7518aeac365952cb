//! UDP discovery sockets on loopback (IPv4 and IPv6).
#![allow(clippy::unwrap_used)] // test helpers fail loudly

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::*;
use doip_proto::{
    Eid, FurtherAction, GenericNackCode, Gid, Message, ProtocolVersion, VehicleAnnouncement,
    VehicleIdentificationRequest,
};
use doip_transport::{Event, EventLoop, UdpOptions};

fn announcement() -> Message<'static> {
    VehicleAnnouncement {
        vin: "WDOIPRS0000000001".parse().unwrap(),
        logical_address: ECU,
        eid: Eid([2, 0, 0, 0, 0, 1]),
        gid: Gid([2, 0, 0, 0, 0, 2]),
        further_action: FurtherAction::NoFurtherActionRequired,
        sync_status: None,
    }
    .into()
}

/// A tester asks (version 0xFF), the entity answers unicast to the request's source.
fn identification_round_trip(any: &str, local: &str) {
    let mut lp = EventLoop::new().unwrap();
    let entity = lp.bind_udp(UdpOptions::new(any.parse().unwrap())).unwrap();
    let entity_port = lp.local_addr(entity).unwrap().port();
    let tester = lp.bind_udp(UdpOptions::new(any.parse().unwrap())).unwrap();
    let to = SocketAddr::new(local.parse().unwrap(), entity_port);
    lp.send_to_with_version(
        tester,
        to,
        ProtocolVersion::VehicleIdentificationDefault,
        &VehicleIdentificationRequest.into(),
    )
    .unwrap();
    let (event, _) = wait_for(&mut lp, deadline(5), |e| matches!(e, Event::Datagram { .. }));
    let Event::Datagram { handle, from, frame } = event else { unreachable!() };
    assert_eq!(handle, entity);
    assert_eq!(frame.header.version, ProtocolVersion::VehicleIdentificationDefault);
    assert!(matches!(frame.message, Message::VehicleIdentificationRequest(_)));
    lp.send_to(entity, from, &announcement()).unwrap();
    let (event, _) = wait_for(
        &mut lp,
        deadline(5),
        |e| matches!(e, Event::Datagram { handle, .. } if *handle == tester),
    );
    let Event::Datagram { frame, .. } = event else { unreachable!() };
    assert_eq!(frame.header.version, ProtocolVersion::Iso2012);
    assert_eq!(frame.message, announcement());
}

#[test]
fn identification_over_ipv4_loopback() {
    identification_round_trip("127.0.0.1:0", "127.0.0.1");
}

#[test]
fn identification_over_ipv6_loopback() {
    identification_round_trip("[::1]:0", "::1");
}

#[test]
fn a_malformed_datagram_is_answered_with_the_spec_nack() {
    let mut lp = EventLoop::new().unwrap();
    let entity = lp.bind_udp(UdpOptions::new("127.0.0.1:0".parse().unwrap())).unwrap();
    let addr = lp.local_addr(entity).unwrap();
    let raw = UdpSocket::bind("127.0.0.1:0").unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let cases: [(&[u8], GenericNackCode); 4] = [
        // Datagram longer than header + announced length.
        (&[0x02, 0xfd, 0x40, 0x01, 0, 0, 0, 0, 0xff], GenericNackCode::InvalidPayloadLength),
        // Diagnostic message over UDP.
        (
            &[0x02, 0xfd, 0x80, 0x01, 0, 0, 0, 5, 0x0e, 0, 0x40, 0x10, 0x3e],
            GenericNackCode::UnknownPayloadType,
        ),
        // Wrong inverse version.
        (&[0x02, 0x00, 0x00, 0x01, 0, 0, 0, 0], GenericNackCode::IncorrectPatternFormat),
        // Shorter than a header.
        (&[0x02, 0xfd, 0x00], GenericNackCode::IncorrectPatternFormat),
    ];
    for (datagram, code) in cases {
        raw.send_to(datagram, addr).unwrap();
        let (event, _) = wait_for(&mut lp, deadline(5), |e| matches!(e, Event::Refused { .. }));
        assert!(matches!(event, Event::Refused { error, .. } if error.nack_code() == Some(code)));
        let mut buf = [0u8; 64];
        let (n, _) = raw.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], [0x02, 0xfd, 0, 0, 0, 0, 0, 1, code.value()]);
    }
}

#[test]
fn two_listeners_share_a_port_with_reuse_address() {
    let mut lp = EventLoop::new().unwrap();
    let first =
        lp.bind_udp(UdpOptions::new("127.0.0.1:0".parse().unwrap()).reuse_address(true)).unwrap();
    let port = lp.local_addr(first).unwrap().port();
    let bind: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // A second program's socket on the same port (SO_REUSEADDR / SO_REUSEPORT).
    assert!(lp.bind_udp(UdpOptions::new(bind).reuse_address(true)).is_ok());
    assert!(lp.bind_udp(UdpOptions::new(bind)).is_err(), "without reuse the port is taken");
}

#[test]
fn send_to_on_a_tcp_handle_is_refused() {
    let mut lp = EventLoop::new().unwrap();
    let l = lp
        .listen("127.0.0.1:0".parse().unwrap(), doip_transport::ListenOptions::default())
        .unwrap();
    let err = lp.send_to(l, "127.0.0.1:9".parse().unwrap(), &announcement()).unwrap_err();
    assert!(matches!(err, doip_transport::Error::WrongEndpoint(_)));
}

#[test]
fn a_blocking_receive_on_udp_times_out_with_a_timeout_error() {
    let mut t = doip_transport::Blocking::new().unwrap();
    let h =
        t.call(|l| l.bind_udp(UdpOptions::new("127.0.0.1:0".parse().unwrap()))).unwrap().unwrap();
    let err = t.recv_frame(h, std::time::Instant::now() + Duration::from_millis(50)).unwrap_err();
    assert!(matches!(err, doip_transport::Error::Timeout { .. }), "{err:?}");
}
