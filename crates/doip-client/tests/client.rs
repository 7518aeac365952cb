//! The tester API against the simulator on loopback.
#![allow(clippy::unwrap_used)] // test helpers fail loudly

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{builder, start, vin_answer};
use doip_client::{ClientBuilder, Discovery, Error, TlsClient, TransportKind};
use doip_proto::{
    ActivationType, DiagnosticNackCode, LogicalAddress, Message, NodeType, PayloadType, PowerMode,
    ProtocolVersion, RoutingActivationRequest, RoutingActivationResponseCode as Code,
};
use doip_sim::{Faults, PendingReply, SimConfig};

const GATEWAY: LogicalAddress = LogicalAddress(0x4010);
const ENGINE: LogicalAddress = LogicalAddress(0x4011);
const VIN: &str = "WDOIPRS0000000001";

#[test]
fn connect_activate_and_read_the_vin() {
    let sim = start(&SimConfig::for_tests());
    let mut client = builder(&sim, ENGINE).connect().unwrap();
    client.send_diagnostic(&[0x22, 0xF1, 0x90]).unwrap();
    assert_eq!(client.receive_diagnostic(Duration::from_secs(2)).unwrap(), vin_answer());
    assert_eq!(client.request(ENGINE, &[0x10, 0x03]).unwrap()[..2], [0x50, 0x03]);
    let counters = client.counters();
    assert!(counters.frames_sent >= 3 && counters.frames_received >= 5, "{counters:?}");
    client.close().unwrap();
}

