//! Every service of the UDS client against the simulated ECU, over DoIP on loopback.
#![allow(clippy::unwrap_used)] // tests fail loudly

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use doip_client::{Client, ClientBuilder, LogicalAddress};
use doip_sim::{Responder, SimConfig, SimHandle, Simulator, UdsHandler, UdsReply};
use doip_uds::{
    CommunicationControlType, DidLengths, Dtc, DtcStatus, EcuChannel, Error, Flasher, Image, Nrc,
    ResetType, RoutineControlType, Segment, ServiceId, SessionType, Step, UdsClient, UdsOptions,
    XorKey,
};

const ENGINE: LogicalAddress = LogicalAddress(0x4011);
const BRAKES: LogicalAddress = LogicalAddress(0x4012);
const VIN: &[u8] = b"WDOIPRS0000000001";
const KEY: u32 = 0x5A5A_A5A5;

/// A simulator whose ECU 0x4011 is `ecu`.
fn start(ecu: impl UdsHandler + 'static) -> SimHandle {
    let mut sim = Simulator::new(&SimConfig::for_tests()).unwrap();
    sim.set_ecu(ENGINE, "engine", Box::new(ecu));
    sim.spawn().unwrap()
}

fn connect(sim: &SimHandle) -> Client {
    ClientBuilder::new(sim.tcp.ip(), ENGINE)
        .tcp_port(sim.tcp.port())
        .udp_port(sim.udp.port())
        .connect()
        .unwrap()
}

fn options() -> UdsOptions {
    let mut o = UdsOptions::default();
    o.security_delay = Duration::ZERO;
    o
}

fn client(sim: &SimHandle) -> UdsClient<Client> {
    UdsClient::with_options(connect(sim), options())
}

#[test]
fn the_keeper_holds_a_non_default_session_past_s3_and_without_it_the_ecu_falls_back() {
    let s3 = Duration::from_millis(1200);
    let sim = start(Responder::new(VIN).with_s3(s3));
    for keep in [true, false] {
        let mut o = options();
        o.tester_present = keep.then_some(Duration::from_millis(300));
        let mut uds = UdsClient::with_options(connect(&sim), o);
        let answer = uds.session_control(SessionType::Extended).unwrap();
        let timing = answer.timing.unwrap();
        assert_eq!(
            (timing.p2, timing.p2_star),
            (Duration::from_millis(50), Duration::from_secs(5))
        );
        std::thread::sleep(s3 * 2);
        // CommunicationControl is refused in the default session.
        let result = uds.communication_control(CommunicationControlType::EnableRxAndTx, 0x01);
        if keep {
            result.unwrap();
        } else {
            assert_eq!(result.unwrap_err().nrc(), Some(Nrc::ServiceNotSupportedInActiveSession));
        }
        uds.session_control(SessionType::Default).unwrap();
    }
}

#[test]
fn security_access_unlocks_counts_wrong_keys_and_honours_the_delay() {
    let delay = Duration::from_millis(400);
    let sim = start(Responder::new(VIN).with_security(KEY, 3, delay));
    let mut uds = client(&sim);
    // Outside the default session only.
    let e = uds.security_access(1, &mut XorKey::from_u32(KEY)).unwrap_err();
    assert_eq!(e.nrc(), Some(Nrc::ServiceNotSupportedInActiveSession));
    uds.session_control(SessionType::Extended).unwrap();
    let mut wrong = XorKey::from_u32(!KEY);
    for _ in 0..2 {
        let e = uds.security_access(1, &mut wrong).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Negative { service: ServiceId::SecurityAccess, nrc: Nrc::InvalidKey }
            ),
            "{e}"
        );
    }
    let e = uds.security_access(1, &mut wrong).unwrap_err();
    assert_eq!(e.nrc(), Some(Nrc::ExceededNumberOfAttempts));
    let e = uds.request_seed(1).unwrap_err();
    assert_eq!(e.nrc(), Some(Nrc::RequiredTimeDelayNotExpired));
    // With the delay honoured, the client waits it out and unlocks.
    uds.options_mut().security_delay = delay + Duration::from_millis(200);
    let started = Instant::now();
    uds.security_access(1, &mut XorKey::from_u32(KEY)).unwrap();
    assert!(started.elapsed() >= delay, "waited {:?}", started.elapsed());
    // Unlocked: the seed is all zeros, and access succeeds without a key.
    assert_eq!(uds.request_seed(1).unwrap(), [0, 0, 0, 0]);
    let mut failing =
        |_: u8, _: &[u8]| -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
            Err("never asked".into())
        };
    uds.security_access(1, &mut failing).unwrap();
}

