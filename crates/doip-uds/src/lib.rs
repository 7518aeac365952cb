//! # doip-uds
//!
//! A UDS (ISO 14229-1) client over DoIP ([`doip_client`]), and over anything else that
//! implements [`Channel`].
//!
//! - [`codec`]: every service's request encoding and answer decoding as plain functions and
//!   typed values — no I/O (like doip-proto).
//! - [`UdsClient`]: the services over a [`Channel`]: DiagnosticSessionControl (applying the
//!   announced P2/P2* and keeping a non-default session alive with TesterPresent), ECUReset,
//!   SecurityAccess with a [`KeyAlgorithm`], CommunicationControl, TesterPresent,
//!   Read/WriteDataByIdentifier, RoutineControl, Clear/ReadDTCInformation,
//!   ControlDTCSetting, Read/WriteMemoryByAddress, downloads and uploads.
//! - [`AsyncUdsClient`]: the same services as futures over an [`AsyncChannel`]; feature
//!   `tokio` makes doip-client's tokio driver one (`doip_uds::tokio`). Both clients are
//!   expanded from one definition, so they cannot drift apart.
//! - [`Flasher`]: programming session → security → erase → per segment RequestDownload /
//!   TransferData / RequestTransferExit → check → reset, as reorderable [`Step`]s;
//!   [`AsyncFlasher`] runs them over an [`AsyncUdsClient`].
//! - [`Image`]: Intel HEX, S-record or binary files as segments.
//! - [`Nrc`], [`ServiceId`] and the sub-function tables: open enums (unknown values kept).
//!
//! Negative answers are [`Error::Negative`] naming the service and the NRC. Nothing is sent
//! twice on its own: an answer lost with the connection is reported
//! ([`Error::maybe_delivered`]).
//!
//! ```no_run
//! use doip_client::{Client, LogicalAddress};
//! use doip_uds::{Dtc, SessionType, UdsClient};
//!
//! let client = Client::connect("192.0.2.10".parse().unwrap(), LogicalAddress(0x4011))?;
//! let mut uds = UdsClient::new(client);
//! uds.session_control(SessionType::Extended)?;
//! for (dtc, status) in uds.read_dtc_by_status_mask(0xFF)?.dtcs {
//!     println!("{dtc} {status}");
//! }
//! uds.clear_diagnostic_information(Dtc::ALL)?;
//! # Ok::<(), doip_uds::Error>(())
//! ```
#![forbid(unsafe_code)]
// ISO 14229 names its services and parameters in CamelCase (ReadDataByIdentifier,
// maxNumberOfBlockLength): they are words of the standard here, not code.
#![allow(clippy::doc_markdown)]

mod channel;
mod client;
pub mod codec;
pub mod describe;
mod error;
mod flash;
mod image;
mod nrc;
mod security;
mod service;
#[cfg(feature = "tokio")]
pub mod tokio;

pub use channel::{AsyncChannel, Channel, EcuChannel};
pub use client::{AsyncUdsClient, TransferSummary, UdsClient, UdsOptions};
pub use codec::{
    DidLengths, Dtc, DtcCount, DtcList, DtcRecords, DtcStatus, MemoryFormat, SessionAnswer,
    TransferParameters,
};
pub use error::{Error, Result};
pub use flash::{AsyncFlasher, CHECK_MEMORY, ERASE_MEMORY, FlashReport, Flasher, Progress, Step};
pub use image::{Image, ImageError, ImageFormat, Segment};
pub use nrc::Nrc;
pub use security::{KeyAlgorithm, XorKey};
pub use service::{
    CommunicationControlType, DtcReportType, ResetType, RoutineControlType, ServiceId, SessionType,
};

pub use doip_client::UdsTiming;

/// The workspace README's Rust examples, compiled (and run, unless marked `no_run`) as
/// doctests here, in the crate that sees every layer they use.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
