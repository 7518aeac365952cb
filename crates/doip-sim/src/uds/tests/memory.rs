//! The sparse memory, 23 and 3D.

use super::{Ecu, x};
use crate::uds::Responder;

#[test]
fn unwritten_memory_reads_erased() {
    let mut e = Ecu::default();
    e.check("23 14 00 00 10 00 04", "63 FF FF FF FF");
    assert_eq!(e.r.memory_pages(), 0);
}

#[test]
fn write_then_read_by_address() {
    let mut e = Ecu::default();
    // Across a page boundary (0x0FFE..0x1002).
    e.check("3D 12 0F FE 04 01 02 03 04", "7D 12 0F FE 04");
    assert_eq!(e.r.memory_pages(), 2);
    e.check("23 12 0F FD 06", "63 FF 01 02 03 04 FF");
    e.check("23 44 00 00 0F FE 00 00 00 02", "63 01 02");
    assert_eq!(e.r.read_memory(0x0FFF, 2), Some(x("02 03")));
    // 8-byte address and size.
    e.check("23 88 00 00 00 00 00 00 10 00 00 00 00 00 00 00 00 02", "63 03 04");
}

#[test]
fn memory_refusals() {
    let mut e = Ecu::new(Responder::new(b"V").with_memory(0x0800_0000, 0x1000));
    e.check("23 44 08 00 00 00 00 00 00 04", "63 FF FF FF FF");
    e.check("23 44 07 FF FF FF 00 00 00 04", "7F 23 31");
    e.check("23 44 08 00 0F FE 00 00 00 04", "7F 23 31");
    e.check("23 44 08 00 00 00 00 00 00 00", "7F 23 31");
    e.check("23 88 FF FF FF FF FF FF FF FF 00 00 00 00 00 00 00 02", "7F 23 31");
    e.check("23 04 08 00 00 00 04", "7F 23 31");
    e.check("23 40 00 00 00 04", "7F 23 31");
    e.check("23 94 08 00 00 00 00 00 00 00 04", "7F 23 31");
    e.check("23 44 08 00 00 00 00 00 00", "7F 23 13");
    e.check("23 44 08 00 00 00 00 00 00 04 00", "7F 23 13");
    e.check("23", "7F 23 13");
    // One answer holds at most maxNumberOfBlockLength - 1 bytes.
    assert_eq!(e.ask("23 24 08 00 00 00 0F FE").len(), 0x0FFF);
    e.check("23 24 08 00 00 00 0F FF", "7F 23 14");
    e.check("3D 44 08 00 00 00 00 00 00 02 AA", "7F 3D 13");
    e.check("3D 44 08 00 00 00 00 00 00 02 AA BB CC", "7F 3D 13");
    e.check("3D 44 08 00 10 00 00 00 00 01 AA", "7F 3D 31");
    e.check("3D 00 08", "7F 3D 31");
    e.check("3D 44 08 00 00 00 00 00 00 02 AA BB", "7D 44 08 00 00 00 00 00 00 02");
    e.check("23 44 08 00 00 00 00 00 00 03", "63 AA BB FF");
}

#[test]
fn memory_writes_may_need_a_session_and_security() {
    let mut e = Ecu::new(Responder::new(b"V").with_download_requirements(Some(0x02), Some(0x01)));
    e.check("3D 11 00 01 AA", "7F 3D 7F");
    e.check("34 00 11 00 01", "7F 34 7F");
    e.check("31 01 FF 00", "7F 31 7F");
    e.check("10 02", "50 02 00 32 01 F4");
    e.check("3D 11 00 01 AA", "7F 3D 33");
    e.check("34 00 11 00 01", "7F 34 33");
    e.check("31 01 FF 00 11 00 01", "7F 31 33");
    let seed = e.ask("27 01");
    let key = u32::from_be_bytes(seed[2..6].try_into().unwrap()) ^ 0x5A5A_A5A5;
    assert_eq!(e.ask_bytes(&[&[0x27, 0x02][..], &key.to_be_bytes()].concat()), [0x67, 0x02]);
    e.check("3D 11 00 01 AA", "7D 11 00 01");
    e.check("34 00 11 00 01", "74 20 0F FF");
    // Reading needs neither.
    e.check("10 03", "50 03 00 32 01 F4");
    e.check("23 11 00 01", "63 AA");
    e.check("35 00 11 00 01", "75 20 0F FF");
}
