//! UDS (ISO 14229) behind the entity: the [`UdsHandler`] trait an ECU implements, and the
//! built-in [`Responder`].

use std::collections::BTreeMap;
use std::time::Duration;

mod data;
mod routine;
mod transfer;

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
}

/// An ECU's UDS behaviour. Implement it to simulate your own ECU.
pub trait UdsHandler: Send {
    /// Handles one request PDU (service identifier first).
    fn handle(&mut self, request: &[u8]) -> UdsReply;
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
}

fn negative(service: u8, code: u8) -> UdsReply {
    UdsReply::Respond(vec![0x7F, service, code])
}

/// The built-in ECU: TesterPresent, DiagnosticSessionControl, ECUReset,
/// ReadDataByIdentifier, RoutineControl and RequestDownload/TransferData/RequestTransferExit,
/// with a negative response for everything else.
#[derive(Debug)]
pub struct Responder {
    dids: BTreeMap<u16, Vec<u8>>,
    routines: BTreeMap<u16, Vec<u8>>,
    pending: BTreeMap<u8, (u32, Duration)>,
    max_block_length: u16,
    reset_time: Duration,
    session: u8,
    download: Option<Download>,
    last_crc: Option<u32>,
}

impl Responder {
    /// A responder whose DID F190 is `vin`.
    #[must_use]
    pub fn new(vin: &[u8]) -> Self {
        Self {
            dids: BTreeMap::from([(0xF190, vin.to_vec())]),
            routines: BTreeMap::new(),
            pending: BTreeMap::new(),
            max_block_length: 0x0FFF,
            reset_time: Duration::from_secs(1),
            session: 1,
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

    /// The CRC-32 of the last completed download.
    #[must_use]
    pub const fn last_download_crc(&self) -> Option<u32> {
        self.last_crc
    }

    fn answer(&mut self, request: &[u8]) -> UdsReply {
        let Some(&service) = request.first() else { return UdsReply::None };
        let body = &request[1..];
        match service {
            0x3E => match body {
                [0x00] => UdsReply::Respond(vec![0x7E, 0x00]),
                [0x80] => UdsReply::None,
                [_] => negative(service, nrc::SUBFUNCTION_NOT_SUPPORTED),
                _ => negative(service, nrc::INCORRECT_LENGTH),
            },
            0x10 => match body {
                [session @ (0x01..=0x03)] => {
                    self.session = *session;
                    // P2 = 50 ms, P2* = 5000 ms (in 10 ms units).
                    UdsReply::Respond(vec![0x50, *session, 0x00, 0x32, 0x01, 0xF4])
                }
                [_] => negative(service, nrc::SUBFUNCTION_NOT_SUPPORTED),
                _ => negative(service, nrc::INCORRECT_LENGTH),
            },
            0x11 => match body {
                [kind @ (0x01..=0x03)] => {
                    self.session = 1;
                    self.download = None;
                    UdsReply::Reset { response: vec![0x51, *kind], unavailable: self.reset_time }
                }
                [_] => negative(service, nrc::SUBFUNCTION_NOT_SUPPORTED),
                _ => negative(service, nrc::INCORRECT_LENGTH),
            },
            0x22 => self.read_data(body),
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
        let reply = self.answer(request);
        match (reply, request.first().and_then(|s| self.pending.get(s))) {
            (UdsReply::Respond(response), Some(&(count, interval)))
                if response.first() != Some(&0x7F) =>
            {
                UdsReply::Pending { count, interval, response }
            }
            (reply, _) => reply,
        }
    }
}

#[cfg(test)]
mod tests;
