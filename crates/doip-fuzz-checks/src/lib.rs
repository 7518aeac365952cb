//! The properties our fuzz targets check, one function per target in `fuzz/fuzz_targets/`.
//!
//! Each takes the raw bytes libFuzzer hands its target (targets with structured input decode
//! them with `arbitrary` exactly as `libfuzzer_sys::fuzz_target!` does), and panics when a
//! property breaks. Keeping them here, outside the nightly-only fuzz package, lets the normal
//! test suite (`tests/replay.rs`) run every seed and every minimised crash input kept under
//! `fuzz/regressions/<target>/` through the same checks on stable.
//!
//! ```
//! // A stream the decoder refuses still must not panic, and splits must not change results.
//! doip_fuzz_checks::stream_decoder(&[0x02, 0xFD, 0x80, 0x01, 0xFF, 0xFF, 0xFF, 0xFF]);
//! ```
#![forbid(unsafe_code)]

use arbitrary::{Arbitrary, Unstructured};
use doip_pcap::{CaptureReader, Content, DecodeOptions, decode_with};
use doip_proto::{
    DatagramDecoder, Frame, HeaderPolicy, Message, ProtocolVersion, RoutingActivationRequest,
    StreamDecoder, parse_header,
};
use doip_sim::{Responder, UdsHandler, UdsReply};

/// A fuzz target's check: panics when a property breaks.
pub type Check = fn(&[u8]);

/// Every fuzz target by name (its file stem in `fuzz/fuzz_targets/`), with its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("header", header),
    ("message", message),
    ("stream_decoder", stream_decoder),
    ("datagram_decoder", datagram_decoder),
    ("round_trip", round_trip),
    ("pcap_reader", pcap_reader),
    ("sim_requests", sim_requests),
    ("uds_answers", uds_answers),
];

/// Header parsing and validation under every policy shape: a header that parses re-encodes
/// to the same 8 bytes, and every refusal names a NACK code.
///
/// # Panics
/// When either property breaks.
pub fn header(data: &[u8]) {
    let Ok((_, header)) = parse_header(data) else {
        assert!(data.len() < 8, "a full header always parses");
        return;
    };
    assert_eq!(header.to_bytes(), data[..8]);
    let max = data.get(8).map_or(4096, |&b| u32::from(b) << 8);
    for policy in [HeaderPolicy::tcp(), HeaderPolicy::udp()] {
        for policy in [
            policy.clone(),
            policy.clone().with_max_payload_length(max).with_unknown_payload_types(true),
            policy.with_supported_versions(&[ProtocolVersion::Iso2019]),
        ] {
            if let Err(e) = policy.validate(&header) {
                assert!(e.nack_code().is_some(), "a refused header names a NACK: {e}");
            }
        }
    }
}

/// `Frame::parse` over arbitrary bytes: every frame it accepts re-encodes to the bytes it was
/// parsed from.
///
/// # Panics
/// When an accepted frame does not re-encode to itself.
pub fn message(data: &[u8]) {
    let mut input = data;
    while let Ok((frame, rest)) = Frame::parse(input) {
        let consumed = &input[..input.len() - rest.len()];
        let mut out = Vec::new();
        frame.encode(&mut out).expect("a parsed frame encodes");
        // The header is re-derived on encode, so only a valid inverse byte can match.
        if frame.header.has_valid_pattern() {
            assert_eq!(out, consumed);
        }
        input = rest;
    }
}

/// The input of [`stream_decoder`].
#[derive(Arbitrary, Debug)]
struct StreamInput {
    max_payload_length: u16,
    accept_unknown: bool,
    chunk_sizes: Vec<u8>,
    stream: Vec<u8>,
}

