//! 31: configured routines, erase (FF00) and check (FF01).

use super::{Ecu, x};
use crate::uds::Responder;

#[test]
fn configured_routines() {
    let mut e = Ecu::new(Responder::new(b"V").with_routine(0x0203, x("00 11")));
    e.check("31 03 02 03", "7F 31 24");
    e.check("31 01 02 03", "71 01 02 03 00 11");
    e.check("31 01 02 03 AA BB", "71 01 02 03 00 11");
    e.check("31 03 02 03", "71 03 02 03 00 11");
    e.check("31 02 02 03", "71 02 02 03");
    e.check("31 02 FF 00", "71 02 FF 00");
    e.check("31 01 12 34", "7F 31 31");
    e.check("31 04 02 03", "7F 31 12");
    e.check("31 00 02 03", "7F 31 12");
    e.check("31 01 02", "7F 31 13");
    e.check("31", "7F 31 13");
    assert_eq!(e.reply(x("31 81 02 03")), crate::UdsReply::None);
}

#[test]
fn erase_reads_back_ff() {
    let mut e = Ecu::default();
    let _ = e.ask_bytes(&[&x("3D 14 00 00 0F F0 40")[..], &[0xAA; 0x40]].concat());
    let _ = e.ask_bytes(&[&x("3D 24 00 00 20 00 20 00")[..], &vec![0xBB; 0x2000]].concat());
    assert_eq!(e.r.memory_pages(), 4);
    // 0x0FF8..0x3008: the partial pages 0 and 3 filled, the whole pages 1 and 2 freed.
    e.check("31 01 FF 00 44 00 00 0F F8 00 00 20 10", "71 01 FF 00 00");
    e.check("31 03 FF 00", "71 03 FF 00 00");
    assert_eq!(e.r.read_memory(0x0FF0, 0x10), Some([vec![0xAA; 8], vec![0xFF; 8]].concat()));
    assert_eq!(e.r.read_memory(0x3008, 8), Some(vec![0xBB; 8]));
    assert_eq!(e.r.read_memory(0x2000, 0x1008), Some(vec![0xFF; 0x1008]));
    assert_eq!(e.r.memory_pages(), 2);
    e.check("23 12 30 00 02", "63 FF FF");
    // The whole 256 MiB: only written pages are visited.
    let _ = e.ask("3D 11 20 01 AA");
    e.check("31 01 FF 00 44 00 00 00 00 10 00 00 00", "71 01 FF 00 00");
    assert_eq!(e.r.memory_pages(), 0);
    let _ = e.ask("3D 11 20 01 AA");
    // No range: everything.
    e.check("31 01 FF 00", "71 01 FF 00 00");
    assert_eq!(e.r.memory_pages(), 0);
    e.check("23 12 30 08 02", "63 FF FF");
}

#[test]
fn erase_refusals() {
    let mut e = Ecu::new(Responder::new(b"V").with_memory(0x1000, 0x1000));
    e.check("31 01 FF 00 44 00 00 0F FF 00 00 00 02", "7F 31 31");
    e.check("31 01 FF 00 44 00 00 10 00 00 00 10 01", "7F 31 31");
    e.check("31 01 FF 00 44 00 00 10 00 00 00 00 00", "7F 31 31");
    e.check("31 01 FF 00 04 00 00 10 00", "7F 31 31");
    e.check("31 01 FF 00 44 00 00 10 00 00 00", "7F 31 13");
    e.check("31 01 FF 00 44 00 00 10 00 00 00 00 01 00", "7F 31 13");
    e.check("31 03 FF 00", "7F 31 24");
}

#[test]
fn check_compares_with_the_last_download() {
    let mut e = Ecu::default();
    e.check("31 01 FF 01", "7F 31 24");
    e.check("31 01 FF 01 00 00 00 00", "7F 31 24");
    e.check("34 00 11 00 03", "74 20 0F FF");
    e.check("36 01 01 02 03", "76 01");
    e.check("31 01 FF 01", "7F 31 24");
    e.check("37", "77 55 BC 80 1D");
    assert_eq!(crc32fast::hash(&[1, 2, 3]), 0x55BC_801D);
    e.check("31 01 FF 01 55 BC 80 1D", "71 01 FF 01 00");
    e.check("31 03 FF 01", "71 03 FF 01 00");
    e.check("31 01 FF 01 55 BC 80 1E", "71 01 FF 01 01");
    e.check("31 03 FF 01", "71 03 FF 01 01");
    e.check("31 01 FF 01", "71 01 FF 01 00 55 BC 80 1D");
    e.check("31 01 FF 01 55 BC 80", "7F 31 13");
    // A routine configured with the identifier replaces the built-in one.
    let mut e = Ecu::new(Responder::new(b"V").with_routine(0xFF01, x("07")));
    e.check("31 01 FF 01", "71 01 FF 01 07");
}
