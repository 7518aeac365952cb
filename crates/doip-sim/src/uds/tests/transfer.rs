//! 34, 35, 36 and 37.

use super::{Ecu, x};
use crate::uds::{Responder, UdsReply};

fn image(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 251) as u8).collect()
}

/// Downloads `data` to `address` in blocks of `block` bytes; returns the exit answer.
fn download(e: &mut Ecu, address: u32, data: &[u8], block: usize) -> Vec<u8> {
    let size = u32::try_from(data.len()).unwrap();
    let request = [&[0x34, 0x00, 0x44][..], &address.to_be_bytes(), &size.to_be_bytes()].concat();
    assert_eq!(e.ask_bytes(&request)[..2], [0x74, 0x20]);
    for (i, chunk) in data.chunks(block).enumerate() {
        let counter = ((i + 1) % 256) as u8;
        let transfer = [&[0x36, counter][..], chunk].concat();
        assert_eq!(e.ask_bytes(&transfer), [0x76, counter], "block {i}");
    }
    e.ask("37")
}

/// Uploads `len` bytes from `address`; returns the data and the exit answer.
fn upload(e: &mut Ecu, address: u32, len: u32) -> (Vec<u8>, Vec<u8>) {
    let request = [&[0x35, 0x00, 0x44][..], &address.to_be_bytes(), &len.to_be_bytes()].concat();
    let answer = e.ask_bytes(&request);
    assert_eq!(answer[..2], [0x75, 0x20]);
    let max = usize::from(u16::from_be_bytes([answer[2], answer[3]]));
    let mut data = Vec::new();
    let mut counter = 1u8;
    while data.len() < len as usize {
        let block = e.ask_bytes(&[0x36, counter]);
        assert_eq!(block[..2], [0x76, counter]);
        assert!(block.len() - 2 <= max - 2);
        data.extend_from_slice(&block[2..]);
        counter = counter.wrapping_add(1);
    }
    (data, e.ask("37"))
}

#[test]
fn download_writes_memory_and_upload_reads_it_back() {
    let mut e = Ecu::default();
    let data = image(10_000);
    let crc = crc32fast::hash(&data).to_be_bytes();
    assert_eq!(download(&mut e, 0x0800_0000, &data, 4093), [&[0x77][..], &crc].concat());
    assert_eq!(e.r.last_download_crc(), Some(crc32fast::hash(&data)));
    assert_eq!(e.r.read_memory(0x0800_0000, 10_000), Some(data.clone()));
    let (back, exit) = upload(&mut e, 0x0800_0000, 10_000);
    assert_eq!(back, data);
    assert_eq!(exit, [&[0x77][..], &crc].concat());
    // An upload's last block is shorter: 10_000 = 4093 + 4093 + 1814.
    let (part, _) = upload(&mut e, 0x0800_0000 + 9_990, 20);
    assert_eq!(part[..10], data[9_990..]);
    assert_eq!(part[10..], [0xFF; 10]);
    assert_eq!(e.r.last_download_crc(), Some(crc32fast::hash(&data)), "uploads leave it");
}

#[test]
fn the_counter_wraps_from_ff_to_00() {
    let mut e = Ecu::new(Responder::new(b"V").with_max_block_length(12));
    // 300 blocks of 10 bytes: counters 01..FF, 00, 01..2C.
    let data = image(3000);
    let crc = crc32fast::hash(&data).to_be_bytes();
    assert_eq!(download(&mut e, 0, &data, 10), [&[0x77][..], &crc].concat());
    let (back, _) = upload(&mut e, 0, 3000);
    assert_eq!(back, data);
    // After FF comes 00, not 01.
    e.check("34 00 44 00 00 00 00 00 00 0A 00", "74 20 00 0C");
    for counter in 1..=255u8 {
        assert_eq!(e.ask_bytes(&[0x36, counter, counter]), [0x76, counter]);
    }
    e.check("36 01 00", "7F 36 73");
    e.check("36 00 00", "76 00");
}

#[test]
fn a_repeated_block_is_not_written_twice() {
    let mut e = Ecu::default();
    e.check("34 00 11 10 04", "74 20 0F FF");
    e.check("36 01 AA BB", "76 01");
    // The repeat carries other bytes: had it been written, memory and CRC would show it.
    e.check("36 01 CC DD", "76 01");
    e.check("37", "7F 37 24");
    e.check("36 02 EE FF", "76 02");
    e.check("36 02 EE FF", "76 02");
    assert_eq!(
        e.ask("37"),
        [&[0x77][..], &crc32fast::hash(&x("AA BB EE FF")).to_be_bytes()].concat()
    );
    assert_eq!(e.r.read_memory(0x10, 5), Some(x("AA BB EE FF FF")));
    // A repeated upload block sends the same bytes again.
    e.check("35 00 11 10 04", "75 20 0F FF");
    e.check("36 01", "76 01 AA BB EE FF");
    e.check("36 01", "76 01 AA BB EE FF");
    e.check("36 02", "7F 36 24");
    e.check("36 03", "7F 36 73");
    e.check("37", &format!("77 {}", hex(crc32fast::hash(&x("AA BB EE FF")))));
}

