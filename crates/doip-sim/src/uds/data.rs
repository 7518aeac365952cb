//! ReadDataByIdentifier (0x22) and `WriteDataByIdentifier` (0x2E) over the ECU's DIDs.
//!
//! A DID's stored value fixes its length: UDS answers carry no lengths, so a tester knows
//! each DID's size, and a write of another size is refused (0x13) as a real ECU would.
//! F186 (activeDiagnosticSessionDataIdentifier) is computed, not stored.

use std::collections::BTreeSet;

use super::{Responder, UdsReply, negative, nrc};

/// activeDiagnosticSessionDataIdentifier: the current session byte.
const ACTIVE_SESSION: u16 = 0xF186;

/// What the data services read and write.
#[derive(Debug)]
pub(super) struct Data {
    pub(super) writable: BTreeSet<u16>,
    /// The most DIDs one ReadDataByIdentifier may ask (more: 0x13).
    pub(super) max_per_read: usize,
}

impl Default for Data {
    fn default() -> Self {
        Self { writable: BTreeSet::new(), max_per_read: 16 }
    }
}

impl Responder {
    /// `22 DID DID…` → `62 DID data DID data…`; any unknown DID refuses the whole request.
    pub(super) fn read_data(&self, body: &[u8]) -> UdsReply {
        if body.is_empty()
            || !body.len().is_multiple_of(2)
            || body.len() / 2 > self.data.max_per_read
        {
            return negative(0x22, nrc::INCORRECT_LENGTH);
        }
        let mut response = vec![0x62];
        for pair in body.chunks_exact(2) {
            let did = u16::from_be_bytes([pair[0], pair[1]]);
            response.extend_from_slice(pair);
            if did == ACTIVE_SESSION {
                response.push(self.session.current);
                continue;
            }
            let Some(value) = self.dids.get(&did) else {
                return negative(0x22, nrc::REQUEST_OUT_OF_RANGE);
            };
            response.extend_from_slice(value);
        }
        UdsReply::Respond(response)
    }

    /// `2E DID data` → `6E DID`, outside the default session, for the writable DIDs only.
    pub(super) fn write_data(&mut self, body: &[u8]) -> UdsReply {
        if self.in_default_session() {
            return negative(0x2E, nrc::SERVICE_NOT_SUPPORTED_IN_SESSION);
        }
        let [hi, lo, data @ ..] = body else { return negative(0x2E, nrc::INCORRECT_LENGTH) };
        if data.is_empty() {
            return negative(0x2E, nrc::INCORRECT_LENGTH);
        }
        let did = u16::from_be_bytes([*hi, *lo]);
        let value = match self.dids.get_mut(&did) {
            Some(v) if self.data.writable.contains(&did) => v,
            _ => return negative(0x2E, nrc::REQUEST_OUT_OF_RANGE),
        };
        if value.len() != data.len() {
            return negative(0x2E, nrc::INCORRECT_LENGTH);
        }
        value.copy_from_slice(data);
        UdsReply::Respond(vec![0x6E, *hi, *lo])
    }
}
