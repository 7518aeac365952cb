//! Reading capture files: the read-ahead reader agrees with the inline one on every capture,
//! records are framed across reads of any size, and lengths a file announces are bounded
//! before anything is allocated for them.
#![allow(clippy::unwrap_used)] // test fixtures

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use doip_pcap::synth::{CaptureWriter, Format, TcpConnection, diagnostic_session, udp_frame};
use doip_pcap::{
    CaptureError, CaptureReader, Content, DecodeOptions, Event, MAX_RECORD, Stats, decode_with,
};
use doip_proto::PayloadType;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data").join(name)
}

/// Every event and the counts, from a configured reader.
fn decode(reader: CaptureReader<'_>) -> (Vec<Event<'static>>, Result<Stats, CaptureError>) {
    let mut events = Vec::new();
    let stats =
        decode_with(reader, DecodeOptions::default(), |e| events.push(e.clone().into_owned()));
    (events, stats)
}

/// A capture written to a file of its own, removed when dropped.
struct TempCapture(PathBuf);

impl TempCapture {
    fn new(name: &str, bytes: &[u8]) -> Self {
        let path = std::env::temp_dir().join(format!("doip-pcap-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        Self(path)
    }

    fn read_ahead(&self) -> CaptureReader<'static> {
        CaptureReader::read_ahead(std::fs::File::open(&self.0).unwrap()).unwrap()
    }
}

impl Drop for TempCapture {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A 3 MB diagnostic session: several read-ahead chunks, records cut at their ends.
fn session() -> Vec<u8> {
    let mut out = CaptureWriter::new(Vec::new(), Format::Pcap).unwrap();
    diagnostic_session(&mut out, 3 << 20).unwrap();
    out.into_inner()
}

#[test]
fn read_ahead_delivers_what_the_inline_reader_does() {
    let mut captures: Vec<(String, Vec<u8>)> = ["tcp-session.pcap", "udp-discovery.pcap"]
        .iter()
        .chain(&["ipv6-session.pcapng", "malformed.pcap", "tls-session.pcap"])
        .map(|name| ((*name).to_owned(), std::fs::read(data(name)).unwrap()))
        .collect();
    captures.push(("session.pcap".into(), session()));
    for (name, bytes) in &captures {
        let (inline, inline_stats) = decode(CaptureReader::with_buffer(&bytes[..], 4096).unwrap());
        let inline_stats = inline_stats.unwrap();
        assert!(inline_stats.messages + inline_stats.tls_records > 0, "{name}");
        let file = TempCapture::new(name, bytes);
        let (ahead, ahead_stats) = decode(file.read_ahead());
        assert_eq!(ahead_stats.unwrap(), inline_stats, "{name}");
        assert!(ahead == inline, "{name}: read-ahead events differ from inline ones");
        // The default inline reader (256 KiB reads) agrees too.
        let (default, _) = decode(CaptureReader::new(&bytes[..]).unwrap());
        assert!(default == inline, "{name}: 256 KiB reads differ from 4 KiB reads");
    }
}

#[test]
fn a_cut_capture_reports_the_packets_before_the_cut_either_way() {
    let good = std::fs::read(data("tcp-session.pcap")).unwrap();
    // File header, the handshake (3 × 54-byte frames), then inside the activation request.
    let cut = &good[..24 + 3 * (16 + 54) + (16 + 69) + 16 + 30];
    let file = TempCapture::new("cut.pcap", cut);
    for reader in [CaptureReader::new(cut).unwrap(), file.read_ahead()] {
        let (events, stats) = decode(reader);
        assert!(matches!(stats, Err(CaptureError::Truncated { packets: 4 })), "{stats:?}");
        assert_eq!(events.len(), 1, "the activation request before the cut is decoded");
    }
}

#[test]
fn records_larger_than_a_read_are_joined() {
    // One TCP segment carrying a 60 KB diagnostic message: fifteen 4 KiB reads.
    let tester: SocketAddr = "192.168.0.100:50000".parse().unwrap();
    let entity: SocketAddr = "192.168.0.10:13400".parse().unwrap();
    let mut c = TcpConnection::new(tester, entity);
    let user_data: Vec<u8> = (0..60_000u32).map(|i| (i % 251) as u8).collect();
    let mut message = vec![0x02, 0xFD, 0x80, 0x01];
    message.extend_from_slice(&(4 + user_data.len() as u32).to_be_bytes());
    message.extend_from_slice(&[0x0E, 0x00, 0x40, 0x11]);
    message.extend_from_slice(&user_data);
    let mut out = CaptureWriter::new(Vec::new(), Format::PcapNg).unwrap();
    for frame in c.open().unwrap() {
        out.packet(Duration::from_secs(1), &frame).unwrap();
    }
    out.packet(Duration::from_secs(2), &c.send(true, &message).unwrap()).unwrap();
    let file = out.into_inner();
    let (events, stats) = decode(CaptureReader::with_buffer(&file[..], 4096).unwrap());
    assert_eq!(stats.unwrap().messages, 1);
    let Content::Message { message, .. } = &events[0].content else { panic!("{events:?}") };
    let doip_proto::Message::DiagnosticMessage(m) = message else { panic!("{message:?}") };
    assert_eq!(&m.user_data[..], &user_data[..]);
}

/// A legacy pcap header: little-endian, microseconds, Ethernet.
fn pcap_header(magic: u32) -> Vec<u8> {
    let mut file = magic.to_le_bytes().to_vec();
    for part in [&2u16.to_le_bytes()[..], &4u16.to_le_bytes(), &[0; 8], &65535u32.to_le_bytes()] {
        file.extend_from_slice(part);
    }
    file.extend_from_slice(&1u32.to_le_bytes());
    file
}

#[test]
fn announced_lengths_beyond_the_limit_are_refused_before_reading_them() {
    // A legacy record announcing 4 GiB, and a pcapng block announcing 2 GiB.
    let mut legacy = pcap_header(0xa1b2_c3d4);
    for word in [1u32, 0, u32::MAX - 16, u32::MAX - 16] {
        legacy.extend_from_slice(&word.to_le_bytes());
    }
    // The section header and interface description of a real pcapng file, then the block.
    let mut ng = std::fs::read(data("ipv6-session.pcapng")).unwrap();
    let length = |at: usize| u32::from_le_bytes(ng[at + 4..at + 8].try_into().unwrap()) as usize;
    let shb = length(0);
    ng.truncate(shb + length(shb));
    for word in [6u32, 0x8000_0000] {
        ng.extend_from_slice(&word.to_le_bytes());
    }
    ng.extend_from_slice(&[0; 20]);
    for (name, bytes) in [("huge.pcap", legacy), ("huge.pcapng", ng)] {
        let file = TempCapture::new(name, &bytes);
        for reader in [CaptureReader::new(&bytes[..]).unwrap(), file.read_ahead()] {
            let (_, stats) = decode(reader);
            assert!(
                matches!(
                    stats,
                    Err(CaptureError::RecordTooLarge { packets: 0, limit: MAX_RECORD })
                ),
                "{name}: {stats:?}"
            );
        }
    }
}

#[test]
fn a_record_announcing_more_than_the_file_holds_is_truncated() {
    // 10 MB announced (under the 16 MiB limit), 100 bytes there: the reader reads what there
    // is (its buffer grows with the bytes that arrive) and reports the cut.
    let mut file = pcap_header(0xa1b2_c3d4);
    for word in [1u32, 0, 10_000_000, 10_000_000] {
        file.extend_from_slice(&word.to_le_bytes());
    }
    file.extend_from_slice(&[0; 100]);
    let capture = TempCapture::new("announces-10mb.pcap", &file);
    for reader in [CaptureReader::with_buffer(&file[..], 4096).unwrap(), capture.read_ahead()] {
        let (events, stats) = decode(reader);
        assert!(matches!(stats, Err(CaptureError::Truncated { packets: 0 })), "{stats:?}");
        assert!(events.is_empty());
    }
}

#[test]
fn modified_pcap_records_are_read() {
    // The "modified" pcap of some Linux patches: 24-byte record headers (the usual 16, then
    // interface index, protocol, packet type and padding).
    let frame = udp_frame(
        "192.168.0.100:50000".parse().unwrap(),
        "255.255.255.255:13400".parse().unwrap(),
        &[0x02, 0xFD, 0x00, 0x01, 0, 0, 0, 0],
    )
    .unwrap();
    let mut file = pcap_header(0xa1b2_cd34);
    let length = u32::try_from(frame.len()).unwrap();
    for word in [1_700_000_000u32, 250_000, length, length, 2] {
        file.extend_from_slice(&word.to_le_bytes());
    }
    file.extend_from_slice(&[0x08, 0x00, 0x00, 0x00]);
    file.extend_from_slice(&frame);
    let (events, stats) = decode(CaptureReader::new(&file[..]).unwrap());
    assert_eq!(stats.unwrap().messages, 1);
    assert_eq!(events[0].time, Duration::new(1_700_000_000, 250_000_000));
    let Content::Message { header, .. } = &events[0].content else { panic!("{events:?}") };
    assert_eq!(header.payload_type, PayloadType::VehicleIdentificationRequest);
}

#[test]
fn read_ahead_works_from_any_reader() {
    /// A pipe-like source: short reads of 1000 bytes.
    struct Pipe(std::io::Cursor<Vec<u8>>);
    impl Read for Pipe {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(1000);
            self.0.read(&mut buf[..n])
        }
    }
    let bytes = session();
    let (inline, _) = decode(CaptureReader::new(&bytes[..]).unwrap());
    let (ahead, stats) =
        decode(CaptureReader::read_ahead(Pipe(std::io::Cursor::new(bytes))).unwrap());
    assert!(stats.unwrap().messages > 1000);
    assert!(ahead == inline);
}
