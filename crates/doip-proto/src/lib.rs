//! DoIP (Diagnostics over IP, ISO 13400-2) on the wire, with no I/O.
//!
//! Every DoIP message as a typed value, a `nom` parser and an encoder for each, header
//! validation that names the spec's generic NACK, and decoders for TCP streams
//! ([`StreamDecoder`], any split) and UDP datagrams ([`DatagramDecoder`]). No sockets, no
//! threads, no clock: use it alone to read captures, to build your own stack, or to fuzz.
//!
//! # Decode and encode a diagnostic message
//!
//! ```
//! use doip_proto::{
//!     DiagnosticMessage, HeaderPolicy, LogicalAddress, Message, ProtocolVersion, StreamDecoder,
//! };
//!
//! // A tester (0x0E80) sends UDS "DiagnosticSessionControl extended" (10 03) to ECU 0x4010.
//! let request = DiagnosticMessage::new(LogicalAddress(0x0E80), LogicalAddress(0x4010), &[0x10, 0x03][..]);
//! let mut wire = Vec::new();
//! Message::from(request).encode(ProtocolVersion::Iso2012, &mut wire)?;
//! assert_eq!(wire, [0x02, 0xfd, 0x80, 0x01, 0, 0, 0, 6, 0x0e, 0x80, 0x40, 0x10, 0x10, 0x03]);
//!
//! // The receiving side feeds bytes as they arrive, in any split, and pulls whole messages.
//! let mut decoder = StreamDecoder::new(HeaderPolicy::tcp());
//! for chunk in wire.chunks(5) {
//!     let _ = decoder.push(chunk); // returns bytes taken; all fit here
//! }
//! let frame = decoder.next_frame().expect("one whole frame")?;
//! match frame.message {
//!     Message::DiagnosticMessage(m) => {
//!         assert_eq!(m.target_address, LogicalAddress(0x4010));
//!         assert_eq!(&*m.user_data, &[0x10, 0x03]); // borrowed from the decoder's buffer
//!     }
//!     other => panic!("unexpected {other:?}"),
//! }
//! # Ok::<(), doip_proto::Error>(())
//! ```
//!
//! # Features
//! - `std` (default): `std::io` helpers such as [`StreamDecoder::read_from`]. Without it the
//!   crate is `no_std` and needs only `alloc`.
//! - `arbitrary`: `arbitrary::Arbitrary` for every message, for fuzzing.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod codes;
mod decoder;
mod error;
pub mod header;
pub mod payload;
pub mod types;

pub use codes::{
    ActivationType, DiagnosticAckCode, DiagnosticNackCode, FurtherAction, GenericNackCode,
    NodeType, PowerMode, RoutingActivationResponseCode, SyncStatus,
};
pub use decoder::{DatagramDecoder, StreamDecoder};
pub use error::Error;
pub use header::{
    DEFAULT_MAX_PAYLOAD_LENGTH, HEADER_LEN, Header, HeaderPolicy, LengthRule, PayloadType,
    ProtocolVersion, Transport, parse_header,
};
pub use payload::*;
pub use types::{AddressRange, Eid, Gid, LogicalAddress, Vin};
