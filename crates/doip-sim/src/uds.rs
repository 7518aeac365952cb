//! UDS (ISO 14229) behind the entity: the [`UdsHandler`] trait an ECU implements, and the
//! built-in [`Responder`].

use std::collections::BTreeMap;
use std::time::Duration;

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

/// A download in progress (RequestDownload accepted).
#[derive(Debug)]
struct Download {
    next_counter: u8,
    crc: crc32fast::Hasher,
    received: u64,
    size: u64,
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

    fn read_data(&self, body: &[u8]) -> UdsReply {
        if body.is_empty() || !body.len().is_multiple_of(2) {
            return negative(0x22, nrc::INCORRECT_LENGTH);
        }
        let mut response = vec![0x62];
        for pair in body.chunks_exact(2) {
            let did = u16::from_be_bytes([pair[0], pair[1]]);
            let Some(value) = self.dids.get(&did) else {
                return negative(0x22, nrc::REQUEST_OUT_OF_RANGE);
            };
            response.extend_from_slice(pair);
            response.extend_from_slice(value);
        }
        UdsReply::Respond(response)
    }

    fn routine(&self, body: &[u8]) -> UdsReply {
        let [kind, hi, lo, ..] = *body else { return negative(0x31, nrc::INCORRECT_LENGTH) };
        let rid = u16::from_be_bytes([hi, lo]);
        let Some(result) = self.routines.get(&rid) else {
            return negative(0x31, nrc::REQUEST_OUT_OF_RANGE);
        };
        match kind {
            0x01 | 0x03 => {
                let mut response = vec![0x71, kind, hi, lo];
                response.extend_from_slice(result);
                UdsReply::Respond(response)
            }
            0x02 => UdsReply::Respond(vec![0x71, kind, hi, lo]),
            _ => negative(0x31, nrc::SUBFUNCTION_NOT_SUPPORTED),
        }
    }

    fn request_download(&mut self, body: &[u8]) -> UdsReply {
        // dataFormatIdentifier, addressAndLengthFormatIdentifier, address, size.
        let [_format, address_and_length, rest @ ..] = body else {
            return negative(0x34, nrc::INCORRECT_LENGTH);
        };
        let size_len = usize::from(address_and_length >> 4);
        let address_len = usize::from(address_and_length & 0x0F);
        if size_len == 0 || size_len > 8 || address_len == 0 || rest.len() != address_len + size_len
        {
            return negative(0x34, nrc::INCORRECT_LENGTH);
        }
        let size = rest[address_len..].iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        self.download =
            Some(Download { next_counter: 1, crc: crc32fast::Hasher::new(), received: 0, size });
        let [hi, lo] = self.max_block_length.to_be_bytes();
        UdsReply::Respond(vec![0x74, 0x20, hi, lo])
    }

    fn transfer_data(&mut self, body: &[u8]) -> UdsReply {
        let max_data = usize::from(self.max_block_length).saturating_sub(2);
        let Some(download) = &mut self.download else {
            return negative(0x36, nrc::REQUEST_SEQUENCE_ERROR);
        };
        let [counter, data @ ..] = body else { return negative(0x36, nrc::INCORRECT_LENGTH) };
        if data.len() > max_data {
            return negative(0x36, nrc::INCORRECT_LENGTH);
        }
        if *counter == download.next_counter.wrapping_sub(1) && download.received > 0 {
            // A repeated block (the tester missed our answer): acknowledge, do not add again.
            return UdsReply::Respond(vec![0x76, *counter]);
        }
        if *counter != download.next_counter {
            return negative(0x36, nrc::WRONG_BLOCK_SEQUENCE_COUNTER);
        }
        if download.received + data.len() as u64 > download.size {
            return negative(0x36, nrc::TRANSFER_DATA_SUSPENDED);
        }
        download.crc.update(data);
        download.received += data.len() as u64;
        download.next_counter = download.next_counter.wrapping_add(1);
        UdsReply::Respond(vec![0x76, *counter])
    }