#[test]
fn several_dids_in_one_request_and_a_write_read_back() {
    let sim = start(
        Responder::new(VIN)
            .with_did(0xF187, b"PART-1".to_vec())
            .with_writable_did(0xF199, vec![0; 4]),
    );
    let mut uds = client(&sim);
    uds.options_mut().did_lengths = DidLengths::new().with(0xF190, 17).with(0xF187, 6);
    let all = uds.read_data_by_identifiers(&[0xF187, 0xF190, 0xF199]).unwrap();
    assert_eq!(all, [(0xF187, b"PART-1".to_vec()), (0xF190, VIN.to_vec()), (0xF199, vec![0; 4])]);
    let e = uds.write_data_by_identifier(0xF199, &[0x20, 0x26, 0x12, 0x03]).unwrap_err();
    assert_eq!(e.nrc(), Some(Nrc::ServiceNotSupportedInActiveSession));
    uds.session_control(SessionType::Extended).unwrap();
    uds.write_data_by_identifier(0xF199, &[0x20, 0x26, 0x12, 0x03]).unwrap();
    assert_eq!(uds.read_data_by_identifier(0xF199).unwrap(), [0x20, 0x26, 0x12, 0x03]);
    let e = uds.read_data_by_identifier(0x1234).unwrap_err();
    assert!(matches!(
        e,
        Error::Negative { service: ServiceId::ReadDataByIdentifier, nrc: Nrc::RequestOutOfRange }
    ));
    assert_eq!(e.to_string(), "ReadDataByIdentifier (0x22) refused: request out of range (0x31)");
}

#[test]
fn dtcs_by_mask_records_and_clear() {
    let sim = start(
        Responder::new(VIN)
            .with_dtc(0x12_3456, 0x2F)
            .with_dtc(0xC0_0100, 0x08)
            .with_dtc_snapshot(0x12_3456, 0x01, vec![0xAA, 0xBB])
            .with_dtc_extended(0x12_3456, 0x01, vec![0x05]),
    );
    let mut uds = client(&sim);
    assert_eq!(uds.read_number_of_dtc_by_status_mask(0x08).unwrap().count, 2);
    assert_eq!(uds.read_number_of_dtc_by_status_mask(0x01).unwrap().count, 1);
    let failed = uds.read_dtc_by_status_mask(0x01).unwrap();
    assert_eq!(failed.dtcs, [(Dtc(0x12_3456), DtcStatus(0x2F))]);
    assert!(failed.dtcs[0].1.names().any(|n| n == "confirmedDTC"));
    assert_eq!(uds.read_supported_dtc().unwrap().dtcs.len(), 2);
    let snapshot = uds.read_dtc_snapshot_record(Dtc(0x12_3456), 0xFF).unwrap();
    assert_eq!(snapshot.records, [0x01, 0xAA, 0xBB]);
    let extended = uds.read_dtc_extended_data_record(Dtc(0x12_3456), 0x01).unwrap();
    assert_eq!(extended.records, [0x01, 0x05]);
    assert_eq!(
        uds.read_dtc_snapshot_record(Dtc(0x99_9999), 0xFF).unwrap_err().nrc(),
        Some(Nrc::RequestOutOfRange)
    );
    uds.clear_diagnostic_information(Dtc::ALL).unwrap();
    assert_eq!(uds.read_number_of_dtc_by_status_mask(0xFF).unwrap().count, 0);
    uds.session_control(SessionType::Extended).unwrap();
    uds.control_dtc_setting(false).unwrap();
    uds.control_dtc_setting(true).unwrap();
}

