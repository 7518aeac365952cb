//! UDS (ISO 14229-1) behind the entity: the [`UdsHandler`] trait an ECU implements, and the
//! built-in [`Responder`].
//!
//! Here: the trait, the reply, the responder's state and the dispatch of a request to its
//! service. `builder` holds the responder's knobs; each group of services is a module of
//! `impl Responder` methods over the state: `session` (10, 3E, 11, 28), `security` (27),
//! `data` (22, 2E), `dtc` (14, 19, 85), `memory` (23, 3D, and the memory itself),
//! `transfer` (34, 35, 36, 37), `routine` (31).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

mod builder;
mod data;
mod dtc;
mod memory;
mod routine;
mod security;
mod session;
mod transfer;

use data::Data;
use dtc::{Dtc, Dtcs};
use memory::Memory;
use security::Security;
use session::Session;
use transfer::Transfer;

/// What an ECU does with one UDS request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UdsReply {
    /// No answer (e.g. TesterPresent with the suppress-positive-response bit).
    None,
    /// Answer with this PDU.
    Respond(Vec<u8>),
    /// Send `count` "response pending" (7F sid 78) messages `interval` apart, then `response`.
    Pending {
        /// How many pending messages.
        count: u32,
        /// The gap between them and before the answer.
        interval: Duration,
        /// The final answer.
        response: Vec<u8>,
    },
    /// Answer, then reset: the entity drops its TCP connections and accepts none for
    /// `unavailable`.
    Reset {
        /// The positive answer sent before resetting.
        response: Vec<u8>,
        /// How long the entity is unreachable.
        unavailable: Duration,
    },
    /// Reset without answering (ECUReset with the suppress-positive-response bit).
    SilentReset {
        /// How long the entity is unreachable.
        unavailable: Duration,
    },
}

impl UdsReply {
    /// The reply as sent to a functionally addressed request: ECUs stay silent instead of
    /// answering NRC 0x11, 0x12, 0x31, 0x7E or 0x7F there (ISO 14229-1), since a tester
    /// asking every ECU wants the answers of those that support the request only.
    #[must_use]
    pub fn for_functional(self) -> Self {
        match &self {
            Self::Respond(r)
                if matches!(
                    r.as_slice(),
                    [
                        0x7F,
                        _,
                        nrc::SERVICE_NOT_SUPPORTED
                            | nrc::SUBFUNCTION_NOT_SUPPORTED
                            | nrc::REQUEST_OUT_OF_RANGE
                            | nrc::SUBFUNCTION_NOT_SUPPORTED_IN_SESSION
                            | nrc::SERVICE_NOT_SUPPORTED_IN_SESSION
                    ]
                ) =>
            {
                Self::None
            }
            _ => self,
        }
    }
}

/// How a request reached the ECU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Addressing {
    /// Sent to the ECU's own logical address.
    #[default]
    Physical,
    /// Sent to the functional address, which the entity fans out to every ECU.
    Functional,
}

/// An ECU's UDS behaviour. Implement it to simulate your own ECU.
pub trait UdsHandler: Send {
    /// Handles one request PDU (service identifier first).
    fn handle(&mut self, request: &[u8]) -> UdsReply;

    /// Handles one request, knowing how it was addressed; the entity calls this one. The
    /// default answers as [`handle`](Self::handle) does and, for functional requests, drops
    /// the negative answers ECUs do not send there ([`UdsReply::for_functional`]).
    fn handle_addressed(&mut self, request: &[u8], addressing: Addressing) -> UdsReply {
        let reply = self.handle(request);
        match addressing {
            Addressing::Functional => reply.for_functional(),
            Addressing::Physical => reply,
        }
    }
}

/// Negative response codes used by the responder (ISO 14229-1).
mod nrc {
    pub(super) const SERVICE_NOT_SUPPORTED: u8 = 0x11;
    pub(super) const SUBFUNCTION_NOT_SUPPORTED: u8 = 0x12;
    pub(super) const INCORRECT_LENGTH: u8 = 0x13;
    pub(super) const REQUEST_SEQUENCE_ERROR: u8 = 0x24;
    pub(super) const REQUEST_OUT_OF_RANGE: u8 = 0x31;
    pub(super) const SECURITY_ACCESS_DENIED: u8 = 0x33;
    pub(super) const TRANSFER_DATA_SUSPENDED: u8 = 0x71;
    pub(super) const WRONG_BLOCK_SEQUENCE_COUNTER: u8 = 0x73;
    pub(super) const SUBFUNCTION_NOT_SUPPORTED_IN_SESSION: u8 = 0x7E;
    pub(super) const SERVICE_NOT_SUPPORTED_IN_SESSION: u8 = 0x7F;
}

fn negative(service: u8, code: u8) -> UdsReply {
    UdsReply::Respond(vec![0x7F, service, code])
}

/// Services whose first byte is a sub-function with the suppress-positive-response bit.
const SUPPRESSIBLE: [u8; 7] = [0x10, 0x11, 0x27, 0x28, 0x31, 0x3E, 0x85];

