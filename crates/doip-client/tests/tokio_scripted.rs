//! The tokio driver (feature `tokio`) against the scripted raw-socket entity of
//! `common/mod.rs` and against a runtime that goes away: a refused header, a vendor payload
//! type, a driver task dropped with its runtime, a stream outliving its handles.
#![cfg(feature = "tokio")]
#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{
    ECU, Entity, READ_VIN, Step, TESTER, ack, activate, frame, on_request, pt, script, uds,
    vin_answer,
};
use doip_client::{ClientBuilder, Error, TransportKind};
use doip_proto::{LogicalAddress, PayloadType};

const PATIENCE: Duration = Duration::from_secs(5);

fn builder(entity: &Entity) -> ClientBuilder {
    ClientBuilder::new(entity.addr.ip(), LogicalAddress(ECU)).tcp_port(entity.addr.port())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[tokio::test]
async fn a_refused_header_gets_its_nack_then_the_connection_closes_and_a_request_reconnects() {
    let (report, reported) = mpsc::channel();
    let answer = || on_request(&[ack(ECU, TESTER, &READ_VIN), uds(ECU, TESTER, &vin_answer())]);
    let entity = Entity::start(vec![
        script([
            activate(),
            answer(),
            vec![Step::Custom(Box::new(move |conn| {
                // 0x02 with a wrong inverse: NACK 0x00 (incorrect pattern), then close.
                conn.send(&[0x02, 0x00, 0x80, 0x01, 0, 0, 0, 0]);
                let nack = conn.next_frame(PATIENCE).map(|r| (r.payload_type, r.payload));
                let started = Instant::now();
                let more = conn.next_frame(PATIENCE);
                let closed = more.is_none() && started.elapsed() < PATIENCE;
                report.send((nack, closed)).unwrap();
            }))],
        ]),
        script([activate(), answer()]),
    ]);
    let client = builder(&entity).auto_reconnect_tcp(true).connect_tokio().await.unwrap();
    assert_eq!(client.request(LogicalAddress(ECU), &READ_VIN).await.unwrap(), vin_answer());
    let (nack, closed) =
        tokio::task::spawn_blocking(move || reported.recv_timeout(PATIENCE * 3).unwrap())
            .await
            .unwrap();
    assert_eq!(nack, Some((0x0000, vec![0x00])), "the generic NACK for the header");
    assert!(closed, "the tester closes the connection after the NACK");
    // The session saw the loss: the next request dials again.
    assert_eq!(client.request(LogicalAddress(ECU), &READ_VIN).await.unwrap(), vin_answer());
    assert_eq!(entity.accepted(), 2);
    entity.assert_script_ok();
}

#[tokio::test]
async fn a_vendor_payload_type_on_tcp_is_delivered_not_refused() {
    let vendor = frame(0xF010, &[1, 2, 3]);
    let entity = Entity::start(vec![script([
        activate(),
        vec![Step::Sleep(Duration::from_millis(50)), Step::Send(vendor)],
    ])]);
    let client = builder(&entity).connect_tokio().await.unwrap();
    let got = client.read_doip(PATIENCE, TransportKind::Tcp).await.unwrap();
    assert_eq!(got.header.payload_type, PayloadType::VendorSpecific(0xF010));
    client.close().await.unwrap();
    assert_eq!(entity.count(0x0000), 0, "no generic NACK was sent");
    assert_eq!(entity.count(pt::ACTIVATION_REQUEST), 1);
}

#[test]
fn callers_get_closed_at_once_when_the_driver_task_went_away_with_its_runtime() {
    let entity = Entity::start(vec![activate()]); // then silent
    let (handed, handle) = mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let first = std::thread::spawn(move || {
        runtime().block_on(async {
            let client = builder(&entity).connect_tokio().await.unwrap();
            handed.send((client, entity)).unwrap();
            let _ = stopped.await;
        });
        // The runtime is dropped here, and the driver task with it.
    });
    let (client, _entity) = handle.recv_timeout(PATIENCE).unwrap();
    runtime().block_on(async {
        let waiting = tokio::spawn({
            let client = client.clone();
            async move { client.request(LogicalAddress(ECU), &READ_VIN).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop.send(()).unwrap();
        tokio::task::spawn_blocking(move || first.join().unwrap()).await.unwrap();
        let r = tokio::time::timeout(PATIENCE, waiting).await.expect("the waiting request ends");
        assert!(matches!(r.unwrap(), Err(Error::Closed { .. })));
        let r = tokio::time::timeout(PATIENCE, client.request(LogicalAddress(ECU), &READ_VIN))
            .await
            .expect("a new request fails at once");
        assert!(matches!(r, Err(Error::Closed { .. })), "{r:?}");
        let r = tokio::time::timeout(PATIENCE, client.close()).await.expect("close returns");
        assert!(r.is_ok());
    });
}

#[tokio::test]
async fn an_unsolicited_stream_ends_once_every_handle_is_dropped() {
    let entity = Entity::start(vec![script([
        activate(),
        vec![Step::Send(uds(ECU, TESTER, &[0x62, 0x01, 0x02]))],
    ])]);
    let client = builder(&entity).connect_tokio().await.unwrap();
    let mut stream = client.unsolicited();
    let reader = tokio::spawn(async move {
        let mut frames = 0;
        while stream.next().await.is_some() {
            frames += 1;
        }
        frames
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(client);
    let frames = tokio::time::timeout(PATIENCE, reader).await.expect("the stream ends").unwrap();
    assert_eq!(frames, 1, "the periodic frame, then None");
}

#[tokio::test]
async fn close_on_one_handle_fails_the_requests_waiting_on_the_others() {
    let entity = Entity::start(vec![activate()]); // then silent
    let client = builder(&entity).connect_tokio().await.unwrap();
    let waiting = tokio::spawn({
        let client = client.clone();
        async move { client.request(LogicalAddress(ECU), &READ_VIN).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    client.close().await.unwrap();
    let r = tokio::time::timeout(PATIENCE, waiting).await.expect("the waiting request ends");
    assert!(matches!(r.unwrap(), Err(Error::Closed { .. })));
    let r = client.request(LogicalAddress(ECU), &READ_VIN).await;
    assert!(matches!(r, Err(Error::Closed { .. })), "{r:?}");
    assert_eq!(entity.uds_requests(), [READ_VIN.to_vec()], "the request was sent once");
}
