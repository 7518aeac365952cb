//! [`AsyncUdsClient`] over the tokio driver (feature `tokio`) against the simulated ECUs, on
//! loopback.
#![cfg(feature = "tokio")]
#![allow(clippy::unwrap_used)] // tests fail loudly

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use doip_client::tokio::Client;
use doip_client::{ClientBuilder, LogicalAddress};
use doip_proto::Message;
use doip_sim::{Responder, SimConfig, SimHandle, Simulator};
use doip_uds::tokio::EcuChannel;
use doip_uds::{
    AsyncFlasher, AsyncUdsClient, CommunicationControlType, Dtc, Image, Nrc, ResetType, Segment,
    SessionType, Step, UdsOptions, XorKey,
};

const ENGINE: LogicalAddress = LogicalAddress(0x4011);
const BRAKES: LogicalAddress = LogicalAddress(0x4012);
const VIN: &[u8] = b"WDOIPRS0000000001";
const KEY: u32 = 0x5A5A_A5A5;

/// A simulator whose engine and brakes are `engine` and a plain responder.
fn start(engine: Responder) -> SimHandle {
    let mut sim = Simulator::new(&SimConfig::for_tests()).unwrap();
    sim.set_ecu(ENGINE, "engine", Box::new(engine));
    sim.set_ecu(BRAKES, "brakes", Box::new(Responder::new(b"BRAKES").with_max_block_length(66)));
    sim.spawn().unwrap()
}

async fn connect(sim: &SimHandle) -> Client {
    ClientBuilder::new(sim.tcp.ip(), ENGINE)
        .tcp_port(sim.tcp.port())
        .udp_port(sim.udp.port())
        .connect_tokio()
        .await
        .unwrap()
}

fn options() -> UdsOptions {
    let mut o = UdsOptions::default();
    o.security_delay = Duration::ZERO;
    o
}