/// A CRC as hex text.
fn hex(v: u32) -> String {
    format!("{v:08X}")
}

#[test]
fn transfer_refusals() {
    let mut e = Ecu::new(Responder::new(b"V").with_memory(0x1000, 0x1000));
    e.check("36 01 AA", "7F 36 24");
    e.check("37", "7F 37 24");
    e.check("34", "7F 34 13");
    e.check("34 00", "7F 34 13");
    e.check("34 00 44 00 00 10 00", "7F 34 13");
    e.check("34 00 11 10 01 00", "7F 34 13");
    e.check("34 01 11 10 01", "7F 34 31");
    e.check("34 00 00 10 01", "7F 34 31");
    e.check("34 00 12 0F FF 01", "7F 34 31");
    e.check("34 00 12 1F FF 02", "7F 34 31");
    e.check("34 00 12 10 00 00", "7F 34 31");
    e.check("35 10 12 10 00 01", "7F 35 31");
    e.check("35 00 12 20 00 01", "7F 35 31");
    // Too much data, overlong blocks.
    e.check("34 00 12 10 00 03", "74 20 0F FF");
    e.check("36 01 01 02 03 04", "7F 36 71");
    e.check("36", "7F 36 13");
    assert_eq!(e.ask_bytes(&[&[0x36, 0x01][..], &[0; 4094]].concat()), x("7F 36 13"));
    e.check("36 01 01 02", "76 01");
    e.check("36 02 03 04", "7F 36 71");
    e.check("36 02 03", "76 02");
    e.check("37", &format!("77 {}", hex(crc32fast::hash(&[1, 2, 3]))));
    // Uploads take no data.
    e.check("35 00 12 10 00 03", "75 20 0F FF");
    e.check("36 01 00", "7F 36 13");
    e.check("36 02", "7F 36 73");
    e.check("37", "7F 37 24");
}

#[test]
fn a_new_request_restarts_and_a_reset_or_default_session_ends_a_transfer() {
    let mut e = Ecu::default();
    e.check("34 00 11 00 04", "74 20 0F FF");
    e.check("36 01 AA", "76 01");
    // A new request abandons the first (what arrived stays written).
    e.check("34 00 11 00 02", "74 20 0F FF");
    e.check("36 02 BB", "7F 36 73");
    e.check("36 01 BB CC", "76 01");
    e.check("37", &format!("77 {}", hex(crc32fast::hash(&[0xBB, 0xCC]))));
    e.check("34 00 11 00 04", "74 20 0F FF");
    assert!(matches!(e.reply(x("11 01")), UdsReply::Reset { .. }));
    e.check("36 01 AA", "7F 36 24");
    e.check("10 02", "50 02 00 32 01 F4");
    e.check("34 00 11 00 04", "74 20 0F FF");
    e.check("10 01", "50 01 00 32 01 F4");
    e.check("36 01 AA", "7F 36 24");
    // Memory survives the reset.
    assert_eq!(e.r.read_memory(0, 3), Some(x("BB CC FF")));
}

#[test]
fn the_check_routine_covers_every_segment_downloaded_since_the_erase() {
    let mut e = Ecu::default();
    let (first, second) = (vec![0x11; 5000], vec![0x22; 300]);
    assert_eq!(e.ask("3101FF00"), x("7101FF0000"));
    download(&mut e, 0x1000, &first, 4093);
    download(&mut e, 0x8000, &second, 4093);
    let whole = crc32fast::hash(&[first, second.clone()].concat());
    let check = [&[0x31, 0x01, 0xFF, 0x01][..], &whole.to_be_bytes()].concat();
    assert_eq!(e.ask_bytes(&check), x("7101FF0100"));
    // After a check, the next download is a new image.
    download(&mut e, 0x1000, &second, 4093);
    let again = [&[0x31, 0x01, 0xFF, 0x01][..], &crc32fast::hash(&second).to_be_bytes()].concat();
    assert_eq!(e.ask_bytes(&again), x("7101FF0100"));
    assert_eq!(e.ask_bytes(&check), x("7101FF0101"));
}
