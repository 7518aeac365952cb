//! Decode DoIP (ISO 13400-2) traffic from pcap and pcapng captures.
//!
//! Built on [`doip_proto`] alone plus a capture-format parser: no sockets, no event loop.
//! [`CaptureReader`] streams packets out of a file (pcap in either byte order with micro- or
//! nanosecond timestamps, or pcapng), on the caller's thread or, for files,
//! [reading ahead](CaptureReader::read_ahead) on a second one; [`Decoder`] turns packets into
//! [`Event`]s (lent to your sink; [`Event::into_owned`] keeps one) — every DoIP
//! message with its packet number, time and endpoints, malformed messages as typed errors (and
//! decoding goes on), and TLS records on DoIP-over-TLS connections reported as encrypted rather
//! than misparsed. Every frame gets a DoIP entity's header checks
//! ([`DecodeOptions::policy`]): one an entity would refuse (e.g. version 0xFF on a diagnostic
//! message) is [`Content::Malformed`], naming the rule and the generic NACK, with its payload
//! still decoded when it parses.
//!
//! - Link types: Ethernet (with VLAN tags), Linux cooked v1 and v2, raw IP, BSD/OpenBSD
//!   loopback ([`LinkType`]).
//! - IPv4 and IPv6; TCP streams reassembled per flow direction (messages split across
//!   segments, several messages per segment, retransmissions, segments out of order); UDP
//!   datagrams one message each.
//! - Ports 13400 (DoIP) and 3496 (DoIP over TLS) by default ([`DecodeOptions`]).
//!
//! ```
//! use doip_pcap::{Content, decode_capture, DecodeOptions};
//!
//! # fn main() -> Result<(), doip_pcap::CaptureError> {
//! # let file: &[u8] = include_bytes!("../../../tests/data/udp-discovery.pcap");
//! // `file` is any `std::io::Read`: a `File`, stdin, or bytes in memory.
//! let mut messages = 0;
//! let stats = decode_capture(file, DecodeOptions::default(), |event| {
//!     if let Content::Message { message, .. } = &event.content {
//!         println!("#{} {} -> {}: {message}", event.packet, event.src, event.dst);
//!         messages += 1;
//!     }
//! })?;
//! assert_eq!(stats.messages, messages);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod decode;
mod error;
mod link;
mod reader;
pub mod synth;

pub use decode::{
    Content, DOIP_PORT, DecodeOptions, Decoder, Event, Stats, StreamError, TLS_PORT, frame_content,
};
pub use error::CaptureError;
pub use link::LinkType;
pub use reader::{CaptureReader, MAX_RECORD, Packet};

/// Reads a whole capture from `source` and calls `sink` for every event, in capture order.
/// Streams ended inside a message are reported at the end.
///
/// # Errors
/// The capture file's own errors ([`CaptureError`]); events before the error were delivered.
/// Malformed DoIP is never an error here: it arrives as [`Content::Malformed`].
pub fn decode_capture<R: std::io::Read + Send>(
    source: R,
    options: DecodeOptions,
    sink: impl FnMut(&Event<'_>),
) -> Result<Stats, CaptureError> {
    decode_with(CaptureReader::new(source)?, options, sink)
}

/// [`decode_capture`] with a reader you configured (e.g. [`CaptureReader::with_buffer`]).
///
/// # Errors
/// As [`decode_capture`].
pub fn decode_with(
    mut reader: CaptureReader<'_>,
    options: DecodeOptions,
    mut sink: impl FnMut(&Event<'_>),
) -> Result<Stats, CaptureError> {
    let mut decoder = Decoder::new(options);
    let result = reader.for_each_packet(|packet| decoder.packet(packet, &mut sink));
    decoder.finish(&mut sink);
    result.map(|()| decoder.stats())
}
