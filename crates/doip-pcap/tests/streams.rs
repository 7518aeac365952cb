//! Link layers and TCP stream repair: the same DoIP bytes under every supported link type,
//! and segments that arrive twice, late or never.
#![allow(clippy::unwrap_used)] // test code fails loudly

use std::io::Read;
use std::time::Duration;

use doip_pcap::synth::{CaptureWriter, Format, TcpConnection};
use doip_pcap::{Content, DecodeOptions, LinkType, decode_capture};

/// An alive check response (tester 0x0E00) and a TesterPresent to 0x4011.
const ALIVE: [u8; 10] = [2, 0xFD, 0, 8, 0, 0, 0, 2, 0x0E, 0x00];
const PRESENT: [u8; 14] = [2, 0xFD, 0x80, 1, 0, 0, 0, 6, 0x0E, 0, 0x40, 0x11, 0x3E, 0];

fn connection() -> TcpConnection {
    TcpConnection::new("10.0.0.2:50000".parse().unwrap(), "10.0.0.1:13400".parse().unwrap())
}

/// Decodes `frames` written under `link`; returns `(packet, summary)` per event.
fn decode(link: LinkType, frames: &[Vec<u8>]) -> Vec<(u64, String)> {
    let mut out = CaptureWriter::with_link_type(Vec::new(), Format::Pcap, link).unwrap();
    for f in frames {
        out.packet(Duration::from_secs(1), f).unwrap();
    }
    let file = out.into_inner();
    let mut events = Vec::new();
    decode_capture(&file[..], DecodeOptions::default(), |e| {
        let text = match &e.content {
            Content::Message { message, .. } => message.payload_type().to_string(),
            Content::Malformed { error, .. } => format!("error: {error}"),
            Content::Tls { .. } => "tls".into(),
        };
        events.push((e.packet, text));
    })
    .unwrap();
    events
}

#[test]
fn every_link_type_carries_the_same_messages() {
    let mut c = connection();
    let eth = c.send(true, &[ALIVE.as_slice(), &PRESENT].concat()).unwrap();
    let ip = &eth[14..];
    let sll1 = [&[0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00][..], ip].concat();
    let sll2 =
        [&[0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0][..], ip].concat();
    let null = [&2u32.to_le_bytes()[..], ip].concat();
    let vlan = [&eth[..12], &[0x81, 0x00, 0x00, 0x05], &eth[12..]].concat();
    let qinq = [&eth[..12], &[0x88, 0xA8, 0x00, 0x05, 0x81, 0x00, 0x00, 0x06], &eth[12..]].concat();
    for (link, frame) in [
        (LinkType::ETHERNET, vlan),
        (LinkType::ETHERNET, qinq),
        (LinkType::ETHERNET, eth.clone()),
        (LinkType::RAW, ip.to_vec()),
        (LinkType::DLT_RAW, ip.to_vec()),
        (LinkType::IPV4, ip.to_vec()),
        (LinkType::LINUX_SLL, sll1),
        (LinkType::LINUX_SLL2, sll2),
        (LinkType::NULL, null),
    ] {
        let events = decode(link, &[frame]);
        assert_eq!(events.len(), 2, "{link}: {events:?}");
        assert!(events.iter().all(|(_, t)| !t.starts_with("error")), "{link}: {events:?}");
    }
}

#[test]
fn ip_fragments_are_counted_as_not_decoded() {
    let mut c = connection();
    let mut frame = c.send(true, &PRESENT).unwrap();
    frame[14 + 6] |= 0x20; // IPv4 "more fragments"
    let mut out = CaptureWriter::new(Vec::new(), Format::Pcap).unwrap();
    out.packet(Duration::from_secs(1), &frame).unwrap();
    let file = out.into_inner();
    let stats = decode_capture(&file[..], DecodeOptions::default(), |e| panic!("{e:?}")).unwrap();
    assert_eq!((stats.packets, stats.skipped, stats.messages), (1, 1, 0));
}

#[test]
fn retransmitted_and_reordered_segments_are_repaired() {
    let mut c = connection();
    let open = c.open().unwrap().to_vec();
    let whole = [ALIVE.as_slice(), &PRESENT].concat();
    let a = c.send(true, &whole[..6]).unwrap();
    let b = c.send(true, &whole[6..15]).unwrap();
    let d = c.send(true, &whole[15..]).unwrap();
    // Order on the wire: a, d (early), b, b again (retransmission).
    let frames = [open, vec![a, d, b.clone(), b]].concat();
    let events = decode(LinkType::ETHERNET, &frames);
    let types: Vec<&str> = events.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(types.len(), 2, "{events:?}");
    assert!(types[0].contains("0x0008") && types[1].contains("0x8001"), "{events:?}");
    // Both complete when the late segment (packet 6) arrives.
    assert!(events.iter().all(|(p, _)| *p == 6), "{events:?}");
}

#[test]
fn a_segment_never_captured_is_reported_and_decoding_resumes() {
    let mut c = connection();
    let mut frames = c.open().unwrap().to_vec();
    frames.push(c.send(true, &ALIVE[..4]).unwrap());
    let _lost = c.send(true, &ALIVE[4..]).unwrap();
    // 70 later messages: more than the reorder window holds, so the gap is declared.
    for _ in 0..70 {
        frames.push(c.send(true, &PRESENT).unwrap());
    }
    let events = decode(LinkType::ETHERNET, &frames);
    let gap = events.iter().position(|(_, t)| t.contains("missing from the capture")).unwrap();
    assert_eq!(gap, 0, "{events:?}");
    let decoded = events.iter().filter(|(_, t)| t.contains("0x8001")).count();
    assert_eq!(decoded, 70, "every message after the gap is decoded: {events:?}");
}

#[test]
fn a_reader_returning_one_byte_at_a_time_is_fine() {
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let Some((&b, rest)) = self.0.split_first() else { return Ok(0) };
            if buf.is_empty() {
                return Ok(0);
            }
            buf[0] = b;
            self.0 = rest;
            Ok(1)
        }
    }
    let mut c = connection();
    let mut out = CaptureWriter::new(Vec::new(), Format::PcapNg).unwrap();
    for _ in 0..20 {
        out.packet(Duration::from_secs(1), &c.send(true, &PRESENT).unwrap()).unwrap();
    }
    let file = out.into_inner();
    let stats = decode_capture(Trickle(&file), DecodeOptions::default(), |_| {}).unwrap();
    assert_eq!(stats.messages, 20);
}
