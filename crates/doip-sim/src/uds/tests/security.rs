//! 27: seeds, keys, wrong keys and the delay.

use std::time::Duration;

use super::{Ecu, x};
use crate::uds::{Responder, UdsHandler};

/// The seed of a `67 odd seed` answer.
fn seed(answer: &[u8]) -> u32 {
    u32::from_be_bytes(answer[2..6].try_into().unwrap())
}

fn send_key(e: &mut Ecu, sub: u8, key: u32) -> Vec<u8> {
    e.ask_bytes(&[&[0x27, sub][..], &key.to_be_bytes()].concat())
}

#[test]
fn seed_and_key_unlock_a_level() {
    let mut e = Ecu::default();
    e.check("27 01", "7F 27 7F");
    e.check("10 03", "50 03 00 32 01 F4");
    let a = e.ask("27 01");
    assert_eq!(a[..2], [0x67, 0x01]);
    assert_eq!(a.len(), 6);
    assert_ne!(seed(&a), 0);
    let b = e.ask("27 01");
    assert_ne!(seed(&a), seed(&b), "a fresh seed per request");
    assert_eq!(send_key(&mut e, 0x02, seed(&b) ^ 0x5A5A_A5A5), [0x67, 0x02]);
    assert_eq!(e.r.security_level(), Some(1));
    e.check("27 01", "67 01 00 00 00 00");
    e.check("27 02 00 00 00 00", "7F 27 24");
    assert_eq!(e.r.security_level(), Some(1), "unlocked stays");
    // Level 2 (27 03 / 27 04) is its own.
    let c = e.ask("27 03");
    assert_eq!(send_key(&mut e, 0x04, seed(&c) ^ 0x5A5A_A5A5), [0x67, 0x04]);
    assert_eq!(e.r.security_level(), Some(2));
    // A session change locks again.
    e.check("10 03", "50 03 00 32 01 F4");
    assert_eq!(e.r.security_level(), None);
    assert_ne!(seed(&e.ask("27 01")), 0);
}

#[test]
fn key_rules() {
    let mut e =
        Ecu::new(Responder::new(b"V").with_security(0x0102_0304, 3, Duration::from_secs(1)));
    e.check("10 02", "50 02 00 32 01 F4");
    e.check("27 02 00 00 00 00", "7F 27 24");
    e.check("27", "7F 27 13");
    e.check("27 00", "7F 27 12");
    e.check("27 7F", "7F 27 12");
    e.ask("27 01");
    e.check("27 02 00 00", "7F 27 13");
    assert_eq!(send_key(&mut e, 0x04, 0), [0x7F, 0x27, 0x24], "key of another level");
    e.check("27 02 00 00 00 00", "7F 27 24"); // that attempt used the seed up
    let b = seed(&e.ask("27 01"));
    assert_eq!(send_key(&mut e, 0x02, b ^ 0x0102_0304), [0x67, 0x02]);
    e.advance(5000);
    e.check("3E 00", "7E 00");
    assert_eq!(e.r.security_level(), None, "S3 locks");
    e.check("27 01", "7F 27 7F");
    e.check("10 03", "50 03 00 32 01 F4");
    let b = seed(&e.ask("27 01"));
    assert_eq!(send_key(&mut e, 0x02, b ^ 0x0102_0304), [0x67, 0x02]);
    // Reset and S3 lock too.
    assert!(matches!(e.reply(x("11 01")), crate::UdsReply::Reset { .. }));
    assert_eq!(e.r.security_level(), None);
}

#[test]
fn too_many_wrong_keys_start_the_delay() {
    let mut e =
        Ecu::new(Responder::new(b"V").with_security(0x5A5A_A5A5, 3, Duration::from_millis(500)));
    e.check("10 03", "50 03 00 32 01 F4");
    for attempt in 1..=3 {
        let s = seed(&e.ask("27 01"));
        let expected: &[u8] = if attempt < 3 { &[0x7F, 0x27, 0x35] } else { &[0x7F, 0x27, 0x36] };
        assert_eq!(send_key(&mut e, 0x02, !(s ^ 0x5A5A_A5A5)), expected, "attempt {attempt}");
    }
    e.check("27 01", "7F 27 37");
    e.advance(499);
    e.check("27 01", "7F 27 37");
    e.check("27 02 00 00 00 00", "7F 27 37");
    e.check("10 03", "50 03 00 32 01 F4");
    e.advance(1);
    // Over: the count starts again (two wrong keys are allowed before the third locks).
    for _ in 0..2 {
        let s = seed(&e.ask("27 01"));
        assert_eq!(send_key(&mut e, 0x02, !(s ^ 0x5A5A_A5A5)), [0x7F, 0x27, 0x35]);
    }
    let s = seed(&e.ask("27 01"));
    assert_eq!(send_key(&mut e, 0x02, s ^ 0x5A5A_A5A5), [0x67, 0x02]);
}

#[test]
fn the_delay_with_the_real_clock() {
    let mut r = Responder::new(b"V").with_security(0, 1, Duration::from_millis(50));
    let answer = |r: &mut Responder, req: &[u8]| match r.handle(req) {
        crate::UdsReply::Respond(v) => v,
        other => panic!("{other:?}"),
    };
    answer(&mut r, &[0x10, 0x03]);
    let s = seed(&answer(&mut r, &[0x27, 0x01]));
    assert_eq!(
        answer(&mut r, &[&[0x27, 0x02][..], &(!s).to_be_bytes()].concat()),
        [0x7F, 0x27, 0x36]
    );
    assert_eq!(answer(&mut r, &[0x27, 0x01]), [0x7F, 0x27, 0x37]);
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(answer(&mut r, &[0x27, 0x01])[..2], [0x67, 0x01]);
}
