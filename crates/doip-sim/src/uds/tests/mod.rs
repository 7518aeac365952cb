//! The responder's answers, byte vectors in and out, one module per group of services; the
//! clock is moved by hand ([`Responder::handle_at`]) so S3 and security delays need no sleep.

use std::time::{Duration, Instant};

use super::*;

mod data;
mod dtc;
mod memory;
mod routine;
mod security;
mod session;
mod transfer;

/// Hex text ("50 03 00 32") as bytes.
fn x(hex: &str) -> Vec<u8> {
    let digits: Vec<u8> = hex.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// A responder and its clock.
struct Ecu {
    r: Responder,
    now: Instant,
}

impl Ecu {
    fn new(r: Responder) -> Self {
        Self { r, now: Instant::now() }
    }

    /// The default responder of the tests.
    fn default() -> Self {
        Self::new(Responder::new(b"WDOIPRS0000000001"))
    }

    /// The reply to `request` (hex text or bytes) at the current clock.
    fn reply(&mut self, request: impl AsRef<[u8]>) -> UdsReply {
        self.r.handle_at(request.as_ref(), self.now)
    }

    /// The answer to `request` (hex text), panicking on anything but an answer.
    fn ask(&mut self, request: &str) -> Vec<u8> {
        self.ask_bytes(&x(request))
    }

    fn ask_bytes(&mut self, request: &[u8]) -> Vec<u8> {
        match self.reply(request) {
            UdsReply::Respond(v) => v,
            other => panic!("{request:02x?}: {other:?}"),
        }
    }

    /// Asserts that `request` (hex text) gets `answer` (hex text).
    #[track_caller]
    fn check(&mut self, request: &str, answer: &str) {
        assert_eq!(self.ask(request), x(answer), "{request}");
    }

    fn advance(&mut self, ms: u64) {
        self.now = self.now.checked_add(Duration::from_millis(ms)).unwrap();
    }
}

fn respond(r: &mut Responder, req: &[u8]) -> Vec<u8> {
    match r.handle(req) {
        UdsReply::Respond(v) => v,
        other => panic!("{req:02x?}: {other:?}"),
    }
}

#[test]
fn services() {
    let mut r = Responder::new(b"WDOIPRS0000000001")
        .with_did(0xF187, b"P1".to_vec())
        .with_routine(0xFF00, vec![0]);
    assert_eq!(respond(&mut r, &[0x3E, 0x00]), [0x7E, 0x00]);
    assert_eq!(r.handle(&[0x3E, 0x80]), UdsReply::None);
    assert_eq!(respond(&mut r, &[0x10, 0x03]), [0x50, 0x03, 0x00, 0x32, 0x01, 0xF4]);
    assert_eq!(respond(&mut r, &[0x10, 0x7F]), [0x7F, 0x10, 0x12]);
    let mut vin = vec![0x62, 0xF1, 0x90];
    vin.extend_from_slice(b"WDOIPRS0000000001");
    assert_eq!(respond(&mut r, &[0x22, 0xF1, 0x90]), vin);
    assert_eq!(
        respond(&mut r, &[0x22, 0xF1, 0x87, 0xF1, 0x87]),
        [0x62, 0xF1, 0x87, b'P', b'1', 0xF1, 0x87, b'P', b'1']
    );
    assert_eq!(respond(&mut r, &[0x22, 0x12, 0x34]), [0x7F, 0x22, 0x31]);
    assert_eq!(respond(&mut r, &[0x31, 0x01, 0xFF, 0x00]), [0x71, 0x01, 0xFF, 0x00, 0x00]);
    assert_eq!(respond(&mut r, &[0x31, 0x01, 0x12, 0x34]), [0x7F, 0x31, 0x31]);
    assert_eq!(respond(&mut r, &[0x86, 0x01]), [0x7F, 0x86, 0x11]);
    assert!(
        matches!(r.handle(&[0x11, 0x01]), UdsReply::Reset { response, .. } if response == [0x51, 0x01])
    );
}

#[test]
fn download_checks_counters_and_reports_the_crc() {
    let mut r = Responder::new(b"WDOIPRS0000000001");
    assert_eq!(respond(&mut r, &[0x36, 0x01, 0xAA]), [0x7F, 0x36, 0x24], "no download yet");
    // 0x44: 4-byte address, 4-byte size; 300 bytes.
    assert_eq!(
        respond(&mut r, &[0x34, 0x00, 0x44, 0, 0, 0, 0, 0, 0, 0x01, 0x2C]),
        [0x74, 0x20, 0x0F, 0xFF]
    );
    let data: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    assert_eq!(respond(&mut r, &[&[0x36, 0x01][..], &data[..100]].concat()), [0x76, 0x01]);
    assert_eq!(
        respond(&mut r, &[&[0x36, 0x01][..], &data[..100]].concat()),
        [0x76, 0x01],
        "repeat ignored"
    );
    assert_eq!(respond(&mut r, &[&[0x36, 0x03][..], &data[100..200]].concat()), [0x7F, 0x36, 0x73]);
    assert_eq!(respond(&mut r, &[&[0x36, 0x02][..], &data[100..]].concat()), [0x76, 0x02]);
    let crc = crc32fast::hash(&data).to_be_bytes();
    assert_eq!(respond(&mut r, &[0x37]), [0x77, crc[0], crc[1], crc[2], crc[3]]);
    assert_eq!(r.last_download_crc(), Some(crc32fast::hash(&data)));
    assert_eq!(respond(&mut r, &[0x37]), [0x7F, 0x37, 0x24]);
}

#[test]
fn pending_wraps_positive_answers_only() {
    let mut r = Responder::new(b"V").with_pending(0x22, 2, Duration::from_millis(10));
    assert!(matches!(r.handle(&[0x22, 0xF1, 0x90]), UdsReply::Pending { count: 2, .. }));
    assert_eq!(respond(&mut r, &[0x22, 0x00, 0x01]), [0x7F, 0x22, 0x31]);
}
