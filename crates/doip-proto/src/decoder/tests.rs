//! Stream and datagram decoder behaviour: splits, refusals, bounds.

use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::codes::GenericNackCode;
use crate::header::{PayloadType, ProtocolVersion, Transport};
use crate::payload::tests::{arbitrary_message, hex};
use crate::payload::{DiagnosticMessage, Message};
use crate::types::LogicalAddress;

/// Pushes `bytes` in pieces of the given sizes (cycled) and collects every result.
fn decode_in_pieces(
    decoder: &mut StreamDecoder,
    bytes: &[u8],
    sizes: &[usize],
) -> Vec<Result<Message<'static>, Error>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut sizes = sizes.iter().copied().cycle();
    while !rest.is_empty() {
        let piece = sizes.next().unwrap_or(1).clamp(1, rest.len());
        let mut chunk = &rest[..piece];
        while !chunk.is_empty() {
            let taken = decoder.push(chunk);
            chunk = &chunk[taken..];
            while let Some(r) = decoder.next_frame() {
                out.push(r.map(|f| f.message.into_owned()));
            }
        }
        rest = &rest[piece..];
    }
    out
}

fn tcp() -> HeaderPolicy {
    HeaderPolicy::tcp().with_unknown_payload_types(true)
}

fn diag(len: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
    Message::from(DiagnosticMessage::new(LogicalAddress(0x0E00), LogicalAddress(0x4010), data))
        .to_bytes(ProtocolVersion::Iso2012)
        .unwrap()
}

#[test]
fn version_1_routing_activation_requests_decode_in_their_own_layout() {
    use crate::payload::RoutingActivationRequest;
    let wire = hex(
        "01 fe 0005 00000008 0e80 0001 00000000 01 fe 0005 0000000c 0e80 0000 00000000 01020304",
    );
    let expected = RoutingActivationRequest::new(LogicalAddress(0x0E80))
        .with_activation_type(crate::ActivationType::WwhObd);
    let mut d = StreamDecoder::new(HeaderPolicy::tcp());
    let got = decode_in_pieces(&mut d, &wire, &[3]);
    assert_eq!(
        got,
        [
            Ok(expected.into()),
            Ok(RoutingActivationRequest::new(LogicalAddress(0x0E80))
                .with_oem_specific([1, 2, 3, 4])
                .into())
        ]
    );
    // The 7-byte form of later versions is refused under version 0x01 (NACK 0x04).
    let mut d = StreamDecoder::new(HeaderPolicy::tcp());
    let got = decode_in_pieces(&mut d, &hex("01 fe 0005 00000007 0e80 00 00000000"), &[64]);
    let e = got[0].as_ref().unwrap_err();
    assert_eq!(e.nack_code(), Some(GenericNackCode::InvalidPayloadLength));
}

#[test]
fn a_hostile_length_is_refused_at_once_and_its_payload_skipped_unbuffered() {
    let mut d = StreamDecoder::new(HeaderPolicy::tcp().with_max_payload_length(1024));
    let stream = hex("02 fd 8001 ffffffff");
    assert_eq!(d.push(&stream), 8);
    let e = d.next_frame().unwrap().unwrap_err();
    assert_eq!(e.nack_code(), Some(GenericNackCode::MessageTooLarge));
    assert!(!e.closes_connection());
    // Feed 100 MiB of the refused payload in 1 MiB pieces: none of it is buffered.
    let junk = vec![0x55u8; 1 << 20];
    for _ in 0..100 {
        assert_eq!(d.push(&junk), junk.len());
        assert!(d.next_frame().is_none());
        assert_eq!(d.buffered_len(), 0);
    }
    assert!(d.buffer_capacity() <= d.buffer_limit());
    // The rest of the refused payload (about 4 GiB, dropped as it comes), then a good frame.
    let mut remaining = 0xFFFF_FFFF - 100 * junk.len();
    while remaining > 0 {
        let piece = &junk[..remaining.min(junk.len())];
        assert_eq!(d.push(piece), piece.len());
        remaining -= piece.len();
    }
    assert_eq!(d.buffered_len(), 0);
    let good = diag(3);
    assert_eq!(d.push(&good), good.len());
    let frame = d.next_frame().unwrap().unwrap();
    assert!(matches!(frame.message, Message::DiagnosticMessage(_)));
    assert!(d.buffer_capacity() <= d.buffer_limit());
}