#[tokio::test]
async fn session_keeper_security_dids_dtcs_and_reset_through_the_async_client() {
    let s3 = Duration::from_millis(1200);
    let delay = Duration::from_millis(400);
    let sim = start(Responder::new(VIN).with_s3(s3).with_security(KEY, 3, delay));
    let mut o = options();
    o.tester_present = Some(Duration::from_millis(300));
    let mut uds = AsyncUdsClient::with_options(connect(&sim).await, o);
    let timing = uds.session_control(SessionType::Extended).await.unwrap().timing.unwrap();
    assert_eq!((timing.p2, timing.p2_star), (Duration::from_millis(50), Duration::from_secs(5)));
    // The driver task's keeper holds the session past S3 while this task sleeps.
    tokio::time::sleep(s3 * 2).await;
    uds.communication_control(CommunicationControlType::EnableRxAndTx, 0x01).await.unwrap();
    // Wrong keys, then the ECU's delay.
    let mut wrong = XorKey::from_u32(!KEY);
    for nrc in [Nrc::InvalidKey, Nrc::InvalidKey, Nrc::ExceededNumberOfAttempts] {
        let e = uds.security_access(1, &mut wrong).await.unwrap_err();
        assert_eq!(e.nrc(), Some(nrc), "{e}");
    }
    assert_eq!(
        uds.request_seed(1).await.unwrap_err().nrc(),
        Some(Nrc::RequiredTimeDelayNotExpired)
    );
    // Waiting out the delay uses the runtime's timer: on this one-thread runtime, another
    // task keeps ticking meanwhile (a blocking sleep would stop it).
    let ticks = Arc::new(AtomicU32::new(0));
    let ticker = tokio::spawn({
        let ticks = Arc::clone(&ticks);
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                ticks.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    uds.options_mut().security_delay = delay + Duration::from_millis(200);
    let started = Instant::now();
    uds.security_access(1, &mut XorKey::from_u32(KEY)).await.unwrap();
    assert!(started.elapsed() >= delay, "waited {:?}", started.elapsed());
    ticker.abort();
    assert!(ticks.load(Ordering::Relaxed) >= 3, "{} ticks", ticks.load(Ordering::Relaxed));
    assert_eq!(uds.request_seed(1).await.unwrap(), [0, 0, 0, 0]);
    // Data, DTCs, routines' neighbours.
    assert_eq!(uds.read_data_by_identifier(0xF190).await.unwrap(), VIN);
    uds.tester_present().await.unwrap();
    let dtcs = uds.read_dtc_by_status_mask(0xFF).await.unwrap();
    uds.clear_diagnostic_information(Dtc::ALL).await.unwrap();
    let after = uds.read_number_of_dtc_by_status_mask(0xFF).await.unwrap();
    assert!(after.count <= u16::try_from(dtcs.dtcs.len()).unwrap());
    assert_eq!(uds.raw(&[0x3E, 0x80]).await.unwrap(), Vec::<u8>::new());
    // Back to the default session: the keeper stops, and CommunicationControl is refused.
    uds.session_control(SessionType::Default).await.unwrap();
    let e = uds.communication_control(CommunicationControlType::EnableRxAndTx, 0x01).await;
    assert_eq!(e.unwrap_err().nrc(), Some(Nrc::ServiceNotSupportedInActiveSession));
    let sent = uds.channel_mut().counters().frames_sent;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(uds.channel_mut().counters().frames_sent, sent, "the keeper still runs");
    // A reset: the ECU answers, then drops the connection.
    assert_eq!(uds.ecu_reset(ResetType::Soft).await.unwrap(), None);
    assert_eq!(uds.session(), SessionType::Default);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ecus_on_one_connection_from_spawned_tasks_download_and_read_back() {
    let sim = start(Responder::new(VIN).with_max_block_length(66));
    let client = connect(&sim).await;
    // 300 blocks of 64 bytes each take the block counter through 0xFF -> 0x00.
    let data: Vec<u8> = (0..300 * 64u32).map(|i| (i * 7 % 251) as u8).collect();
    // The futures are Send: each ECU's client runs in its own spawned task.
    let tasks = [ENGINE, BRAKES].map(|ecu| {
        let channel = EcuChannel::new(client.clone(), ecu);
        let data = data.clone();
        tokio::spawn(async move {
            let mut uds = AsyncUdsClient::with_options(channel, options());
            let mut last = 0;
            let summary = uds
                .download(0x0001_0000, &data, &mut |sent| {
                    assert!(sent > last);
                    last = sent;
                })
                .await
                .unwrap();
            assert_eq!((summary.blocks, summary.bytes), (300, data.len() as u64));
            let back = uds.upload(0x0001_0000, data.len() as u64).await.unwrap();
            let name = uds.read_data_by_identifier(0xF190).await.unwrap();
            (uds.channel_mut().target(), back == data, name)
        })
    });
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    assert_eq!(results, [(ENGINE, true, VIN.to_vec()), (BRAKES, true, b"BRAKES".to_vec())]);
    // The default-ECU channel: the client handle itself.
    let mut uds = AsyncUdsClient::new(client);
    assert_eq!(uds.read_memory_by_address(0x0001_0000, 4).await.unwrap(), data[..4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ecus_of_one_connection_are_flashed_at_once_by_async_flashers_in_spawned_tasks() {
    let sim = start(Responder::new(VIN).with_security(KEY, 3, Duration::from_secs(1)));
    let client = connect(&sim).await;
    let image = Arc::new(
        Image::from_segments(vec![
            Segment { address: 0x0800_0000, data: (0..10_000u32).map(|i| i as u8).collect() },
            Segment { address: 0x0801_0000, data: vec![0xA5; 5000] },
        ])
        .unwrap(),
    );
    // No reset: the simulator drops the connection on one, and both flashes share it.
    let steps = |security: bool| {
        let mut steps = vec![Step::Session(SessionType::Programming)];
        steps.extend(security.then_some(Step::SecurityAccess(1)));
        steps.extend([Step::Erase, Step::Download, Step::Check]);
        steps
    };
    let tasks = [(ENGINE, true), (BRAKES, false)].map(|(ecu, security)| {
        let (channel, image, steps) = (EcuChannel::new(client.clone(), ecu), image.clone(), steps);
        tokio::spawn(async move {
            let mut uds = AsyncUdsClient::with_options(channel, options());
            let mut key = XorKey::from_u32(KEY);
            let mut seen = Vec::new();
            let mut flasher = AsyncFlasher::new(&image)
                .steps(steps(security))
                .on_progress(|p| seen.push((p.step, p.bytes_done)));
            if security {
                flasher = flasher.security(1, &mut key);
            }
            let report = flasher.run(&mut uds).await.unwrap();
            let mut back = Vec::new();
            for segment in image.segments() {
                back.push(uds.upload(segment.address, segment.data.len() as u64).await.unwrap());
            }
            (report, seen, back)
        })
    });
    // The engine grants 4093-byte blocks, the brakes 64-byte ones.
    for (task, blocks) in tasks.into_iter().zip([3 + 2, 157 + 79]) {
        let (report, seen, back) = task.await.unwrap();
        assert_eq!((report.bytes, report.segments, report.blocks), (15_000, 2, blocks));
        assert!(seen.iter().any(|s| s.0 == "check routine"), "{seen:?}");
        assert!(seen.windows(2).all(|w| w[0].1 <= w[1].1), "progress goes forward");
        assert_eq!(seen.last().unwrap().1, 15_000);
        let data: Vec<_> = image.segments().iter().map(|s| s.data.clone()).collect();
        assert!(back == data, "read back differs");
    }
}

#[tokio::test]
async fn a_request_future_dropped_mid_wait_leaves_the_next_request_its_own_answer() {
    // TesterPresent is answered after three "response pending" 200 ms apart; it is given up
    // after 100 ms, and its late answer must not become the next request's.
    let sim = start(Responder::new(VIN).with_pending(0x3E, 3, Duration::from_millis(200)));
    let mut uds = AsyncUdsClient::with_options(connect(&sim).await, options());
    let given_up = tokio::time::timeout(Duration::from_millis(100), uds.tester_present());
    assert!(given_up.await.is_err(), "the pending TesterPresent answered within 100 ms");
    assert_eq!(uds.read_data_by_identifier(0xF190).await.unwrap(), VIN);
    // Its late answers (pending, then final) arrive as unsolicited frames.
    let mut late = uds.channel_mut().unsolicited();
    let mut seen = Vec::new();
    for _ in 0..10 {
        let u = tokio::time::timeout(Duration::from_secs(3), late.next()).await.unwrap().unwrap();
        if let Message::DiagnosticMessage(d) = u.frame.message {
            seen.push(d.user_data.into_owned());
            if seen.last().is_some_and(|d| d[..] == [0x7E, 0x00]) {
                return;
            }
        }
    }
    panic!("no late TesterPresent answer among {seen:02X?}");
}
