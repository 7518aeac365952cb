//! Diagnostic trouble codes: ClearDiagnosticInformation (0x14) and ReadDTCInformation (0x19,
//! report types 0x01, 0x02, 0x04, 0x06, 0x0A).

use std::fmt;

use super::positive_echo;
use crate::error::{Error, Result};
use crate::service::{DtcReportType, ServiceId};

/// A DTC: three bytes (high, middle, low) on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dtc(pub u32);

impl Dtc {
    /// Every DTC group (`FF FF FF`), for ClearDiagnosticInformation.
    pub const ALL: Self = Self(0x00FF_FFFF);

    /// From its three wire bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 3]) -> Self {
        Self(u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]))
    }

    /// Its three wire bytes (bits above 24 are not sent).
    #[must_use]
    pub const fn to_bytes(self) -> [u8; 3] {
        let [_, a, b, c] = self.0.to_be_bytes();
        [a, b, c]
    }
}

/// `0x123456`.
impl fmt::Display for Dtc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#08x}", self.0 & 0x00FF_FFFF)
    }
}

/// A DTC status byte; each bit named as ISO 14229-1 D.2 names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct DtcStatus(pub u8);

impl DtcStatus {
    /// Bit names, bit 0 first.
    pub const BIT_NAMES: [&'static str; 8] = [
        "testFailed",
        "testFailedThisOperationCycle",
        "pendingDTC",
        "confirmedDTC",
        "testNotCompletedSinceLastClear",
        "testFailedSinceLastClear",
        "testNotCompletedThisOperationCycle",
        "warningIndicatorRequested",
    ];

    /// Bit 0.
    #[must_use]
    pub const fn test_failed(self) -> bool {
        self.0 & 0x01 != 0
    }

    /// Bit 2.
    #[must_use]
    pub const fn pending(self) -> bool {
        self.0 & 0x04 != 0
    }

    /// Bit 3.
    #[must_use]
    pub const fn confirmed(self) -> bool {
        self.0 & 0x08 != 0
    }

    /// Bit 7.
    #[must_use]
    pub const fn warning_indicator_requested(self) -> bool {
        self.0 & 0x80 != 0
    }

    /// The names of the bits set, bit 0 first.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::BIT_NAMES
            .into_iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, n)| n)
    }
}

/// `0x2F (testFailed, testFailedThisOperationCycle, …)`.
impl fmt::Display for DtcStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#04x} (", self.0)?;
        for (i, name) in self.names().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(name)?;
        }
        f.write_str(")")
    }
}

/// `14 group(3)`.
#[must_use]
pub fn clear_diagnostic_information(group: Dtc) -> Vec<u8> {
    let mut request = vec![0x14];
    request.extend_from_slice(&group.to_bytes());
    request
}

/// Decodes `54`.
///
/// # Errors
/// As [`super::positive`].
pub fn parse_clear_answer(answer: &[u8]) -> Result<()> {
    super::positive(ServiceId::ClearDiagnosticInformation, answer).map(drop)
}

/// `19 type [parameters]`.
#[must_use]
pub fn read_dtc_information(report: DtcReportType, parameters: &[u8]) -> Vec<u8> {
    let mut request = vec![0x19, report.value()];
    request.extend_from_slice(parameters);
    request
}

/// `19 01 mask`: how many DTCs match.
#[must_use]
pub fn read_number_of_dtc_by_status_mask(mask: u8) -> Vec<u8> {
    read_dtc_information(DtcReportType::NumberOfDtcByStatusMask, &[mask])
}

/// `19 02 mask`: the DTCs that match.
#[must_use]
pub fn read_dtc_by_status_mask(mask: u8) -> Vec<u8> {
    read_dtc_information(DtcReportType::DtcByStatusMask, &[mask])
}

/// `19 04 DTC record`: snapshot records of one DTC (record 0xFF: all).
#[must_use]
pub fn read_dtc_snapshot_record(dtc: Dtc, record: u8) -> Vec<u8> {
    let [a, b, c] = dtc.to_bytes();
    read_dtc_information(DtcReportType::DtcSnapshotRecordByDtcNumber, &[a, b, c, record])
}

/// `19 06 DTC record`: extended data records of one DTC (record 0xFF: all).
#[must_use]
pub fn read_dtc_extended_data_record(dtc: Dtc, record: u8) -> Vec<u8> {
    let [a, b, c] = dtc.to_bytes();
    read_dtc_information(DtcReportType::DtcExtDataRecordByDtcNumber, &[a, b, c, record])
}

/// `19 0A`: every DTC the ECU supports.
#[must_use]
pub fn read_supported_dtc() -> Vec<u8> {
    read_dtc_information(DtcReportType::SupportedDtc, &[])
}

/// The answer to report type 0x01.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DtcCount {
    /// DTCStatusAvailabilityMask: the status bits the ECU supports.
    pub availability_mask: u8,
    /// DTCFormatIdentifier (0x01: ISO 14229-1 DTC format).
    pub format: u8,
    /// How many DTCs match.
    pub count: u16,
}

/// DTCs with their status (report types 0x02 and 0x0A).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DtcList {
    /// DTCStatusAvailabilityMask.
    pub availability_mask: u8,
    /// The DTCs, in the order the ECU sent them.
    pub dtcs: Vec<(Dtc, DtcStatus)>,
}