    fn transfer_exit(&mut self) -> UdsReply {
        let Some(download) = self.download.take() else {
            return negative(0x37, nrc::REQUEST_SEQUENCE_ERROR);
        };
        let crc = download.crc.finalize();
        self.last_crc = Some(crc);
        let mut response = vec![0x77];
        response.extend_from_slice(&crc.to_be_bytes());
        UdsReply::Respond(response)
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
mod tests {
    use super::*;

    fn respond(r: &mut Responder, req: &[u8]) -> Vec<u8> {
        match r.handle(req) {
            UdsReply::Respond(v) => v,
            other => panic!("{req:02x?}: {other:?}"),
        }
    }

    #[test]
    fn services() {
        let mut r = Responder::new(b"WDOIPRS0000000001")
            .with_did(0xF187, b"P1".to_vec())
            .with_routine(0xFF00, vec![0]);
        assert_eq!(respond(&mut r, &[0x3E, 0x00]), [0x7E, 0x00]);
        assert_eq!(r.handle(&[0x3E, 0x80]), UdsReply::None);
        assert_eq!(respond(&mut r, &[0x10, 0x03]), [0x50, 0x03, 0x00, 0x32, 0x01, 0xF4]);
        assert_eq!(respond(&mut r, &[0x10, 0x7F]), [0x7F, 0x10, 0x12]);
        let mut vin = vec![0x62, 0xF1, 0x90];
        vin.extend_from_slice(b"WDOIPRS0000000001");
        assert_eq!(respond(&mut r, &[0x22, 0xF1, 0x90]), vin);
        assert_eq!(
            respond(&mut r, &[0x22, 0xF1, 0x87, 0xF1, 0x87]),
            [0x62, 0xF1, 0x87, b'P', b'1', 0xF1, 0x87, b'P', b'1']
        );
        assert_eq!(respond(&mut r, &[0x22, 0x12, 0x34]), [0x7F, 0x22, 0x31]);
        assert_eq!(respond(&mut r, &[0x31, 0x01, 0xFF, 0x00]), [0x71, 0x01, 0xFF, 0x00, 0x00]);
        assert_eq!(respond(&mut r, &[0x31, 0x01, 0x12, 0x34]), [0x7F, 0x31, 0x31]);
        assert_eq!(respond(&mut r, &[0x85, 0x01]), [0x7F, 0x85, 0x11]);
        assert!(
            matches!(r.handle(&[0x11, 0x01]), UdsReply::Reset { response, .. } if response == [0x51, 0x01])
        );
    }

    #[test]
    fn download_checks_counters_and_reports_the_crc() {
        let mut r = Responder::new(b"WDOIPRS0000000001");
        assert_eq!(respond(&mut r, &[0x36, 0x01, 0xAA]), [0x7F, 0x36, 0x24], "no download yet");
        // 0x44: 4-byte address, 4-byte size; 300 bytes.
        assert_eq!(
            respond(&mut r, &[0x34, 0x00, 0x44, 0, 0, 0, 0, 0, 0, 0x01, 0x2C]),
            [0x74, 0x20, 0x0F, 0xFF]
        );
        let data: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        assert_eq!(respond(&mut r, &[&[0x36, 0x01][..], &data[..100]].concat()), [0x76, 0x01]);
        assert_eq!(
            respond(&mut r, &[&[0x36, 0x01][..], &data[..100]].concat()),
            [0x76, 0x01],
            "repeat ignored"
        );
        assert_eq!(
            respond(&mut r, &[&[0x36, 0x03][..], &data[100..200]].concat()),
            [0x7F, 0x36, 0x73]
        );
        assert_eq!(respond(&mut r, &[&[0x36, 0x02][..], &data[100..]].concat()), [0x76, 0x02]);
        let crc = crc32fast::hash(&data).to_be_bytes();
        assert_eq!(respond(&mut r, &[0x37]), [0x77, crc[0], crc[1], crc[2], crc[3]]);
        assert_eq!(r.last_download_crc(), Some(crc32fast::hash(&data)));
        assert_eq!(respond(&mut r, &[0x37]), [0x7F, 0x37, 0x24]);
    }

    #[test]
    fn pending_wraps_positive_answers_only() {
        let mut r = Responder::new(b"V").with_pending(0x22, 2, Duration::from_millis(10));
        assert!(matches!(r.handle(&[0x22, 0xF1, 0x90]), UdsReply::Pending { count: 2, .. }));
        assert_eq!(respond(&mut r, &[0x22, 0x00, 0x01]), [0x7F, 0x22, 0x31]);
    }
}
