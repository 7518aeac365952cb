//! Many ECUs behind many entities on one event loop.
#![allow(clippy::unwrap_used)] // test helpers fail loudly

use std::time::Duration;

use doip_client::{Error, Tester};
use doip_proto::{DiagnosticNackCode, LogicalAddress};
use doip_sim::{EcuConfig, SimConfig, SimHandle, Simulator};

/// An entity with five ECUs, 0x4010–0x4014.
fn entity() -> SimHandle {
    let mut config = SimConfig::for_tests();
    config.ecus = (0..5)
        .map(|i| EcuConfig {
            name: format!("ecu{i}"),
            logical_address: format!("{:#06x}", 0x4010 + i),
            ..EcuConfig::default()
        })
        .collect();
    Simulator::new(&config).unwrap().spawn().unwrap()
}

#[test]
fn fifty_ecus_behind_ten_entities_on_one_loop() {
    let entities: Vec<SimHandle> = (0..10).map(|_| entity()).collect();
    let mut tester = Tester::new(LogicalAddress(0x0E00)).unwrap();
    for e in &entities {
        for i in 0..5 {
            tester.add(e.tcp, LogicalAddress(0x4010 + i)).unwrap();
        }
    }
    let unknown = tester.add(entities[0].tcp, LogicalAddress(0x4999)).unwrap();
    assert!(tester.connect_all(Duration::from_secs(10)).unwrap().is_empty());
    let results = tester.request_all(&[0x22, 0xF1, 0x90], Duration::from_secs(5)).unwrap();
    assert_eq!(results.len(), 51);
    let vin = [&[0x62, 0xF1, 0x90][..], b"WDOIPRS0000000001"].concat();
    for (id, result) in &results {
        if *id == unknown {
            assert!(matches!(
                result,
                Err(Error::DiagnosticNack { code: DiagnosticNackCode::UnknownTargetAddress, .. })
            ));
        } else {
            assert_eq!(result.as_ref().unwrap(), &vin, "{id:?}");
        }
    }
    // The non-blocking face: start, poll, take.
    let first = results[0].0;
    tester.start_request(first, &[0x3E, 0x00], Duration::from_secs(5)).unwrap();
    let mut answer = None;
    for _ in 0..100 {
        tester.poll(Duration::from_millis(50)).unwrap();
        answer = tester.take_result(first);
        if answer.is_some() {
            break;
        }
    }
    assert_eq!(answer.unwrap().unwrap(), [0x7E, 0x00]);
}

#[test]
fn a_failed_entity_fails_only_its_ecus() {
    let good = entity();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = listener.local_addr().unwrap();
    drop(listener);
    let mut tester = Tester::new(LogicalAddress(0x0E00)).unwrap();
    let ok = tester.add(good.tcp, LogicalAddress(0x4011)).unwrap();
    let bad = tester.add(dead, LogicalAddress(0x4011)).unwrap();
    let failed = tester.connect_all(Duration::from_secs(5)).unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, bad);
    assert!(tester.is_ready(ok));
    let results = tester.request_all(&[0x3E, 0x00], Duration::from_secs(5)).unwrap();
    assert_eq!(results[0].1.as_ref().unwrap(), &[0x7E, 0x00]);
    // Its request dials again and fails with the cause at once, not after a timeout.
    assert!(
        matches!(results[1].1, Err(Error::Transport(doip_transport::Error::Refused { .. }))),
        "{:?}",
        results[1].1
    );
    assert!(matches!(Tester::new(LogicalAddress(0x4000)), Err(Error::InvalidTesterAddress(_))));
}