/// One DTC's snapshot or extended data (report types 0x04 and 0x06): the records as sent,
/// `recordNumber` then data, whose layout only the ECU's description knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DtcRecords {
    /// The DTC.
    pub dtc: Dtc,
    /// Its status.
    pub status: DtcStatus,
    /// The records' bytes.
    pub records: Vec<u8>,
}

fn malformed(what: &'static str) -> Error {
    Error::Malformed { service: ServiceId::ReadDtcInformation, what }
}

fn report(report: DtcReportType, answer: &[u8]) -> Result<&[u8]> {
    positive_echo(ServiceId::ReadDtcInformation, report.value(), answer)
}

/// Decodes `59 01 availabilityMask format count(2)`.
///
/// # Errors
/// As [`super::positive_echo`]; [`Error::Malformed`] for a wrong length.
pub fn parse_dtc_count(answer: &[u8]) -> Result<DtcCount> {
    match *report(DtcReportType::NumberOfDtcByStatusMask, answer)? {
        [availability_mask, format, hi, lo] => {
            Ok(DtcCount { availability_mask, format, count: u16::from_be_bytes([hi, lo]) })
        }
        _ => Err(malformed("not availability mask, format and count")),
    }
}

/// Decodes `59 02|0A availabilityMask [DTC(3) status]…`.
///
/// # Errors
/// As [`super::positive_echo`]; [`Error::Malformed`] when the records are not 4 bytes each.
pub fn parse_dtc_list(kind: DtcReportType, answer: &[u8]) -> Result<DtcList> {
    let [availability_mask, records @ ..] = report(kind, answer)? else {
        return Err(malformed("no availability mask"));
    };
    if records.len() % 4 != 0 {
        return Err(malformed("DTC records are not 4 bytes each"));
    }
    let dtcs = records
        .chunks_exact(4)
        .map(|r| (Dtc::from_bytes([r[0], r[1], r[2]]), DtcStatus(r[3])))
        .collect();
    Ok(DtcList { availability_mask: *availability_mask, dtcs })
}

/// Decodes `59 04|06 DTC(3) status records…`, checking the DTC is the one asked for.
///
/// # Errors
/// As [`super::positive_echo`]; [`Error::Malformed`] for another DTC or a short answer.
pub fn parse_dtc_records(kind: DtcReportType, dtc: Dtc, answer: &[u8]) -> Result<DtcRecords> {
    let [a, b, c, status, records @ ..] = report(kind, answer)? else {
        return Err(malformed("no DTC and status"));
    };
    let got = Dtc::from_bytes([*a, *b, *c]);
    if got != Dtc(dtc.0 & 0x00FF_FFFF) {
        return Err(malformed("the DTC echo differs"));
    }
    Ok(DtcRecords { dtc: got, status: DtcStatus(*status), records: records.to_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtc_reports() {
        assert_eq!(clear_diagnostic_information(Dtc::ALL), [0x14, 0xFF, 0xFF, 0xFF]);
        parse_clear_answer(&[0x54]).unwrap();
        assert_eq!(read_dtc_by_status_mask(0x09), [0x19, 0x02, 0x09]);
        let count = parse_dtc_count(&[0x59, 0x01, 0xFF, 0x01, 0x00, 0x02]).unwrap();
        assert_eq!(count, DtcCount { availability_mask: 0xFF, format: 1, count: 2 });
        let list = parse_dtc_list(
            DtcReportType::DtcByStatusMask,
            &[0x59, 0x02, 0xFF, 0x12, 0x34, 0x56, 0x2F, 0xC0, 0x01, 0x00, 0x08],
        )
        .unwrap();
        assert_eq!(
            list.dtcs,
            [(Dtc(0x12_3456), DtcStatus(0x2F)), (Dtc(0xC0_0100), DtcStatus(0x08))]
        );
        assert!(parse_dtc_list(DtcReportType::DtcByStatusMask, &[0x59, 0x02, 0xFF, 1, 2]).is_err());
        assert_eq!(
            read_dtc_snapshot_record(Dtc(0x12_3456), 0xFF),
            [0x19, 0x04, 0x12, 0x34, 0x56, 0xFF]
        );
        let r = parse_dtc_records(
            DtcReportType::DtcSnapshotRecordByDtcNumber,
            Dtc(0x12_3456),
            &[0x59, 0x04, 0x12, 0x34, 0x56, 0x2F, 0x01, 0xAA],
        )
        .unwrap();
        assert_eq!(r.records, [0x01, 0xAA]);
        assert!(
            parse_dtc_records(
                DtcReportType::DtcSnapshotRecordByDtcNumber,
                Dtc(0x12_3457),
                &[0x59, 0x04, 0x12, 0x34, 0x56, 0x2F],
            )
            .is_err()
        );
    }

    #[test]
    fn status_bits_are_named() {
        let s = DtcStatus(0x09);
        assert!(s.test_failed() && s.confirmed() && !s.pending());
        assert_eq!(s.to_string(), "0x09 (testFailed, confirmedDTC)");
        assert_eq!(Dtc(0x12_3456).to_string(), "0x123456");
    }
}