/// The built-in ECU. It serves, as a real ECU would:
///
/// - 10 DiagnosticSessionControl (01 default, 02 programming, 03 extended, 04 safety; P2 and
///   P2* in the answer; S3 back to the default session), 3E TesterPresent, 11 ECUReset,
///   28 `CommunicationControl`;
/// - 27 `SecurityAccess`: key = seed XOR a per-ECU constant (see [`Responder::with_security`]),
///   wrong keys counted, a delay after too many;
/// - 22 ReadDataByIdentifier (several DIDs at once; F186 is the active session) and 2E
///   `WriteDataByIdentifier` (writable DIDs, outside the default session);
/// - 19 `ReadDTCInformation` (01, 02, 04, 06, 0A), 14 `ClearDiagnosticInformation`,
///   85 `ControlDTCSetting`;
/// - a sparse memory that survives connections and resets: 23 `ReadMemoryByAddress`,
///   3D `WriteMemoryByAddress`, 34/35/36/37 downloads and uploads (block counters, CRC-32);
/// - 31 RoutineControl: configured routines, FF00 erase memory and FF01 check memory.
///
/// Services that need a non-default session answer NRC 0x7F in the default one; the
/// suppress-positive-response bit is honoured; anything else gets NRC 0x11.
#[derive(Debug)]
pub struct Responder {
    dids: BTreeMap<u16, Vec<u8>>,
    data: Data,
    routines: BTreeMap<u16, Vec<u8>>,
    pending: BTreeMap<u8, (u32, Duration)>,
    max_block_length: u16,
    reset_time: Duration,
    session: Session,
    security: Security,
    dtcs: Dtcs,
    memory: Memory,
    transfer: Option<Transfer>,
    last_crc: Option<u32>,
    /// The CRC-32 of what was programmed: every download completed since the last erase
    /// (FF00) or check (FF01), in order — what the check routine compares with, so that an
    /// image of several segments is checked whole.
    programmed: Option<crc32fast::Hasher>,
    /// A check ran: the next download starts a new programmed image.
    checked: bool,
    /// The status bytes of routines started (what 31 03 answers).
    routine_results: BTreeMap<u16, Vec<u8>>,
    download_session: Option<u8>,
    download_security: Option<u8>,
}

impl Responder {
    /// A responder whose DID F190 is `vin`.
    #[must_use]
    pub fn new(vin: &[u8]) -> Self {
        Self {
            dids: BTreeMap::from([(0xF190, vin.to_vec())]),
            data: Data::default(),
            routines: BTreeMap::new(),
            pending: BTreeMap::new(),
            max_block_length: 0x0FFF,
            reset_time: Duration::from_secs(1),
            session: Session::default(),
            security: Security::default(),
            dtcs: Dtcs::default(),
            memory: Memory::default(),
            transfer: None,
            last_crc: None,
            programmed: None,
            checked: false,
            routine_results: BTreeMap::new(),
            download_session: None,
            download_security: None,
        }
    }

    /// Handles one request as it arrives at `now`: the clock of the S3 timeout and the
    /// security delay, injectable for tests ([`UdsHandler::handle`] passes the current time).
    pub fn handle_at(&mut self, request: &[u8], now: Instant) -> UdsReply {
        let Some(&service) = request.first() else { return UdsReply::None };
        self.expire_session(now);
        let suppress =
            SUPPRESSIBLE.contains(&service) && request.get(1).is_some_and(|b| b & 0x80 != 0);
        let reply = if suppress {
            let mut stripped = request.to_vec();
            stripped[1] &= 0x7F;
            self.answer(&stripped, now)
        } else {
            self.answer(request, now)
        };
        let reply = match reply {
            UdsReply::Respond(r) if suppress && r.first() != Some(&0x7F) => UdsReply::None,
            UdsReply::Reset { unavailable, .. } if suppress => {
                UdsReply::SilentReset { unavailable }
            }
            UdsReply::Respond(response) if response.first() != Some(&0x7F) => {
                match self.pending.get(&service) {
                    Some(&(count, interval)) => UdsReply::Pending { count, interval, response },
                    None => UdsReply::Respond(response),
                }
            }
            other => other,
        };
        self.session.last_request = Some(now);
        reply
    }

    /// Whether the default session is active (services that need another one refuse).
    const fn in_default_session(&self) -> bool {
        self.session.current == session::DEFAULT
    }

    fn answer(&mut self, request: &[u8], now: Instant) -> UdsReply {
        let Some(&service) = request.first() else { return UdsReply::None };
        let body = &request[1..];
        match service {
            0x3E => Self::tester_present(body),
            0x10 => self.session_control(body),
            0x11 => self.ecu_reset(body),
            0x27 => self.security_access(body, now),
            0x28 => self.communication_control(body),
            0x22 => self.read_data(body),
            0x2E => self.write_data(body),
            0x14 => self.clear_dtcs(body),
            0x19 => self.read_dtc_information(body),
            0x85 => self.control_dtc_setting(body),
            0x31 => self.routine(body),
            0x23 => self.read_memory_by_address(body),
            0x3D => self.write_memory_by_address(body),
            0x34 => self.request_download(body),
            0x35 => self.request_upload(body),
            0x36 => self.transfer_data(body),
            0x37 => self.transfer_exit(),
            _ => negative(service, nrc::SERVICE_NOT_SUPPORTED),
        }
    }
}

impl UdsHandler for Responder {
    fn handle(&mut self, request: &[u8]) -> UdsReply {
        self.handle_at(request, Instant::now())
    }
}

#[cfg(test)]
mod tests;