/// Everything a stream decoder yields for `stream` pushed in chunks of `sizes` (one push
/// when empty), checking its buffer bound after every push.
fn decode_stream(
    policy: &HeaderPolicy,
    stream: &[u8],
    sizes: &[u8],
) -> Vec<Result<Message<'static>, doip_proto::Error>> {
    let mut decoder = StreamDecoder::new(policy.clone());
    let mut results = Vec::new();
    let mut sizes = sizes.iter().map(|&s| usize::from(s).max(1)).cycle();
    let mut rest = stream;
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(rest.len()).min(rest.len());
        let mut chunk = &rest[..n];
        rest = &rest[n..];
        while !chunk.is_empty() {
            chunk = &chunk[decoder.push(chunk)..];
            assert!(decoder.buffer_capacity() <= decoder.buffer_limit());
            while let Some(r) = decoder.next_frame() {
                results.push(r.map(|f| f.message.into_owned()));
            }
        }
    }
    results
}

/// The TCP stream decoder fed in chosen chunks under a chosen size limit: never buffers
/// beyond its limit, and yields the same results as one push.
///
/// # Panics
/// When the buffer bound is exceeded or chunking changes the results.
pub fn stream_decoder(data: &[u8]) {
    let Ok(input) = StreamInput::arbitrary_take_rest(Unstructured::new(data)) else { return };
    let policy = HeaderPolicy::tcp()
        .with_max_payload_length(u32::from(input.max_payload_length))
        .with_unknown_payload_types(input.accept_unknown);
    let split = decode_stream(&policy, &input.stream, &input.chunk_sizes);
    let whole = decode_stream(&policy, &input.stream, &[]);
    assert_eq!(split, whole);
}

/// The UDP datagram decoder: an accepted datagram re-encodes to itself, a refused one names
/// a NACK code.
///
/// # Panics
/// When either property breaks.
pub fn datagram_decoder(data: &[u8]) {
    for policy in [HeaderPolicy::udp(), HeaderPolicy::udp().with_unknown_payload_types(true)] {
        match DatagramDecoder::new(policy).decode(data) {
            Ok(frame) => {
                let mut out = Vec::new();
                frame.encode(&mut out).expect("a decoded frame encodes");
                assert_eq!(out, data);
            }
            Err(e) => assert!(e.nack_code().is_some(), "a refused datagram names a NACK: {e}"),
        }
    }
}

