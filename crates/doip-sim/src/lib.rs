//! A simulated DoIP entity (ISO 13400-2): a gateway or node with ECUs behind it, on loopback
//! or any address, for testing DoIP testers without a vehicle.
//!
//! It follows the spec's entity behaviour (PROTOCOL.md §6): vehicle identification (all three
//! kinds), entity status and power mode over UDP and TCP, announcements, routing activation
//! with every response code path — unknown tester, unsupported type, TLS required,
//! authentication, confirmation, and the alive-check decisions when an address is already
//! active or every socket is taken — inactivity timers, and diagnostic ACK/NACK before
//! routing to the addressed ECU. ECUs answer UDS through [`UdsHandler`]; the built-in
//! [`Responder`] behaves as a real ECU would for what a UDS client uses: sessions with P2, P2*
//! and S3 (10, 3E), reset (11), security access (27), communication control (28), DIDs (22,
//! 2E), DTCs (19, 14, 85), a sparse memory kept over connections and resets (23, 3D,
//! downloads and uploads 34/35/36/37), routines with erase and check (31); functionally
//! addressed requests get no "not supported" answers.
//! [`Faults`] make it misbehave on demand.
//!
//! ```
//! use doip_sim::{SimConfig, Simulator};
//!
//! let sim = Simulator::new(&SimConfig::for_tests())?.spawn()?;
//! println!("DoIP entity on {}", sim.tcp);
//! sim.stop()?;
//! # Ok::<(), doip_sim::Error>(())
//! ```

#![forbid(unsafe_code)]

mod config;
mod entity;
mod uds;

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use doip_proto::{LogicalAddress, RoutingActivationResponseCode};
use doip_transport::rustls;
use doip_transport::rustls::pki_types::pem::PemObject;
use doip_transport::rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub use config::{
    Announce, Confirmation, DtcConfig, EcuConfig, Faults, Identity, PendingReply, RoutingConfig,
    SimConfig, Timing, TlsFiles,
};
pub use entity::{SimHandle, Simulator};
pub use uds::{Addressing, Responder, UdsHandler, UdsReply};

/// Why the simulator could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// TLS files could not be read or used.
    #[error("TLS set-up: {0}")]
    Tls(String),
    /// A socket or the event loop failed.
    #[error(transparent)]
    Transport(#[from] doip_transport::Error),
}

/// Something the simulator did, one line each for logs and `doip sim`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimEvent {
    /// A tester connected.
    Connected {
        /// The tester.
        peer: SocketAddr,
        /// Over TLS.
        tls: bool,
    },
    /// A routing activation was answered.
    Activation {
        /// The tester.
        peer: SocketAddr,
        /// Its source address.
        tester: LogicalAddress,
        /// The answer.
        code: RoutingActivationResponseCode,
    },
    /// A UDS request was accepted for routing.
    Request {
        /// The tester.
        peer: SocketAddr,
        /// Its source address.
        source: LogicalAddress,
        /// The addressed ECU (or functional address).
        target: LogicalAddress,
        /// The UDS request.
        data: Vec<u8>,
    },
    /// An ECU answered.
    Response {
        /// The tester.
        peer: SocketAddr,
        /// The answering ECU.
        source: LogicalAddress,
        /// The UDS response.
        data: Vec<u8>,
    },
    /// A UDP request arrived (and was answered, or not: EID/VIN mismatch).
    Datagram {
        /// The sender.
        peer: SocketAddr,
        /// The request.
        request: String,
        /// Whether it was answered.
        answered: bool,
    },
    /// A peer's header was refused with a NACK.
    Refused {
        /// The peer.
        peer: SocketAddr,
        /// The refusal.
        error: String,
    },
    /// A connection closed.
    Closed {
        /// The tester.
        peer: SocketAddr,
        /// Why.
        reason: String,
    },
    /// An ECU reset: connections dropped, none accepted for a while.
    Reset {
        /// For how long.
        unavailable: Duration,
    },
    /// Reachable again after a reset.
    Available,
}

/// Bytes shown in an event line; longer PDUs (TransferData blocks) are cut, with their length.
const SHOWN: usize = 32;

fn hex(data: &[u8]) -> String {
    use fmt::Write as _;
    let mut s = String::with_capacity(3 * data.len().min(SHOWN) + 16);
    for (i, b) in data.iter().take(SHOWN).enumerate() {
        let _ = write!(s, "{}{b:02x}", if i == 0 { "" } else { " " });
    }
    if data.len() > SHOWN {
        let _ = write!(s, " … ({} bytes)", data.len());
    }
    s
}

impl fmt::Display for SimEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connected { peer, tls } => {
                write!(f, "connection from {peer}{}", if *tls { " (TLS)" } else { "" })
            }
            Self::Activation { peer, tester, code } => {
                write!(f, "routing activation from {peer} as {tester}: {code}")
            }
            Self::Request { peer, source, target, data } => {
                write!(f, "request {source} -> {target} from {peer}: {}", hex(data))
            }
            Self::Response { peer, source, data } => {
                write!(f, "response {source} -> {peer}: {}", hex(data))
            }
            Self::Datagram { peer, request, answered } => {
                write!(
                    f,
                    "UDP {request} from {peer}{}",
                    if *answered { "" } else { " (not for us)" }
                )
            }
            Self::Refused { peer, error } => write!(f, "refused from {peer}: {error}"),
            Self::Closed { peer, reason } => write!(f, "closed {peer}: {reason}"),
            Self::Reset { unavailable } => write!(f, "ECU reset: unavailable for {unavailable:?}"),
            Self::Available => f.write_str("available again after reset"),
        }
    }
}

/// A rustls server configuration from PEM files.
fn tls_config(files: &TlsFiles) -> Result<rustls::ServerConfig, Error> {
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| Error::Tls(format!("{}: {e}", files.cert.display())))?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| Error::Tls(format!("{}: {e}", files.key.display())))?;
    doip_transport::tls::server_config(chain, key).map_err(|e| Error::Tls(e.to_string()))
}
