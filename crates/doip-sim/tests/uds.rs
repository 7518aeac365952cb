//! The built-in ECUs over real loopback sockets, as a UDS client sees them: the memory
//! belongs to the ECU (not the connection), and functional requests get no "not supported"
//! answers.
#![allow(clippy::unwrap_used)] // test helpers fail loudly

use std::time::{Duration, Instant};

use doip_proto::{
    DiagnosticMessage, LogicalAddress, Message, RoutingActivationRequest,
    RoutingActivationResponseCode as Code,
};
use doip_sim::{SimConfig, SimHandle, Simulator};
use doip_transport::{Blocking, ConnectOptions, Error, Handle};

const TESTER: LogicalAddress = LogicalAddress(0x0E00);
const ENGINE: LogicalAddress = LogicalAddress(0x4011);
const FUNCTIONAL: LogicalAddress = LogicalAddress(0xE400);

fn after(ms: u64) -> Instant {
    Instant::now().checked_add(Duration::from_millis(ms)).unwrap()
}

/// A tester connection with routing activated.
fn connect(sim: &SimHandle) -> (Blocking, Handle) {
    let mut t = Blocking::new().unwrap();
    let h = t.connect(sim.tcp, ConnectOptions::default()).unwrap();
    t.send(h, &RoutingActivationRequest::new(TESTER).into()).unwrap();
    match t.recv_frame(h, after(5000)).unwrap().message {
        Message::RoutingActivationResponse(r) => assert_eq!(r.response_code, Code::Success),
        other => panic!("{other}"),
    }
    (t, h)
}

/// Sends `request` to `target` and takes the diagnostic ACK.
fn send(t: &mut Blocking, h: Handle, target: LogicalAddress, request: &[u8]) {
    t.send(h, &DiagnosticMessage::new(TESTER, target, request.to_vec()).into()).unwrap();
    let ack = t.recv_frame(h, after(5000)).unwrap();
    assert!(matches!(ack.message, Message::DiagnosticMessagePositiveAck(_)), "{}", ack.message);
}

/// The next UDS answer: its source and bytes; None when nothing comes within `ms`.
fn next_answer(t: &mut Blocking, h: Handle, ms: u64) -> Option<(u16, Vec<u8>)> {
    match t.recv_frame(h, after(ms)) {
        Ok(f) => match f.message {
            Message::DiagnosticMessage(m) => Some((m.source_address.0, m.user_data.to_vec())),
            other => panic!("expected a UDS answer, got {other}"),
        },
        Err(Error::Timeout { .. }) => None,
        Err(e) => panic!("{e}"),
    }
}

fn uds(t: &mut Blocking, h: Handle, request: &[u8]) -> Vec<u8> {
    send(t, h, ENGINE, request);
    let (source, answer) = next_answer(t, h, 5000).unwrap();
    assert_eq!(source, ENGINE.0);
    answer
}

#[test]
fn memory_outlives_the_connection_and_the_reset() {
    let sim = Simulator::new(&SimConfig::for_tests()).unwrap().spawn().unwrap();
    let image: Vec<u8> =
        (0..10_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let crc = crc32fast::hash(&image).to_be_bytes();
    let (mut t, h) = connect(&sim);
    // Download to 0x0800_0000 in 4093-byte blocks.
    let size = u32::try_from(image.len()).unwrap().to_be_bytes();
    let request = [&[0x34, 0x00, 0x44, 0x08, 0, 0, 0][..], &size].concat();
    assert_eq!(uds(&mut t, h, &request), [0x74, 0x20, 0x0F, 0xFF]);
    for (i, block) in image.chunks(4093).enumerate() {
        let counter = u8::try_from(i + 1).unwrap();
        assert_eq!(uds(&mut t, h, &[&[0x36, counter][..], block].concat()), [0x76, counter]);
    }
    assert_eq!(uds(&mut t, h, &[0x37]), [&[0x77][..], &crc].concat());
    t.close(h).unwrap();
    drop(t);

    // Another connection uploads the same bytes and checks the CRC.
    let (mut t, h) = connect(&sim);
    let request = [&[0x35, 0x00, 0x44, 0x08, 0, 0, 0][..], &size].concat();
    assert_eq!(uds(&mut t, h, &request), [0x75, 0x20, 0x0F, 0xFF]);
    let mut back = Vec::new();
    for counter in 1u8.. {
        if back.len() == image.len() {
            break;
        }
        let block = uds(&mut t, h, &[0x36, counter]);
        assert_eq!(block[..2], [0x76, counter]);
        back.extend_from_slice(&block[2..]);
    }
    assert_eq!(back, image);
    assert_eq!(uds(&mut t, h, &[0x37]), [&[0x77][..], &crc].concat());
    let check = [&[0x31, 0x01, 0xFF, 0x01][..], &crc].concat();
    assert_eq!(uds(&mut t, h, &check), [0x71, 0x01, 0xFF, 0x01, 0x00]);

    // An ECU reset drops the connection; the memory stays.
    assert_eq!(uds(&mut t, h, &[0x11, 0x01]), [0x51, 0x01]);
    assert!(matches!(t.recv_frame(h, after(5000)), Err(Error::ClosedByPeer { .. })));
    std::thread::sleep(Duration::from_millis(400));
    let (mut t, h) = connect(&sim);
    let answer = uds(&mut t, h, &[0x23, 0x24, 0x08, 0, 0x26, 0xFE, 0x00, 0x20]);
    assert_eq!(answer, [&[0x63][..], &image[0x26FE..], &[0xFF; 0x20 - 18][..]].concat());
}

#[test]
fn functional_requests_get_no_not_supported_answers() {
    let sim = Simulator::new(&SimConfig::for_tests()).unwrap().spawn().unwrap();
    let (mut t, h) = connect(&sim);
    // An unsupported service: every ECU stays silent (no 7F 86 11).
    send(&mut t, h, FUNCTIONAL, &[0x86, 0x00]);
    assert_eq!(next_answer(&mut t, h, 300), None);
    // A DID only engine and brakes have: the gateway stays silent (no 7F 22 31).
    send(&mut t, h, FUNCTIONAL, &[0x22, 0xF1, 0x87]);
    let mut answers =
        vec![next_answer(&mut t, h, 5000).unwrap(), next_answer(&mut t, h, 5000).unwrap()];
    answers.sort();
    assert_eq!(
        answers,
        [
            (0x4011, [&[0x62, 0xF1, 0x87][..], b"ENGINE-0001"].concat()),
            (0x4012, [&[0x62, 0xF1, 0x87][..], b"BRAKES-0001"].concat()),
        ]
    );
    assert_eq!(next_answer(&mut t, h, 300), None);
    // A service refused in the default session (7F 28 7F) is silent too.
    send(&mut t, h, FUNCTIONAL, &[0x28, 0x00, 0x01]);
    assert_eq!(next_answer(&mut t, h, 300), None);
    // Physically addressed, the same requests are refused aloud.
    assert_eq!(uds(&mut t, h, &[0x86, 0x00]), [0x7F, 0x86, 0x11]);
    assert_eq!(uds(&mut t, h, &[0x28, 0x00, 0x01]), [0x7F, 0x28, 0x7F]);
}
