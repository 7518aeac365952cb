//! UDS (ISO 14229-1) behind the entity: the [`UdsHandler`] trait an ECU implements, and the
//! built-in [`Responder`].
//!
//! Here: the trait, the reply, the responder's state and builder, and the dispatch of a
//! request to its service. Each group of services is a module of `impl Responder` methods
//! over that state: `session` (10, 3E, 11, 28), `security` (27), `data` (22, 2E), `routine` (31), `transfer`
//! (34, 36, 37).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

mod data;
mod dtc;
mod routine;
mod security;
mod session;
mod transfer;

use data::Data;
use dtc::{Dtc, Dtcs};
use security::Security;
use session::Session;
use transfer::Download;

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
/// - 10 DiagnosticSessionControl (01 default, 02 programming, 03 extended, 04 safety; P2/P2*
///   in the answer; the S3 timeout back to the default session), 3E TesterPresent,
///   11 ECUReset, 28 `CommunicationControl`;
/// - 27 `SecurityAccess` (key = seed XOR a configured constant, wrong keys counted, a delay
///   after too many);
/// - 22 ReadDataByIdentifier (several DIDs at once; F186 the active session), 2E
///   `WriteDataByIdentifier` (configured DIDs, outside the default session), 31 RoutineControl, 34/36/37 downloads (block counters and
///   CRC-32);
///
/// honours the suppress-positive-response bit, and answers NRC 0x11 to everything else.
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
    download: Option<Download>,
    last_crc: Option<u32>,
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
            download: None,
            last_crc: None,
        }
    }

    /// Adds a data identifier for ReadDataByIdentifier.
    #[must_use]
    pub fn with_did(mut self, did: u16, value: Vec<u8>) -> Self {
        self.dids.insert(did, value);
        self
    }

    /// Adds a data identifier that `WriteDataByIdentifier` may change (outside the default
    /// session); `value` is its initial value and fixes its length.
    #[must_use]
    pub fn with_writable_did(mut self, did: u16, value: Vec<u8>) -> Self {
        self.dids.insert(did, value);
        self.data.writable.insert(did);
        self
    }

    /// The most DIDs one ReadDataByIdentifier may ask for (16 by default; more: NRC 0x13).
    #[must_use]
    pub const fn with_max_dids_per_read(mut self, max: usize) -> Self {
        self.data.max_per_read = max;
        self
    }

    /// A DID's current value (as written, for writable ones).
    #[must_use]
    pub fn did(&self, did: u16) -> Option<&[u8]> {
        self.dids.get(&did).map(Vec::as_slice)
    }

    /// Adds a routine for RoutineControl with its result bytes.
    #[must_use]
    pub fn with_routine(mut self, rid: u16, result: Vec<u8>) -> Self {
        self.routines.insert(rid, result);
        self
    }

    /// Answers `service` only after `count` response-pending messages `interval` apart.
    #[must_use]
    pub fn with_pending(mut self, service: u8, count: u32, interval: Duration) -> Self {
        self.pending.insert(service, (count, interval));
        self
    }

    /// The maxNumberOfBlockLength RequestDownload reports (0x0FFF: 4093 data bytes).
    #[must_use]
    pub const fn with_max_block_length(mut self, length: u16) -> Self {
        self.max_block_length = length;
        self
    }

    /// How long an ECUReset makes the entity unavailable.
    #[must_use]
    pub const fn with_reset_time(mut self, time: Duration) -> Self {
        self.reset_time = time;
        self
    }

    /// P2 and P2* as DiagnosticSessionControl reports them (50 ms and 5000 ms by default;
    /// the answer carries P2 in ms and P2* in 10 ms units, saturating).
    #[must_use]
    pub const fn with_p2(mut self, p2: Duration, p2_star: Duration) -> Self {
        self.session.p2 = p2;
        self.session.p2_star = p2_star;
        self
    }

    /// S3: how long a non-default session lasts without requests (5000 ms by default).
    #[must_use]
    pub const fn with_s3(mut self, s3: Duration) -> Self {
        self.session.s3 = s3;
        self
    }

    /// `SecurityAccess`: the key constant (key = seed XOR `key`, `0x5A5A_A5A5` by default), how
    /// many wrong keys start the delay (3; 0: no limit), and the delay (1 s) during which
    /// seed requests get NRC 0x37.
    #[must_use]
    pub const fn with_security(mut self, key: u32, attempts: u32, delay: Duration) -> Self {
        self.security.key = key;
        self.security.max_attempts = attempts;
        self.security.delay = delay;
        self
    }

    /// The unlocked security level, if any.
    #[must_use]
    pub const fn security_level(&self) -> Option<u8> {
        self.security.unlocked
    }

    /// Adds a DTC (3-byte number) with its status byte; 19 reports it, 14 clears it.
    #[must_use]
    pub fn with_dtc(mut self, code: u32, status: u8) -> Self {
        self.dtcs.store.entry(code & 0x00FF_FFFF).or_default().status = status;
        self
    }

    /// Adds a snapshot record (19 04) to a DTC, adding the DTC (status 0) if new.
    #[must_use]
    pub fn with_dtc_snapshot(mut self, code: u32, record: u8, data: Vec<u8>) -> Self {
        self.dtc_entry(code).snapshots.insert(record, data);
        self
    }

    /// Adds an extended data record (19 06) to a DTC, adding the DTC (status 0) if new.
    #[must_use]
    pub fn with_dtc_extended(mut self, code: u32, record: u8, data: Vec<u8>) -> Self {
        self.dtc_entry(code).extended.insert(record, data);
        self
    }

    /// The `DTCStatusAvailabilityMask` (0xFF by default): reported statuses keep these bits.
    #[must_use]
    pub const fn with_dtc_availability_mask(mut self, mask: u8) -> Self {
        self.dtcs.availability = mask;
        self
    }

    fn dtc_entry(&mut self, code: u32) -> &mut Dtc {
        self.dtcs.store.entry(code & 0x00FF_FFFF).or_default()
    }

    /// A DTC's status byte, if the DTC is known.
    #[must_use]
    pub fn dtc_status(&self, code: u32) -> Option<u8> {
        self.dtcs.store.get(&code).map(|d| d.status)
    }

    /// Whether DTC setting is on (`ControlDTCSetting` 01; off after 02 until the default
    /// session).
    #[must_use]
    pub const fn dtc_setting_on(&self) -> bool {
        self.dtcs.setting_on
    }

    /// The CRC-32 of the last completed download.
    #[must_use]
    pub const fn last_download_crc(&self) -> Option<u32> {
        self.last_crc
    }

    /// The active diagnostic session (0x01 default), S3 applied as of now.
    #[must_use]
    pub fn session(&self) -> u8 {
        self.session.at(Instant::now())
    }

    /// The `CommunicationControl` state: (controlType, communicationType); (0x00, 0x03),
    /// everything enabled, outside a non-default session.
    #[must_use]
    pub const fn communication(&self) -> (u8, u8) {
        self.session.communication
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
            0x34 => self.request_download(body),
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