#[test]
fn routines_reset_and_tester_present() {
    let sim = start(
        Responder::new(VIN)
            .with_routine(0x0203, vec![0x10])
            .with_reset_time(Duration::from_millis(50)),
    );
    let mut uds = client(&sim);
    uds.tester_present().unwrap();
    assert_eq!(uds.routine_control(RoutineControlType::Start, 0x0203, &[]).unwrap(), [0x10]);
    assert_eq!(
        uds.routine_control(RoutineControlType::RequestResults, 0x0203, &[]).unwrap(),
        [0x10]
    );
    let e = uds.routine_control(RoutineControlType::Start, 0x0999, &[]).unwrap_err();
    assert_eq!(e.nrc(), Some(Nrc::RequestOutOfRange));
    assert_eq!(uds.ecu_reset(ResetType::Hard).unwrap(), None);
    assert_eq!(uds.session(), SessionType::Default);
}

#[test]
fn memory_by_address_and_a_download_read_back_by_upload_over_the_counter_wrap() {
    // 64-byte blocks: 300 blocks take the counter through 0xFF -> 0x00.
    let sim = start(Responder::new(VIN).with_max_block_length(66));
    let mut uds = client(&sim);
    uds.write_memory_by_address(0x2000, &[1, 2, 3]).unwrap();
    assert_eq!(uds.read_memory_by_address(0x2000, 4).unwrap(), [1, 2, 3, 0xFF]);
    let data: Vec<u8> = (0..300 * 64u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut last = 0;
    let summary = uds
        .download(0x0001_0000, &data, &mut |sent| {
            assert!(sent > last);
            last = sent;
        })
        .unwrap();
    assert_eq!(
        (summary.blocks, summary.bytes, summary.parameters.max_block_length),
        (300, data.len() as u64, 66)
    );
    assert_eq!(last, data.len() as u64);
    // Another connection reads back what was written.
    drop(uds);
    let mut other = client(&sim);
    assert_eq!(other.upload(0x0001_0000, data.len() as u64).unwrap(), data);
}

/// Answers TransferData block `at` with `reply` instead; counts the TransferData requests.
struct Refusing {
    inner: Responder,
    at: u64,
    reply: UdsReply,
    blocks: Arc<Mutex<u64>>,
}

impl Refusing {
    fn new(at: u64, reply: UdsReply) -> (Self, Arc<Mutex<u64>>) {
        let blocks = Arc::new(Mutex::new(0));
        (Self { inner: Responder::new(VIN), at, reply, blocks: Arc::clone(&blocks) }, blocks)
    }
}

impl UdsHandler for Refusing {
    fn handle(&mut self, request: &[u8]) -> UdsReply {
        if request.first() == Some(&0x36) {
            let mut n = self.blocks.lock().unwrap();
            *n += 1;
            if *n == self.at {
                return self.reply.clone();
            }
        }
        self.inner.handle(request)
    }
}

fn two_segments() -> Image {
    Image::from_segments(vec![
        Segment { address: 0x0800_0000, data: (0..10_000u32).map(|i| i as u8).collect() },
        Segment { address: 0x0801_0000, data: vec![0xA5; 5000] },
    ])
    .unwrap()
}

#[test]
fn a_flash_with_security_and_two_segments_is_read_back_and_reported_step_by_step() {
    let sim = start(Responder::new(VIN).with_security(KEY, 3, Duration::from_secs(1)));
    let image = two_segments();
    let mut uds = client(&sim);
    let mut key = XorKey::from_u32(KEY);
    let mut seen: Vec<(&'static str, Option<usize>, u64)> = Vec::new();
    let flasher = Flasher::new(&image)
        .security(1, &mut key)
        .on_progress(|p| seen.push((p.step, p.segment, p.bytes_done)));
    assert_eq!(
        flasher.planned()[..2],
        [Step::Session(SessionType::Programming), Step::SecurityAccess(1)]
    );
    let report = flasher.run(&mut uds).unwrap();
    assert_eq!((report.bytes, report.segments), (15_000, 2));
    assert_eq!(report.blocks, 3 + 2); // 4093-byte blocks
    let steps: Vec<_> = seen.iter().map(|s| s.0).collect();
    for step in [
        "DiagnosticSessionControl",
        "SecurityAccess",
        "erase routine",
        "download",
        "check routine",
        "ECUReset",
    ] {
        assert!(steps.contains(&step), "{step} missing from {steps:?}");
    }
    assert!(seen.windows(2).all(|w| w[0].2 <= w[1].2), "progress goes forward");
    assert_eq!(seen.last().unwrap().2, 15_000);
    // The reset drops the connection; a new one reads both segments back.
    drop(uds);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut back = loop {
        match ClientBuilder::new(sim.tcp.ip(), ENGINE).tcp_port(sim.tcp.port()).connect() {
            Ok(c) => break UdsClient::with_options(c, options()),
            Err(e) => {
                assert!(Instant::now() < deadline, "{e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    for segment in image.segments() {
        assert_eq!(back.upload(segment.address, segment.data.len() as u64).unwrap(), segment.data);
    }
}

#[test]
fn a_negative_answer_mid_download_stops_the_flash_naming_segment_and_block_and_nothing_more_is_sent()
 {
    let (ecu, blocks) = Refusing::new(4, UdsReply::Respond(vec![0x7F, 0x36, 0x72]));
    let sim = start(ecu);
    let image = two_segments();
    let mut uds = client(&sim);
    let e = Flasher::new(&image).run(&mut uds).unwrap_err();
    match &e {
        Error::Step { step: "TransferData", segment: Some(1), block: Some(1), source } => {
            assert!(matches!(
                **source,
                Error::Negative { nrc: Nrc::GeneralProgrammingFailure, .. }
            ));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.nrc(), Some(Nrc::GeneralProgrammingFailure));
    assert_eq!(
        e.to_string(),
        "stopped at TransferData (segment 1, block 1): TransferData (0x36) refused: general programming failure (0x72)"
    );
    // Nothing after the refused block: no retry, no exit, no check.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(*blocks.lock().unwrap(), 4);
    assert_eq!(uds.session(), SessionType::Programming);
}

#[test]
fn one_connection_two_ecus_each_with_its_own_timing() {
    let mut sim = Simulator::new(&SimConfig::for_tests()).unwrap();
    sim.set_ecu(
        ENGINE,
        "engine",
        Box::new(Responder::new(VIN).with_p2(Duration::from_millis(20), Duration::from_secs(3))),
    );
    sim.set_ecu(BRAKES, "brakes", Box::new(Responder::new(b"BRAKES")));
    let sim = sim.spawn().unwrap();
    let mut client = connect(&sim);
    let engine = UdsClient::new(EcuChannel::new(&mut client, ENGINE))
        .session_control(SessionType::Extended)
        .unwrap();
    assert_eq!(engine.timing.unwrap().p2_star, Duration::from_secs(3));
    let mut brakes = UdsClient::new(EcuChannel::new(&mut client, BRAKES));
    assert_eq!(brakes.read_data_by_identifier(0xF190).unwrap(), b"BRAKES");
}

#[test]
fn a_lost_answer_mid_download_is_reported_and_the_block_never_sent_again() {
    let (ecu, blocks) = Refusing::new(2, UdsReply::None);
    let sim = start(ecu);
    let image = two_segments();
    let mut uds = client(&sim);
    let started = Instant::now();
    let e = Flasher::new(&image).run(&mut uds).unwrap_err();
    match &e {
        Error::Step { step: "TransferData", segment: Some(0), block: Some(2), source } => {
            assert!(
                matches!(**source, Error::Doip(doip_client::Error::Timeout { .. })),
                "{source}"
            );
        }
        other => panic!("{other:?}"),
    }
    // P2 as the ECU announced it (50 ms) plus the margin (1 s), not the 2 s default.
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(*blocks.lock().unwrap(), 2, "block 2 was sent once, block 3 never");
}
