//! The tokio driver (feature `tokio`) against the simulator on loopback.
#![cfg(feature = "tokio")]
#![allow(clippy::unwrap_used)] // test helpers fail loudly

mod common;

use std::time::Duration;

use common::{builder, start, vin_answer};
use doip_client::tokio::Client;
use doip_client::{Discovery, Error, TlsClient, TransportKind};
use doip_proto::{ActivationType, LogicalAddress, Message, NodeType, PowerMode};
use doip_sim::{EcuConfig, Faults, SimConfig, SimHandle, TlsFiles};

const GATEWAY: LogicalAddress = LogicalAddress(0x4010);
const ENGINE: LogicalAddress = LogicalAddress(0x4011);
const BRAKES: LogicalAddress = LogicalAddress(0x4012);
const VIN: &str = "WDOIPRS0000000001";

#[tokio::test]
async fn every_operation() {
    let sim = start(&SimConfig::for_tests());
    let client = builder(&sim, ENGINE).connect_tokio().await.unwrap();
    assert_eq!(client.ecu(), ENGINE);
    assert_eq!(client.peer(), sim.tcp);
    // UDS exchange, and doipclient's pair.
    assert_eq!(client.request(ENGINE, &[0x22, 0xF1, 0x90]).await.unwrap(), vin_answer());
    client.send_diagnostic(&[0x22, 0xF1, 0x90]).await.unwrap();
    assert_eq!(client.receive_diagnostic(Duration::from_secs(2)).await.unwrap(), vin_answer());
    client.send_diagnostic_to(BRAKES, &[0x3E, 0x00]).await.unwrap();
    let (from, answer) =
        client.receive_diagnostic_from(None, Duration::from_secs(2)).await.unwrap();
    assert_eq!((from, answer), (BRAKES, vec![0x7E, 0x00]));
    // Nothing more: a timeout, not someone else's answer.
    let err = client.receive_diagnostic(Duration::from_millis(100)).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    // Control messages.
    let status = client.request_entity_status().await.unwrap();
    assert_eq!(status.node_type, NodeType::Gateway);
    assert_eq!(client.request_diagnostic_power_mode().await.unwrap().power_mode, PowerMode::Ready);
    let id = client.request_vehicle_identification(None, None).await.unwrap();
    assert_eq!(id.vin.as_str(), Some(VIN));
    assert_eq!(client.request_alive_check().await.unwrap().source_address, GATEWAY);
    let r = client.request_activation(ActivationType::Default, None, false).await.unwrap();
    assert_eq!(r.entity_address, GATEWAY);
    // A raw message over UDP and its answer from read_doip.
    let m: Message<'_> = doip_proto::EntityStatusRequest.into();
    client.send_doip_message(&m, TransportKind::Udp, false).await.unwrap();
    let frame = client.read_doip(Duration::from_secs(2), TransportKind::Udp).await.unwrap();
    assert!(matches!(frame.message, Message::EntityStatusResponse(_)));
    // Functional: every ECU answers.
    let mut answers = client
        .functional_request(LogicalAddress(0xE400), &[0x3E, 0x00], Duration::from_millis(300))
        .await
        .unwrap();
    answers.sort();
    assert_eq!(answers, [GATEWAY, ENGINE, BRAKES].map(|a| (a, vec![0x7E, 0x00])));
    // Unsolicited stream.
    client.send_diagnostic(&[0x3E, 0x00]).await.unwrap();
    let mut stream = client.unsolicited();
    let u = tokio::time::timeout(Duration::from_secs(2), stream.next()).await.unwrap().unwrap();
    assert!(
        matches!(u.frame.message, Message::DiagnosticMessage(ref d) if d.user_data[..] == [0x7E, 0x00])
    );
    assert_eq!(client.empty_rxqueue(), 0);
    let counters = client.counters();
    assert!(counters.frames_received >= 10, "{counters:?}");
    client.close().await.unwrap();
    let err = client.request(ENGINE, &[0x3E, 0x00]).await.unwrap_err();
    assert!(matches!(err, Error::Closed { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_tasks_on_clones_each_get_their_own_answer() {
    let mut config = SimConfig::for_tests();
    for ecu in &mut config.ecus {
        for i in 0..100u16 {
            ecu.dids.insert(format!("0x{:04X}", 0x0100 + i), format!("ascii:{}-{i}", ecu.name));
        }
    }
    let sim = start(&config);
    let client = builder(&sim, ENGINE).connect_tokio().await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..200u16 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let (ecu, name) = if i % 2 == 0 { (ENGINE, "engine") } else { (BRAKES, "brakes") };
            let did = 0x0100 + i / 2;
            let answer = client.request(ecu, &[0x22, (did >> 8) as u8, did as u8]).await.unwrap();
            let expected =
                [&[0x62, (did >> 8) as u8, did as u8][..], format!("{name}-{}", i / 2).as_bytes()]
                    .concat();
            assert_eq!(answer, expected, "task {i}");
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(30), t).await.unwrap().unwrap();
    }
    assert_eq!(client.empty_rxqueue(), 0);
}

#[tokio::test]
async fn a_dropped_request_leaves_the_next_one_its_own_answer() {
    let sim = start(&SimConfig::for_tests());
    let client = builder(&sim, ENGINE).connect_tokio().await.unwrap();
    sim.set_faults(None, Faults { response_delay_ms: 400, ..Faults::default() });
    // Dropped after the ACK, before its answer.
    let dropped = tokio::time::timeout(
        Duration::from_millis(150),
        client.request(ENGINE, &[0x22, 0xF1, 0x90]),
    )
    .await;
    assert!(dropped.is_err(), "the answer came before the delay");
    sim.set_faults(None, Faults::default());
    let started = std::time::Instant::now();
    let answer = client.request(ENGINE, &[0x22, 0xF1, 0x87]).await.unwrap();
    assert_eq!(answer, b"\x62\xF1\x87ENGINE-0001");
    // The late VIN answer arrived meanwhile or later: never this request's answer, and
    // unsolicited when it came.
    let late = client.receive_diagnostic(Duration::from_secs(2)).await.unwrap();
    assert_eq!(late, vin_answer());
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn tls_with_the_same_configuration_as_the_blocking_client() {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["ecu.doip.test".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let dir = std::env::temp_dir().join(format!("doip-tokio-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    let mut config = SimConfig::for_tests();
    config.tls = Some(TlsFiles { cert: dir.join("cert.pem"), key: dir.join("key.pem"), port: 0 });
    let (sink, events) = std::sync::mpsc::channel();
    let mut sim = doip_sim::Simulator::new(&config).unwrap();
    sim.set_event_sink(sink);
    let sim = sim.spawn().unwrap();
    let tls_port = sim.tls.unwrap().port();
    let mut roots = doip_transport::rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let tls = TlsClient::with_roots(roots, "ecu.doip.test").unwrap();
    let client = builder(&sim, ENGINE).tls(tls).tcp_port(tls_port).connect_tokio().await.unwrap();
    assert_eq!(client.request(ENGINE, &[0x22, 0xF1, 0x90]).await.unwrap(), vin_answer());
    client.close().await.unwrap();
    // Closed as the blocking client closes: close_notify, then FIN.
    let closed = tokio::task::spawn_blocking(move || {
        std::iter::from_fn(|| events.recv_timeout(Duration::from_secs(10)).ok()).find_map(|e| {
            match e {
                doip_sim::SimEvent::Closed { reason, .. } => Some(reason),
                _ => None,
            }
        })
    });
    let reason = closed.await.unwrap().unwrap();
    assert!(!reason.contains("close_notify"), "{reason}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn reconnect_after_an_ecu_reset() {
    let sim = start(&SimConfig::for_tests());
    let client = builder(&sim, ENGINE).connect_tokio().await.unwrap();
    assert_eq!(client.request(ENGINE, &[0x11, 0x01]).await.unwrap(), [0x51, 0x01]);
    client.reconnect(Duration::from_millis(300)).await.unwrap();
    assert_eq!(client.request(ENGINE, &[0x3E, 0x00]).await.unwrap(), [0x7E, 0x00]);
    assert!(client.counters().reconnects >= 1);
}

#[tokio::test]
async fn discovery_and_announcements() {
    let sim = start(&SimConfig::for_tests());
    let found = Discovery::to(sim.udp).timeout(Duration::from_millis(500)).run_async().await;
    assert_eq!(found.unwrap()[0].announcement.vin.as_str(), Some(VIN));
    let mut listener = doip_client::tokio::announcements(0, false, None).unwrap();
    let mut config = SimConfig::for_tests();
    config.announce.to = Some((std::net::Ipv4Addr::LOCALHOST, listener.port()).into());
    config.announce.interval_ms = 50;
    let _announcing = start(&config);
    let entity = tokio::time::timeout(Duration::from_secs(5), listener.next()).await.unwrap();
    assert_eq!(entity.unwrap().announcement.logical_address, GATEWAY);
}

/// 1,000 ECU sessions (ten entities with a hundred ECUs each) on one current-thread runtime,
/// each doing TesterPresent at once: one connection and one driver task per entity.
#[test]
fn a_thousand_ecu_sessions_on_one_thread() {
    const ENTITIES: usize = 10;
    const ECUS: u16 = 100;
    let sims: Vec<SimHandle> = (0..ENTITIES)
        .map(|_| {
            let mut config = SimConfig::for_tests();
            config.identity.max_sockets = 4;
            config.ecus = (0..ECUS)
                .map(|i| EcuConfig {
                    name: format!("ecu{i}"),
                    logical_address: format!("0x{:04X}", 0x4100 + i),
                    ..EcuConfig::default()
                })
                .collect();
            start(&config)
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut clients = Vec::new();
        for sim in &sims {
            clients.push(builder(sim, LogicalAddress(0x4100)).connect_tokio().await.unwrap());
        }
        let before = rss_kib();
        let requests = clients.iter().flat_map(|c| {
            (0..ECUS).map(move |i| Box::pin(c.request(LogicalAddress(0x4100 + i), &[0x3E, 0x00])))
        });
        let answers = futures_join_all(requests.collect()).await;
        assert_eq!(answers.len(), ENTITIES * usize::from(ECUS));
        assert!(answers.iter().all(|a| a.as_deref().is_ok_and(|a| a == [0x7E, 0x00])));
        let metrics = tokio::runtime::Handle::current().metrics();
        assert!(metrics.num_alive_tasks() <= ENTITIES + 1, "{} tasks", metrics.num_alive_tasks());
        if let (Some(before), Some(after)) = (before, rss_kib()) {
            assert!(after.saturating_sub(before) < 64 * 1024, "{before} KiB -> {after} KiB");
        }
    });
}

/// Awaits every future on this task (no extra crate: a tiny join-all).
async fn futures_join_all<F: std::future::Future + Unpin>(mut futures: Vec<F>) -> Vec<F::Output> {
    let mut out: Vec<Option<F::Output>> = (0..futures.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (f, slot) in futures.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match std::pin::Pin::new(f).poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await;
    out.into_iter().map(|o| o.unwrap()).collect()
}

/// This process's resident memory (Linux), in KiB.
fn rss_kib() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The handle is cheap to share between tasks: checked when this file compiles.
const _: fn() = || {
    fn shareable<T: Send + Sync + Clone>() {}
    shareable::<Client>();
};

#[tokio::test]
async fn alive_checks_are_answered_by_the_driver_while_the_caller_idles() {
    let sim = start(&SimConfig::for_tests());
    let client = builder(&sim, ENGINE).connect_tokio().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A second tester with the same address: the entity asks the first connection for an
    // alive check and, answered by the driver task, refuses the newcomer (0x03).
    let second = tokio::task::spawn_blocking({
        let b = builder(&sim, ENGINE);
        move || b.connect()
    });
    let refused = second.await.unwrap().unwrap_err();
    assert!(
        matches!(refused, Error::ActivationDenied { code, .. } if u8::from(code) == 0x03),
        "{refused}"
    );
    assert_eq!(client.request(ENGINE, &[0x3E, 0x00]).await.unwrap(), [0x7E, 0x00]);
}