#[test]
fn activation_failures_are_typed_errors() {
    let mut config = SimConfig::for_tests();
    config.routing.known_testers = vec!["0x0E00-0x0E7F".into()];
    let sim = start(&config);
    match builder(&sim, GATEWAY).client_logical_address(LogicalAddress(0x0E80)).connect() {
        Err(Error::ActivationDenied { code, .. }) => assert_eq!(code, Code::UnknownSourceAddress),
        other => panic!("{other:?}"),
    }
    match builder(&sim, GATEWAY).activation_type(Some(ActivationType::from(0x42))).connect() {
        Err(Error::ActivationDenied { code, .. }) => {
            assert_eq!(code, Code::UnsupportedActivationType);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        builder(&sim, GATEWAY).client_logical_address(LogicalAddress(0x1234)).connect(),
        Err(Error::InvalidTesterAddress(_))
    ));
    // Skipping activation leaves routing inactive: the entity refuses diagnostics with 0x02.
    let mut raw = builder(&sim, GATEWAY).activation_type(None).connect().unwrap();
    match raw.send_diagnostic(&[0x3E, 0x00]) {
        Err(Error::DiagnosticNack { code, .. }) => {
            assert_eq!(code, DiagnosticNackCode::InvalidSourceAddress);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn diagnostic_nacks_name_the_code() {
    let sim = start(&SimConfig::for_tests());
    let mut client = builder(&sim, GATEWAY).connect().unwrap();
    match client.request(LogicalAddress(0x4999), &[0x3E, 0x00]) {
        Err(Error::DiagnosticNack { code, target, .. }) => {
            assert_eq!(code, DiagnosticNackCode::UnknownTargetAddress);
            assert_eq!(target, LogicalAddress(0x4999));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(client.counters().nacks, 1);
    assert!(matches!(client.send_diagnostic(&[]), Err(Error::EmptyPayload)));
    // The connection is still usable.
    assert_eq!(client.request(GATEWAY, &[0x3E, 0x00]).unwrap(), [0x7E, 0x00]);
}

#[test]
fn entity_status_power_mode_alive_check_and_identification() {
    let sim = start(&SimConfig::for_tests());
    let mut client = builder(&sim, GATEWAY).connect().unwrap();
    let status = client.request_entity_status().unwrap();
    assert_eq!(status.node_type, NodeType::Gateway);
    assert_eq!(status.currently_open_sockets, 1);
    assert_eq!(client.request_diagnostic_power_mode().unwrap().power_mode, PowerMode::Ready);
    assert_eq!(client.request_alive_check().unwrap().source_address, GATEWAY);
    let a = client.request_vehicle_identification(None, None).unwrap();
    assert_eq!(a.vin.to_string(), VIN);
    assert_eq!(client.request_vehicle_identification(Some(a.eid), None).unwrap(), a);
    assert_eq!(client.request_vehicle_identification(None, Some(a.vin)).unwrap(), a);
    let other_vin = "WDOIPRS9999999999".parse().unwrap();
    let r = client.request_vehicle_identification(None, Some(other_vin));
    assert!(matches!(r, Err(Error::Timeout { .. })), "{r:?}");
}

#[test]
fn messages_arriving_while_waiting_for_something_else_are_queued() {
    let sim = start(&SimConfig::for_tests());
    let mut client = builder(&sim, GATEWAY).connect().unwrap();
    client.send_diagnostic_to(ENGINE, &[0x22, 0xF1, 0x90]).unwrap();
    // The UDS answer arrives while we wait for the alive check response: kept, not lost.
    client.request_alive_check().unwrap();
    // receive_diagnostic takes this client's ECU (the gateway) only, as doipclient does; the
    // engine's answer waits for the any-ECU reception.
    assert!(matches!(
        client.receive_diagnostic(Duration::from_millis(100)),
        Err(Error::Timeout { .. })
    ));
    assert_eq!(
        client.receive_diagnostic_from_any(Duration::from_secs(2)).unwrap(),
        (ENGINE, vin_answer())
    );
    // Raw messages both ways.
    let status: Message<'_> = doip_proto::EntityStatusRequest.into();
    client.send_doip_message(&status, TransportKind::Tcp, false).unwrap();
    let frame = client.read_doip(Duration::from_secs(2), TransportKind::Tcp).unwrap();
    assert!(matches!(frame.message, Message::EntityStatusResponse(_)));
    client.send_doip_message(&status, TransportKind::Udp, false).unwrap();
    let frame = client.read_doip(Duration::from_secs(2), TransportKind::Udp).unwrap();
    assert!(matches!(frame.message, Message::EntityStatusResponse(_)));
    // send_doip: payload type and bytes, header added.
    client
        .send_doip(PayloadType::DiagnosticPowerModeRequest, &[], TransportKind::Udp, true)
        .unwrap();
    let frame = client.read_doip(Duration::from_secs(2), TransportKind::Udp).unwrap();
    assert!(matches!(frame.message, Message::DiagnosticPowerModeResponse(_)));
    let counters = client.counters();
    assert!(
        counters.bytes_sent > 0 && counters.bytes_received > counters.bytes_sent,
        "{counters:?}"
    );
    // Two answers nobody reads: empty_rxqueue drops exactly those, and then nothing is left.
    client.send_diagnostic_to(ENGINE, &[0x3E, 0x00]).unwrap();
    client.send_diagnostic(&[0x3E, 0x00]).unwrap();
    client.request_alive_check().unwrap(); // both answers have arrived by now (same socket, in order)
    assert_eq!(client.empty_rxqueue().unwrap(), 2);
    assert!(matches!(
        client.read_doip(Duration::from_millis(100), TransportKind::Tcp),
        Err(Error::Timeout { .. })
    ));
    // A blocking client leaves nothing unsent between calls.
    assert_eq!(client.empty_txqueue().unwrap(), 0);
}

#[test]
fn the_alive_check_is_answered_during_a_long_receive() {
    let mut config = SimConfig::for_tests();
    config.timing.alive_check_ms = 300;
    let sim = start(&config);
    // No background thread: the answer must come from inside the blocked receive.
    let mut client = builder(&sim, GATEWAY).background(false).connect().unwrap();
    let sim_tcp = sim.tcp;
    let intruder = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        let mut s = TcpStream::connect(sim_tcp).unwrap();
        s.write_all(
            &Message::from(RoutingActivationRequest::new(LogicalAddress(0x0E00)))
                .to_bytes(ProtocolVersion::Iso2012)
                .unwrap(),
        )
        .unwrap();
        let mut answer = [0u8; 17];
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.read_exact(&mut answer).unwrap();
        answer[12]
    });
    assert!(matches!(
        client.receive_diagnostic(Duration::from_millis(800)),
        Err(Error::Timeout { .. })
    ));
    assert_eq!(intruder.join().unwrap(), 0x03, "our client answered the entity's alive check");
}

#[test]
fn auto_reconnect_after_an_ecu_reset() {
    let sim = start(&SimConfig::for_tests());
    let mut client = builder(&sim, GATEWAY).auto_reconnect_tcp(true).connect().unwrap();
    assert_eq!(client.request(GATEWAY, &[0x11, 0x01]).unwrap(), [0x51, 0x01]);
    // The entity dropped the connection and is unreachable for 200 ms; the next request
    // reconnects, re-activates and succeeds.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(client.request(GATEWAY, &[0x3E, 0x00]).unwrap(), [0x7E, 0x00]);
    assert_eq!(client.counters().reconnects, 1);
    drop(client); // frees tester address 0x0E00 (a live holder would get 0x03)
    // Without auto-reconnect the same sequence is an error naming the closed connection.
    let mut plain = builder(&sim, GATEWAY).connect().unwrap();
    assert_eq!(plain.request(GATEWAY, &[0x11, 0x01]).unwrap(), [0x51, 0x01]);
    std::thread::sleep(Duration::from_millis(50));
    assert!(matches!(plain.request(GATEWAY, &[0x3E, 0x00]), Err(Error::Transport(_))));
}

#[test]
fn functional_requests_collect_every_answer() {
    let sim = start(&SimConfig::for_tests());
    let mut client = builder(&sim, GATEWAY).connect().unwrap();
    let mut answers = client
        .functional_request(LogicalAddress(0xE400), &[0x3E, 0x00], Duration::from_millis(300))
        .unwrap();
    answers.sort();
    assert_eq!(
        answers,
        [
            (GATEWAY, vec![0x7E, 0x00]),
            (ENGINE, vec![0x7E, 0x00]),
            (LogicalAddress(0x4012), vec![0x7E, 0x00])
        ]
    );
}

#[test]
fn request_waits_through_response_pending() {
    let mut config = SimConfig::for_tests();
    config.ecus[1].pending = vec![PendingReply { service: 0x31, count: 3, interval_ms: 150 }];
    let sim = start(&config);
    // P2 of 100 ms alone would time out; each 7F 31 78 extends by P2* (1 s).
    let mut client = builder(&sim, GATEWAY)
        .uds_timing(Duration::from_millis(100), Duration::from_secs(1))
        .connect()
        .unwrap();
    let started = Instant::now();
    assert_eq!(
        client.request(ENGINE, &[0x31, 0x01, 0xFF, 0x00]).unwrap(),
        [0x71, 0x01, 0xFF, 0x00, 0x00]
    );
    assert!(started.elapsed() >= Duration::from_millis(400));
    // Without a pending answer, P2 expires.
    let mut config = SimConfig::for_tests();
    config.faults = Faults { response_delay_ms: 300, ..Faults::default() };
    let sim = start(&config);
    let mut client = builder(&sim, GATEWAY)
        .uds_timing(Duration::from_millis(100), Duration::from_secs(1))
        .connect()
        .unwrap();
    assert!(matches!(client.request(GATEWAY, &[0x3E, 0x00]), Err(Error::Timeout { .. })));
}

#[test]
fn discovery_collects_every_responder() {
    // Two entities sharing one UDP port on all loopback addresses; the request goes to the
    // loopback broadcast address 127.255.255.255, which both receive.
    let mut first = SimConfig::for_tests();
    first.bind = IpAddr::from([0, 0, 0, 0]);
    let a = start(&first);
    let mut second = first.clone();
    second.udp_port = a.udp.port();
    second.identity.eid = "02:00:00:00:99:01".into();
    second.identity.logical_address = "0x5010".into();
    let b = start(&second);
    let entities = Discovery::to(SocketAddr::from(([127, 255, 255, 255], a.udp.port())))
        .timeout(Duration::from_millis(500))
        .run()
        .unwrap();
    let mut addresses: Vec<u16> =
        entities.iter().map(|e| e.announcement.logical_address.0).collect();
    addresses.sort_unstable();
    assert_eq!(addresses, [0x4010, 0x5010], "{entities:?}");
    // Filters: only the matching entity answers.
    let only = Discovery::to(SocketAddr::from(([127, 255, 255, 255], a.udp.port())))
        .timeout(Duration::from_millis(300))
        .eid("02:00:00:00:99:01".parse().unwrap())
        .run()
        .unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].announcement.logical_address, LogicalAddress(0x5010));
    drop((a, b));
}

#[test]
fn get_entity_by_unicast() {
    let sim = start(&SimConfig::for_tests());
    let entity = Discovery::to(sim.udp).first().unwrap();
    assert_eq!(entity.announcement.vin.to_string(), VIN);
    assert_eq!(entity.address, sim.udp);
    let missing = Discovery::to(sim.udp)
        .timeout(Duration::from_millis(200))
        .vin("WDOIPRS9999999999".parse().unwrap())
        .first();
    assert!(matches!(missing, Err(Error::Timeout { .. })));
}

#[test]
fn connect_errors_are_typed() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    match ClientBuilder::new(IpAddr::from([127, 0, 0, 1]), GATEWAY).tcp_port(port).connect() {
        Err(Error::Transport(doip_transport::Error::Refused { .. })) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn tls_with_a_generated_certificate() {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["ecu.doip.test".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let dir = std::env::temp_dir().join(format!("doip-client-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    let mut config = SimConfig::for_tests();
    config.tls =
        Some(doip_sim::TlsFiles { cert: dir.join("cert.pem"), key: dir.join("key.pem"), port: 0 });
    let sim = start(&config);
    let mut roots = doip_client::doip_transport::rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let tls = TlsClient::with_roots(roots, "ecu.doip.test").unwrap();
    let tls_port = sim.tls.unwrap().port();
    let mut client = builder(&sim, ENGINE).tcp_port(tls_port).tls(tls).connect().unwrap();
    assert_eq!(client.request(ENGINE, &[0x22, 0xF1, 0x90]).unwrap(), vin_answer());
    // The verified defaults refuse a certificate they cannot chain to a root: no roots, or
    // the platform's (doipclient's use_secure=True), which do not know this self-signed one.
    let empty = doip_client::doip_transport::rustls::RootCertStore::empty();
    let platform = TlsClient::platform("ecu.doip.test").unwrap();
    for other in [TlsClient::with_roots(empty, "ecu.doip.test").unwrap(), platform] {
        assert!(matches!(
            builder(&sim, ENGINE).tcp_port(tls_port).tls(other).connect(),
            Err(Error::Transport(doip_transport::Error::Tls { .. }))
        ));
    }
    // The test-bench configuration takes it (once the first client freed tester 0x0E00).
    drop(client);
    let bench = TlsClient::insecure_test_bench("ecu.doip.test").unwrap();
    let mut client = builder(&sim, ENGINE).tcp_port(tls_port).tls(bench).connect().unwrap();
    assert_eq!(client.request(ENGINE, &[0x3E, 0x00]).unwrap(), [0x7E, 0x00]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ipv6_loopback() {
    let mut config = SimConfig::for_tests();
    config.bind = "::1".parse().unwrap();
    let sim = start(&config);
    let mut client = builder(&sim, ENGINE).connect().unwrap();
    assert_eq!(client.request(ENGINE, &[0x22, 0xF1, 0x90]).unwrap(), vin_answer());
    assert_eq!(client.request_entity_status().unwrap().max_open_sockets, 4);
}

#[test]
fn await_vehicle_announcement_hears_the_start_up_announcements() {
    let port = std::net::UdpSocket::bind("0.0.0.0:0").unwrap().local_addr().unwrap().port();
    let listening = std::thread::spawn(move || {
        doip_client::await_vehicle_announcement(port, Duration::from_secs(5), false, None)
    });
    std::thread::sleep(Duration::from_millis(200));
    let mut config = SimConfig::for_tests();
    config.announce.to = Some(SocketAddr::from(([127, 0, 0, 1], port)));
    config.announce.interval_ms = 100;
    let _sim = start(&config);
    let entity = listening.join().unwrap().unwrap();
    assert_eq!(entity.announcement.vin.to_string(), VIN);
}
