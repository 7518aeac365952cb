//! 10, 3E, 11, 28, S3 and the suppress-positive-response bit.

use super::{Ecu, x};
use crate::uds::{Addressing, Responder, UdsHandler, UdsReply};
use std::time::Duration;

#[test]
fn session_control_reports_p2_and_p2_star() {
    let mut e = Ecu::default();
    e.check("10 01", "50 01 00 32 01 F4");
    e.check("10 02", "50 02 00 32 01 F4");
    e.check("10 03", "50 03 00 32 01 F4");
    e.check("10 04", "50 04 00 32 01 F4");
    e.check("10 05", "7F 10 12");
    e.check("10 00", "7F 10 12");
    e.check("10", "7F 10 13");
    e.check("10 03 00", "7F 10 13");
    assert_eq!(e.r.session(), 0x04, "refusals do not change the session");
    let mut e =
        Ecu::new(Responder::new(b"V").with_p2(Duration::from_millis(25), Duration::from_secs(2)));
    e.check("10 03", "50 03 00 19 00 C8");
    let mut e = Ecu::new(
        Responder::new(b"V").with_p2(Duration::from_secs(100), Duration::from_secs(1_000_000)),
    );
    e.check("10 03", "50 03 FF FF FF FF");
}

#[test]
fn suppress_bit_silences_positive_answers_only() {
    let mut e = Ecu::default();
    assert_eq!(e.reply(x("10 83")), UdsReply::None);
    assert_eq!(e.r.session(), 0x03);
    e.check("10 85", "7F 10 12");
    assert_eq!(e.reply(x("3E 80")), UdsReply::None);
    e.check("3E 81", "7F 3E 12");
    assert!(matches!(e.reply(x("11 81")), UdsReply::SilentReset { .. }));
    assert_eq!(e.r.session(), 0x01);
}

#[test]
fn tester_present() {
    let mut e = Ecu::default();
    e.check("3E 00", "7E 00");
    e.check("3E 01", "7F 3E 12");
    e.check("3E", "7F 3E 13");
    e.check("3E 00 00", "7F 3E 13");
}

#[test]
fn s3_expiry_falls_back_to_the_default_session() {
    let mut e = Ecu::new(Responder::new(b"V").with_s3(Duration::from_millis(100)));
    e.check("10 03", "50 03 00 32 01 F4");
    e.check("28 00 01", "68 00");
    // Requests restart S3, suppressed TesterPresent included.
    for _ in 0..5 {
        e.advance(90);
        assert_eq!(e.reply(x("3E 80")), UdsReply::None);
    }
    e.check("28 01 01", "68 01");
    assert_eq!(e.r.communication(), (0x01, 0x01));
    e.advance(100);
    e.check("28 00 01", "7F 28 7F");
    assert_eq!(e.r.session(), 0x01);
    assert_eq!(e.r.communication(), (0x00, 0x03), "back to normal communication");
    e.check("22 F1 86", "62 F1 86 01");
}

#[test]
fn s3_with_the_real_clock() {
    let mut r = Responder::new(b"V").with_s3(Duration::from_millis(50));
    assert!(matches!(r.handle(&[0x10, 0x02]), UdsReply::Respond(_)));
    assert_eq!(r.session(), 0x02);
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(r.session(), 0x01);
    assert_eq!(r.handle(&[0x28, 0x00, 0x01]), UdsReply::Respond(vec![0x7F, 0x28, 0x7F]));
}

#[test]
fn ecu_reset() {
    let mut e = Ecu::default();
    e.check("10 03", "50 03 00 32 01 F4");
    for kind in [1u8, 2, 3] {
        assert!(matches!(
            e.reply([0x11, kind]),
            UdsReply::Reset { response, .. } if response == [0x51, kind]
        ));
    }
    assert_eq!(e.r.session(), 0x01);
    e.check("11 04", "7F 11 12");
    e.check("11", "7F 11 13");
    e.check("11 01 00", "7F 11 13");
}

#[test]
fn communication_control() {
    let mut e = Ecu::default();
    e.check("28 00 01", "7F 28 7F");
    e.check("10 03", "50 03 00 32 01 F4");
    e.check("28 03 03", "68 03");
    assert_eq!(e.r.communication(), (0x03, 0x03));
    e.check("28 00 02", "68 00");
    assert_eq!(e.reply(x("28 81 01")), UdsReply::None);
    assert_eq!(e.r.communication(), (0x01, 0x01));
    e.check("28 04 01", "7F 28 12");
    e.check("28 00 00", "7F 28 31");
    e.check("28 00 04", "7F 28 31");
    e.check("28 00", "7F 28 13");
    e.check("28", "7F 28 13");
    e.check("28 00 01 00", "7F 28 13");
    e.check("10 01", "50 01 00 32 01 F4");
    assert_eq!(e.r.communication(), (0x00, 0x03));
}

#[test]
fn functional_requests_get_no_unsupported_nrcs() {
    let mut r = Responder::new(b"V");
    let f = Addressing::Functional;
    assert_eq!(r.handle_addressed(&[0x3E, 0x00], f), UdsReply::Respond(vec![0x7E, 0x00]));
    assert_eq!(r.handle_addressed(&[0x99], f), UdsReply::None, "0x11");
    assert_eq!(r.handle_addressed(&[0x10, 0x09], f), UdsReply::None, "0x12");
    assert_eq!(r.handle_addressed(&[0x22, 0x12, 0x34], f), UdsReply::None, "0x31");
    assert_eq!(r.handle_addressed(&[0x28, 0x00, 0x01], f), UdsReply::None, "0x7F");
    assert_eq!(
        r.handle_addressed(&[0x10], f),
        UdsReply::Respond(vec![0x7F, 0x10, 0x13]),
        "other NRCs are sent"
    );
    assert_eq!(
        r.handle_addressed(&[0x99], Addressing::Physical),
        UdsReply::Respond(vec![0x7F, 0x99, 0x11])
    );
    assert_eq!(UdsReply::Respond(vec![0x7F, 0x31, 0x7E]).for_functional(), UdsReply::None);
}
