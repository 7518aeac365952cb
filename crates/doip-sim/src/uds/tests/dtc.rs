//! 19, 14 and 85.

use super::{Ecu, x};
use crate::uds::{Responder, UdsReply};

fn ecu() -> Ecu {
    Ecu::new(
        Responder::new(b"V")
            .with_dtc(0x12_3456, 0x2F)
            .with_dtc_snapshot(0x12_3456, 0x01, x("0A 0B"))
            .with_dtc_snapshot(0x12_3456, 0x02, x("0C"))
            .with_dtc_extended(0x12_3456, 0x01, x("05"))
            .with_dtc(0x23_4567, 0x24)
            .with_dtc(0x34_5678, 0x08),
    )
}

#[test]
fn count_and_list_by_status_mask() {
    let mut e = ecu();
    e.check("19 01 FF", "59 01 FF 01 00 03");
    e.check("19 01 01", "59 01 FF 01 00 01");
    e.check("19 01 08", "59 01 FF 01 00 02");
    e.check("19 01 40", "59 01 FF 01 00 00");
    e.check("19 02 FF", "59 02 FF 12 34 56 2F 23 45 67 24 34 56 78 08");
    e.check("19 02 04", "59 02 FF 12 34 56 2F 23 45 67 24");
    e.check("19 02 40", "59 02 FF");
    e.check("19 0A", "59 0A FF 12 34 56 2F 23 45 67 24 34 56 78 08");
    // The availability mask hides unsupported bits.
    let mut e =
        Ecu::new(Responder::new(b"V").with_dtc(0x12_3456, 0x2F).with_dtc_availability_mask(0x09));
    e.check("19 02 FF", "59 02 09 12 34 56 09");
    e.check("19 01 02", "59 01 09 01 00 00");
}

#[test]
fn snapshot_and_extended_records() {
    let mut e = ecu();
    e.check("19 04 12 34 56 01", "59 04 12 34 56 2F 01 0A 0B");
    e.check("19 04 12 34 56 FF", "59 04 12 34 56 2F 01 0A 0B 02 0C");
    e.check("19 04 23 45 67 FF", "59 04 23 45 67 24");
    e.check("19 04 12 34 56 03", "7F 19 31");
    e.check("19 04 99 99 99 01", "7F 19 31");
    e.check("19 06 12 34 56 01", "59 06 12 34 56 2F 01 05");
    e.check("19 06 12 34 56 FF", "59 06 12 34 56 2F 01 05");
    e.check("19 06 12 34 56 02", "7F 19 31");
}

#[test]
fn read_dtc_information_refusals() {
    let mut e = ecu();
    e.check("19", "7F 19 13");
    e.check("19 01", "7F 19 13");
    e.check("19 02 FF 00", "7F 19 13");
    e.check("19 04 12 34 56", "7F 19 13");
    e.check("19 0A 00", "7F 19 13");
    e.check("19 03", "7F 19 12");
    e.check("19 81 FF", "7F 19 12");
}

#[test]
fn clear_all_or_one() {
    let mut e = ecu();
    e.check("14 12 34 56", "54");
    assert_eq!(e.r.dtc_status(0x12_3456), Some(0));
    e.check("19 02 FF", "59 02 FF 23 45 67 24 34 56 78 08");
    e.check("19 0A", "59 0A FF 12 34 56 00 23 45 67 24 34 56 78 08");
    e.check("19 04 12 34 56 01", "59 04 12 34 56 00 01 0A 0B");
    e.check("14 99 99 99", "7F 14 31");
    e.check("14 FF FF", "7F 14 13");
    e.check("14 FF FF FF 00", "7F 14 13");
    e.check("14 FF FF FF", "54");
    e.check("19 01 FF", "59 01 FF 01 00 00");
}

#[test]
fn control_dtc_setting() {
    let mut e = ecu();
    e.check("85 02", "7F 85 7F");
    e.check("10 03", "50 03 00 32 01 F4");
    e.check("85 02", "C5 02");
    assert!(!e.r.dtc_setting_on());
    e.check("85 01 FF FF FF", "C5 01");
    assert!(e.r.dtc_setting_on());
    assert_eq!(e.reply(x("85 82")), UdsReply::None);
    assert!(!e.r.dtc_setting_on());
    e.check("85 03", "7F 85 12");
    e.check("85", "7F 85 13");
    e.check("10 01", "50 01 00 32 01 F4");
    assert!(e.r.dtc_setting_on(), "the default session turns it back on");
}