#[test]
fn the_buffer_never_exceeds_one_maximum_frame() {
    let mut d = StreamDecoder::new(tcp().with_max_payload_length(100));
    let frames: Vec<u8> = (0..1000).flat_map(|_| diag(50)).collect();
    // One huge push takes only what fits; the rest waits for frames to be pulled.
    let taken = d.push(&frames);
    assert_eq!(taken, d.buffer_limit());
    assert!(d.buffer_capacity() <= d.buffer_limit());
    let results = decode_in_pieces(&mut d, &frames[taken..], &[4096]);
    assert!(results.iter().all(Result::is_ok));
    assert!(d.buffer_capacity() <= d.buffer_limit());
}

#[test]
fn unknown_payload_type_is_nacked_and_skipped() {
    let mut d = StreamDecoder::new(HeaderPolicy::tcp());
    let mut bytes = hex("02 fd f010 00000003 010203");
    bytes.extend(diag(2));
    let out = decode_in_pieces(&mut d, &bytes, &[1]);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].as_ref().unwrap_err().nack_code(), Some(GenericNackCode::UnknownPayloadType));
    assert!(matches!(out[1], Ok(Message::DiagnosticMessage(_))));
}

#[test]
fn udp_only_type_on_tcp_is_nacked_0x01() {
    let mut d = StreamDecoder::new(HeaderPolicy::tcp());
    let mut bytes = hex("02 fd 0001 00000000");
    bytes.extend(hex("02 fd 0007 00000000"));
    let out = decode_in_pieces(&mut d, &bytes, &[3]);
    assert!(matches!(out[0], Err(Error::PayloadTypeNotAllowed { .. })));
    assert!(matches!(out[1], Ok(Message::AliveCheckRequest(_))));
}

#[test]
fn a_closing_error_stops_decoding_until_reset() {
    let mut d = StreamDecoder::new(HeaderPolicy::tcp());
    let mut bytes = hex("02 fc 8001 00000005 0e00 4010 3e");
    bytes.extend(diag(2));
    assert_eq!(d.push(&bytes), bytes.len());
    let e = d.next_frame().unwrap().unwrap_err();
    assert!(matches!(e, Error::IncorrectPatternFormat { version: 2, inverse_version: 0xfc }));
    assert!(e.closes_connection());
    assert!(d.is_failed());
    assert!(d.next_frame().is_none());
    assert_eq!(d.push(&diag(2)), diag(2).len());
    assert!(d.next_frame().is_none());
    d.reset();
    assert_eq!(d.push(&diag(2)), diag(2).len());
    assert!(d.next_frame().unwrap().is_ok());
}

#[test]
fn wrong_length_for_type_closes() {
    let mut d = StreamDecoder::new(HeaderPolicy::tcp());
    assert_eq!(d.push(&hex("02 fd 0008 00000003 0e0000")), 11);
    let e = d.next_frame().unwrap().unwrap_err();
    assert_eq!(e.nack_code(), Some(GenericNackCode::InvalidPayloadLength));
    assert!(d.is_failed());
}

#[cfg(feature = "std")]
#[test]
fn read_from_fills_the_buffer_without_a_copy() {
    let bytes: Vec<u8> = (0..100).flat_map(|i| diag(i * 40)).collect();
    let mut reader = std::io::Cursor::new(&bytes);
    let mut d = StreamDecoder::new(HeaderPolicy::tcp());
    let mut count = 0;
    while d.read_from(&mut reader).unwrap() > 0 {
        while let Some(f) = d.next_frame() {
            assert!(matches!(f.unwrap().message, Message::DiagnosticMessage(_)));
            count += 1;
        }
    }
    assert_eq!(count, 100);
}

