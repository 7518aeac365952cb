//! 22 and 2E.

use super::{Ecu, x};
use crate::uds::Responder;

fn ecu() -> Ecu {
    Ecu::new(
        Responder::new(b"WDOIPRS0000000001")
            .with_did(0xF187, b"P1".to_vec())
            .with_writable_did(0xF199, x("20 24 01 01")),
    )
}

#[test]
fn read_one_or_several_dids() {
    let mut e = ecu();
    let mut vin = x("62 F1 90");
    vin.extend_from_slice(b"WDOIPRS0000000001");
    assert_eq!(e.ask("22 F1 90"), vin);
    e.check("22 F1 87 F1 99", "62 F1 87 50 31 F1 99 20 24 01 01");
    e.check("22 F1 87 F1 87", "62 F1 87 50 31 F1 87 50 31");
    e.check("22 F1 86", "62 F1 86 01");
    e.check("10 03", "50 03 00 32 01 F4");
    e.check("22 F1 86 F1 87", "62 F1 86 03 F1 87 50 31");
    e.check("22 12 34", "7F 22 31");
    e.check("22 F1 87 12 34", "7F 22 31");
    e.check("22", "7F 22 13");
    e.check("22 F1", "7F 22 13");
    e.check("22 F1 87 F1", "7F 22 13");
}

#[test]
fn at_most_max_dids_per_read() {
    let mut e = ecu();
    let sixteen = "F1 87 ".repeat(16);
    assert_eq!(e.ask(&format!("22 {sixteen}")).len(), 1 + 16 * 4);
    e.check(&format!("22 {sixteen} F1 87"), "7F 22 13");
    let mut e = Ecu::new(Responder::new(b"V").with_max_dids_per_read(1));
    e.check("22 F1 90 F1 90", "7F 22 13");
    e.check("22 F1 90", "62 F1 90 56");
}

#[test]
fn write_then_read_back() {
    let mut e = ecu();
    e.check("2E F1 99 20 25 12 31", "7F 2E 7F");
    e.check("10 03", "50 03 00 32 01 F4");
    e.check("2E F1 99 20 25 12 31", "6E F1 99");
    e.check("22 F1 99", "62 F1 99 20 25 12 31");
    assert_eq!(e.r.did(0xF199), Some(&x("20 25 12 31")[..]));
    e.check("2E F1 99 20 25 12", "7F 2E 13");
    e.check("2E F1 99 20 25 12 31 00", "7F 2E 13");
    e.check("2E F1 99", "7F 2E 13");
    e.check("2E F1", "7F 2E 13");
    e.check("2E F1 87 50 32", "7F 2E 31");
    e.check("2E 12 34 00", "7F 2E 31");
    e.check("2E F1 86 01", "7F 2E 31");
    // Written values survive a reset (NVM).
    let _ = e.reply(x("11 01"));
    e.check("22 F1 99", "62 F1 99 20 25 12 31");
}
