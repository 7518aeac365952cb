//! The DTC store and its services: `ReadDTCInformation` (0x19: 01, 02, 04, 06, 0A),
//! `ClearDiagnosticInformation` (0x14) and `ControlDTCSetting` (0x85).
//!
//! Nothing ages or sets DTCs here (no fault monitors): statuses change only when cleared,
//! so `ControlDTCSetting` off just records the flag a real ECU would obey.

use std::collections::BTreeMap;

use super::{Responder, UdsReply, negative, nrc};

/// `DTCFormatIdentifier` 0x01: ISO 14229-1 DTC format.
const ISO_14229_1_FORMAT: u8 = 0x01;
/// Record number meaning every record.
const ALL_RECORDS: u8 = 0xFF;

/// One DTC: its status byte and its snapshot and extended data records by number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Dtc {
    pub(super) status: u8,
    pub(super) snapshots: BTreeMap<u8, Vec<u8>>,
    pub(super) extended: BTreeMap<u8, Vec<u8>>,
}

/// The DTC store.
#[derive(Debug)]
pub(super) struct Dtcs {
    /// By 3-byte DTC number.
    pub(super) store: BTreeMap<u32, Dtc>,
    /// `DTCStatusAvailabilityMask`: the status bits this ECU supports.
    pub(super) availability: u8,
    /// `ControlDTCSetting`: on (01) or off (02).
    pub(super) setting_on: bool,
}

impl Default for Dtcs {
    fn default() -> Self {
        Self { store: BTreeMap::new(), availability: 0xFF, setting_on: true }
    }
}

fn dtc_bytes(code: u32) -> [u8; 3] {
    let [_, a, b, c] = code.to_be_bytes();
    [a, b, c]
}

impl Dtcs {
    /// The status as reported: only the supported bits.
    const fn status(&self, dtc: &Dtc) -> u8 {
        dtc.status & self.availability
    }

    /// `DTC(3) status` of each DTC whose reported status matches `mask` (any DTC when None).
    fn records(&self, mask: Option<u8>) -> Vec<u8> {
        let mut out = Vec::new();
        for (code, dtc) in &self.store {
            let status = self.status(dtc);
            if mask.is_none_or(|m| status & m != 0) {
                out.extend_from_slice(&dtc_bytes(*code));
                out.push(status);
            }
        }
        out
    }
}

impl Responder {
    pub(super) fn read_dtc_information(&self, body: &[u8]) -> UdsReply {
        let d = &self.dtcs;
        let Some((&sub, rest)) = body.split_first() else {
            return negative(0x19, nrc::INCORRECT_LENGTH);
        };
        let length_ok = match sub {
            0x01 | 0x02 => rest.len() == 1,
            0x04 | 0x06 => rest.len() == 4,
            0x0A => rest.is_empty(),
            _ => return negative(0x19, nrc::SUBFUNCTION_NOT_SUPPORTED),
        };
        if !length_ok {
            return negative(0x19, nrc::INCORRECT_LENGTH);
        }
        let mut answer = vec![0x59, sub];
        match (sub, rest) {
            (0x01, [mask]) => {
                let count = d.store.values().filter(|t| d.status(t) & mask != 0).count();
                let count = u16::try_from(count).unwrap_or(u16::MAX).to_be_bytes();
                answer.extend_from_slice(&[d.availability, ISO_14229_1_FORMAT, count[0], count[1]]);
            }
            (0x02, [mask]) => {
                answer.push(d.availability);
                answer.extend_from_slice(&d.records(Some(*mask)));
            }
            (0x0A, []) => {
                answer.push(d.availability);
                answer.extend_from_slice(&d.records(None));
            }
            (_, [a, b, c, record]) => {
                let code = u32::from_be_bytes([0, *a, *b, *c]);
                let Some(dtc) = d.store.get(&code) else {
                    return negative(0x19, nrc::REQUEST_OUT_OF_RANGE);
                };
                let records = if sub == 0x04 { &dtc.snapshots } else { &dtc.extended };
                answer.extend_from_slice(&[*a, *b, *c, d.status(dtc)]);
                if *record == ALL_RECORDS {
                    for (number, data) in records {
                        answer.push(*number);
                        answer.extend_from_slice(data);
                    }
                } else {
                    let Some(data) = records.get(record) else {
                        return negative(0x19, nrc::REQUEST_OUT_OF_RANGE);
                    };
                    answer.push(*record);
                    answer.extend_from_slice(data);
                }
            }
            _ => return negative(0x19, nrc::INCORRECT_LENGTH),
        }
        UdsReply::Respond(answer)
    }

    /// `14 FFFFFF` clears every DTC, `14 DTC(3)` one: the status bits go to 0x00, the DTC
    /// and its records stay known (as 19 0A lists them).
    pub(super) fn clear_dtcs(&mut self, body: &[u8]) -> UdsReply {
        let [a, b, c] = *body else { return negative(0x14, nrc::INCORRECT_LENGTH) };
        let group = u32::from_be_bytes([0, a, b, c]);
        if group == 0x00FF_FFFF {
            for dtc in self.dtcs.store.values_mut() {
                dtc.status = 0;
            }
        } else if let Some(dtc) = self.dtcs.store.get_mut(&group) {
            dtc.status = 0;
        } else {
            return negative(0x14, nrc::REQUEST_OUT_OF_RANGE);
        }
        UdsReply::Respond(vec![0x54])
    }

    /// `85 01|02 [record]` → `C5 sub`, outside the default session.
    pub(super) fn control_dtc_setting(&mut self, body: &[u8]) -> UdsReply {
        if self.in_default_session() {
            return negative(0x85, nrc::SERVICE_NOT_SUPPORTED_IN_SESSION);
        }
        match body.first() {
            None => negative(0x85, nrc::INCORRECT_LENGTH),
            Some(&sub @ (0x01 | 0x02)) => {
                self.dtcs.setting_on = sub == 0x01;
                UdsReply::Respond(vec![0xC5, sub])
            }
            Some(_) => negative(0x85, nrc::SUBFUNCTION_NOT_SUPPORTED),
        }
    }
}
