//! The DoIP (ISO 13400-2) tester API: find entities, activate routing, exchange UDS.
//!
//! Everything Python's `doipclient` offers, with Rust names, plus what it cannot do: alive
//! checks are answered at all times (a background thread runs the event loop), discovery
//! collects every responder, any target address and functional requests are one call, and
//! [`Client::request`] waits through UDS "response pending" answers with P2/P2* timing.
//!
//! The ten-line tester script of doipclient's README, in Rust:
//!
//! ```no_run
//! use doip_client::{Client, get_entity};
//!
//! let entity = get_entity(None, None, None, None)?; // broadcast discovery
//! println!("found {} at {}", entity.announcement.vin, entity.address);
//! let mut client = Client::connect(entity.address.ip(), entity.announcement.logical_address)?;
//! client.send_diagnostic(&[0x22, 0xF1, 0x90])?; // ReadDataByIdentifier: VIN
//! let answer = client.receive_diagnostic(std::time::Duration::from_secs(2))?;
//! println!("UDS answer: {answer:02x?}");
//! client.close()?;
//! # Ok::<(), doip_client::Error>(())
//! ```

#![forbid(unsafe_code)]

mod client;
mod discovery;
mod error;
pub mod session;
pub mod tap;
mod tester;
#[cfg(feature = "tokio")]
pub mod tokio;
#[cfg(feature = "ecu-diagnostics")]
mod uds_channel;
mod wire;

pub use client::{Client, ClientBuilder, TCP_PORT};
pub use discovery::{
    AnnouncementListener, Discovery, Entity, await_vehicle_announcement, get_entity,
    interface_index,
};
pub use error::{Error, Result};
pub use session::{
    Counters, Event, Outcome, Request, RequestId, Session, SessionConfig, Transmit, TransportKind,
    UdsTiming, Unsolicited,
};
pub use tap::{FrameTap, TappedFrame};
pub use tester::{EcuId, Tester};

// What the API takes and returns, so that a tester needs this one dependency.
pub use doip_proto::{
    ActivationType, AliveCheckResponse, DiagnosticNackCode, DiagnosticPowerModeResponse, Eid,
    EntityStatusResponse, Frame, GenericNackCode, Gid, LogicalAddress, Message, NodeType,
    PayloadType, PowerMode, ProtocolVersion, RoutingActivationResponse,
    RoutingActivationResponseCode, VehicleAnnouncement, Vin,
};
pub use doip_transport::{TlsClient, tls};
#[cfg(feature = "ecu-diagnostics")]
pub use uds_channel::DoipChannel;
/// The crates below this one, for everything else they offer.
pub use {doip_proto, doip_transport};