/// Encode then decode of an arbitrary typed message is the identity.
///
/// # Panics
/// When the decoded message differs from the encoded one.
pub fn round_trip(data: &[u8]) {
    let Ok((message, version)) = <(Message<'_>, u8)>::arbitrary_take_rest(Unstructured::new(data))
    else {
        return;
    };
    // `Unknown` with a named payload type decodes as the typed message, by design.
    if let Message::Unknown { payload_type, .. } = &message
        && payload_type.is_named()
    {
        return;
    }
    let version = ProtocolVersion::from(version);
    // Only version 0x01 sends the high byte of a 2-byte activation type; others drop it.
    let message = match message {
        Message::RoutingActivationRequest(r) if version != ProtocolVersion::Iso2010 => {
            RoutingActivationRequest { activation_type_high: 0, ..r }.into()
        }
        m => m,
    };
    let wire = message.to_bytes(version).expect("fuzzer payloads fit in 4 GiB");
    let (frame, rest) = Frame::parse(&wire).expect("an encoded message parses");
    assert!(rest.is_empty());
    assert_eq!(frame.header.version, version);
    assert_eq!(frame.message, message);
}

/// The capture reader and decoder on an arbitrary file: typed errors for broken files,
/// `Malformed` events for broken DoIP, and every event within the packets read.
///
/// # Panics
/// When the counts disagree with the events delivered.
pub fn pcap_reader(file: &[u8]) {
    let mut events = 0u64;
    let mut last_packet = 0u64;
    // A small buffer: records larger than it exercise the growth path too.
    let Ok(reader) = CaptureReader::with_buffer(file, 4096) else { return };
    let result = decode_with(reader, DecodeOptions::default(), |e| {
        events += 1;
        last_packet = last_packet.max(e.packet);
        if let Content::Message { header, message } = &e.content {
            assert_eq!(header.payload_type, message.payload_type());
        }
    });
    if let Ok(stats) = result {
        assert_eq!(stats.messages + stats.malformed + stats.tls_records, events);
        assert!(last_packet <= stats.packets);
    }
}

/// The simulator's request handling: a tester byte stream through the entity's header policy
/// and stream decoder, every diagnostic message handed to the built-in UDS responder
/// (sessions, DIDs, routines, downloads with block counters and CRC, resets). Every answer is
/// a positive response to the request's service or a well-formed negative response.
///
/// # Panics
/// When an answer does not match its request or the decoder exceeds its buffer bound.
pub fn sim_requests(stream: &[u8]) {
    let mut decoder = StreamDecoder::new(HeaderPolicy::tcp().with_max_payload_length(4 * 4096));
    let mut ecu = Responder::new(b"WDOIPRS0000000001");
    let mut rest = stream;
    while !rest.is_empty() {
        rest = &rest[decoder.push(rest)..];
        assert!(decoder.buffer_capacity() <= decoder.buffer_limit());
        while let Some(frame) = decoder.next_frame() {
            let Ok(frame) = frame else { continue };
            let Message::DiagnosticMessage(m) = frame.message else { continue };
            let Some(&sid) = m.user_data.first() else { continue };
            // No answer (suppressed), or a future variant: nothing to check.
            let (UdsReply::Respond(answer)
            | UdsReply::Reset { response: answer, .. }
            | UdsReply::Pending { response: answer, .. }) = ecu.handle(&m.user_data)
            else {
                continue;
            };
            match answer.as_slice() {
                [0x7F, s, _nrc] => assert_eq!(*s, sid),
                [positive, ..] => assert_eq!(*positive, sid.wrapping_add(0x40)),
                [] => panic!("empty answer to {sid:#04x}"),
            }
        }
    }
}

/// UDS PDUs as a peer may send them, through doip-uds: describing one never panics (and
/// prints), and every answer decoder either refuses it with an error or accepts only what
/// starts with its service's SID + 0x40, nothing sized by what the bytes announce.
///
/// # Panics
/// When a decoder accepts an answer of another service.
pub fn uds_answers(data: &[u8]) {
    use doip_uds::codec as c;
    use doip_uds::{DidLengths, Dtc, DtcReportType, MemoryFormat, ServiceId as S};
    let _ = doip_uds::describe::describe(data).to_string();
    let first = data.first().copied().unwrap_or_default();
    let positive = |service: S, ok: bool| {
        if ok {
            assert_eq!(first, service.positive_answer(), "{service} accepted {data:02x?}");
        }
    };
    let sub = data.get(1).copied().unwrap_or_default();
    positive(
        S::DiagnosticSessionControl,
        c::parse_session_answer(doip_uds::SessionType::from_value(sub), data).is_ok(),
    );
    positive(S::SecurityAccess, c::parse_seed_answer(1, data).is_ok());
    positive(S::SecurityAccess, c::parse_key_answer(1, data).is_ok());
    let lengths = DidLengths::new().with(0xF190, 17);
    positive(
        S::ReadDataByIdentifier,
        c::parse_read_data_answer(&[0xF190, 0xF187], &lengths, data).is_ok(),
    );
    positive(
        S::RoutineControl,
        c::parse_routine_answer(doip_uds::RoutineControlType::Start, 0xFF00, data).is_ok(),
    );
    positive(S::ReadDtcInformation, c::parse_dtc_count(data).is_ok());
    positive(
        S::ReadDtcInformation,
        c::parse_dtc_list(DtcReportType::DtcByStatusMask, data).is_ok(),
    );
    positive(
        S::ReadDtcInformation,
        c::parse_dtc_records(DtcReportType::DtcSnapshotRecordByDtcNumber, Dtc(0x12_3456), data)
            .is_ok(),
    );
    positive(S::RequestDownload, c::parse_transfer_answer(S::RequestDownload, data).is_ok());
    positive(S::TransferData, c::parse_transfer_data_answer(sub, data).is_ok());
    positive(S::ReadMemoryByAddress, c::parse_read_memory_answer(4, data).is_ok());
    positive(
        S::WriteMemoryByAddress,
        c::parse_write_memory_answer(MemoryFormat::FOUR_FOUR, 0, 4, data).is_ok(),
    );
}