#[test]
fn datagram_checks() {
    let d = DatagramDecoder::default();
    assert!(d.decode(&hex("02 fd 4001 00000000")).is_ok());
    assert_eq!(d.decode(&hex("02 fd 4001")), Err(Error::TruncatedHeader { length: 4 }));
    let e = d.decode(&hex("02 fd 4001 00000000 00")).unwrap_err();
    assert!(matches!(e, Error::DatagramLengthMismatch { payload_length: 0, datagram_length: 9 }));
    assert_eq!(e.nack_code(), Some(GenericNackCode::InvalidPayloadLength));
    let e = d.decode(&hex("02 fd 8001 00000005 0e00 4010 3e")).unwrap_err();
    assert_eq!(e.nack_code(), Some(GenericNackCode::UnknownPayloadType));
    let e = d.decode(&hex("02 fd 0004 00000005 0000000000")).unwrap_err();
    assert_eq!(e.nack_code(), Some(GenericNackCode::InvalidPayloadLength));
    // Too large is decided before the length/type mismatch.
    let small = DatagramDecoder::new(HeaderPolicy::udp().with_max_payload_length(16));
    let e = small.decode(&hex("02 fd 0004 00000021")).unwrap_err();
    assert_eq!(e.nack_code(), Some(GenericNackCode::MessageTooLarge));
    assert_eq!(small.policy().max_payload_length(), 16);
}

fn stream_of(messages: &[Message<'static>]) -> Vec<u8> {
    let mut wire = Vec::new();
    for m in messages {
        m.encode(ProtocolVersion::Iso2012, &mut wire).unwrap();
    }
    wire
}

proptest! {
    #[test]
    fn any_split_yields_the_same_messages(
        messages in proptest::collection::vec(arbitrary_message(), 1..20),
        sizes in proptest::collection::vec(1usize..64, 1..8),
    ) {
        let wire = stream_of(&messages);
        let mut whole = StreamDecoder::new(tcp());
        let expected = decode_in_pieces(&mut whole, &wire, &[wire.len()]);
        let mut bytewise = StreamDecoder::new(tcp());
        prop_assert_eq!(&decode_in_pieces(&mut bytewise, &wire, &[1]), &expected);
        let mut split = StreamDecoder::new(tcp());
        prop_assert_eq!(&decode_in_pieces(&mut split, &wire, &sizes), &expected);
        // Messages valid on TCP come out exactly; the others are refused, not lost.
        prop_assert_eq!(expected.len(), messages.len());
        for (m, r) in messages.iter().zip(&expected) {
            if m.payload_type().allowed_on(Transport::Tcp) {
                prop_assert_eq!(r.as_ref().ok(), Some(m));
            } else {
                prop_assert!(r.is_err());
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_or_bloat_the_stream_decoder(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        sizes in proptest::collection::vec(1usize..300, 1..8),
        max in 0u32..512,
    ) {
        let mut d = StreamDecoder::new(HeaderPolicy::tcp().with_max_payload_length(max));
        let _ = decode_in_pieces(&mut d, &bytes, &sizes);
        prop_assert!(d.buffer_capacity() <= d.buffer_limit());
    }

    #[test]
    fn hostile_lengths_never_allocate_beyond_the_maximum(
        payload_type in any::<u16>(),
        length in any::<u32>(),
        max in 0u32..4096,
        tail in proptest::collection::vec(any::<u8>(), 0..8192),
    ) {
        let mut bytes = Header::new(ProtocolVersion::Iso2012, PayloadType::from(payload_type), length)
            .to_bytes()
            .to_vec();
        bytes.extend(tail);
        let mut d = StreamDecoder::new(HeaderPolicy::tcp().with_max_payload_length(max));
        let _ = decode_in_pieces(&mut d, &bytes, &[1, 4096]);
        prop_assert!(d.buffer_capacity() <= d.buffer_limit());
    }

    #[test]
    fn arbitrary_datagrams_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let _ = DatagramDecoder::default().decode(&bytes);
        let _ = DatagramDecoder::new(HeaderPolicy::udp().with_unknown_payload_types(true)).decode(&bytes);
    }
}
