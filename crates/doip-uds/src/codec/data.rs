//! Data and routines: ReadDataByIdentifier (0x22), WriteDataByIdentifier (0x2E),
//! RoutineControl (0x31).

use std::collections::BTreeMap;

use super::{positive, positive_echo};
use crate::error::{Error, Result};
use crate::service::{RoutineControlType, ServiceId};

/// The length of each DID's data record, which the wire does not carry: needed to split an
/// answer to a request for several DIDs (udsoncan's `data_identifiers` codecs play this part).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DidLengths(BTreeMap<u16, usize>);

impl DidLengths {
    /// No lengths known: only single-DID reads can be split.
    #[must_use]
    pub const fn new() -> Self {
        Self(BTreeMap::new())
    }

    /// `did`'s data is `length` bytes.
    #[must_use]
    pub fn with(mut self, did: u16, length: usize) -> Self {
        self.0.insert(did, length);
        self
    }

    /// Sets `did`'s length.
    pub fn insert(&mut self, did: u16, length: usize) {
        self.0.insert(did, length);
    }

    /// `did`'s length, if known.
    #[must_use]
    pub fn get(&self, did: u16) -> Option<usize> {
        self.0.get(&did).copied()
    }
}

impl FromIterator<(u16, usize)> for DidLengths {
    fn from_iter<I: IntoIterator<Item = (u16, usize)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

/// `22 DID DID …`.
///
/// # Errors
/// [`Error::InvalidRequest`] for an empty list.
pub fn read_data_by_identifier(dids: &[u16]) -> Result<Vec<u8>> {
    if dids.is_empty() {
        return Err(Error::InvalidRequest("ReadDataByIdentifier needs a DID".into()));
    }
    let mut request = Vec::with_capacity(1 + 2 * dids.len());
    request.push(0x22);
    for did in dids {
        request.extend_from_slice(&did.to_be_bytes());
    }
    Ok(request)
}

/// Splits `62 DID data DID data …` into each DID's data, in the order asked. Every DID but
/// the last needs its length in `lengths`; the last takes the rest when its length is not
/// known (so a single-DID read needs no table).
///
/// # Errors
/// As [`super::positive`]; [`Error::Malformed`] when a DID echo differs, a length is missing
/// or the answer is too short or too long.
pub fn parse_read_data_answer<'a>(
    dids: &[u16],
    lengths: &DidLengths,
    answer: &'a [u8],
) -> Result<Vec<(u16, &'a [u8])>> {
    let service = ServiceId::ReadDataByIdentifier;
    let malformed = |what| Error::Malformed { service, what };
    let mut rest = positive(service, answer)?;
    let mut out = Vec::with_capacity(dids.len());
    for (i, &did) in dids.iter().enumerate() {
        let [hi, lo, tail @ ..] = rest else { return Err(malformed("too short for its DIDs")) };
        if u16::from_be_bytes([*hi, *lo]) != did {
            return Err(malformed("a DID echo differs from the request"));
        }
        let len = match lengths.get(did) {
            Some(len) => len,
            None if i + 1 == dids.len() => tail.len(),
            None => return Err(malformed("a DID's length is unknown (DidLengths)")),
        };
        if tail.len() < len {
            return Err(malformed("too short for its DIDs"));
        }
        let (data, after) = tail.split_at(len);
        out.push((did, data));
        rest = after;
    }
    if !rest.is_empty() {
        return Err(malformed("longer than its DIDs"));
    }
    Ok(out)
}

/// `2E DID data`.
#[must_use]
pub fn write_data_by_identifier(did: u16, data: &[u8]) -> Vec<u8> {
    let mut request = Vec::with_capacity(3 + data.len());
    request.push(0x2E);
    request.extend_from_slice(&did.to_be_bytes());
    request.extend_from_slice(data);
    request
}

/// Decodes `6E DID`.
///
/// # Errors
/// As [`super::positive`]; [`Error::Malformed`] when the DID echo differs.
pub fn parse_write_data_answer(did: u16, answer: &[u8]) -> Result<()> {
    let service = ServiceId::WriteDataByIdentifier;
    match positive(service, answer)? {
        [hi, lo, ..] if u16::from_be_bytes([*hi, *lo]) == did => Ok(()),
        _ => Err(Error::Malformed { service, what: "the DID echo differs" }),
    }
}

/// `31 type RID [routineControlOptionRecord]`.
#[must_use]
pub fn routine_control(control: RoutineControlType, routine: u16, options: &[u8]) -> Vec<u8> {
    let mut request = Vec::with_capacity(4 + options.len());
    request.push(0x31);
    request.push(control.value());
    request.extend_from_slice(&routine.to_be_bytes());
    request.extend_from_slice(options);
    request
}

/// Decodes `71 type RID [routineStatusRecord]`; returns the status record.
///
/// # Errors
/// As [`super::positive_echo`]; [`Error::Malformed`] when the routine echo differs.
pub fn parse_routine_answer(
    control: RoutineControlType,
    routine: u16,
    answer: &[u8],
) -> Result<&[u8]> {
    let service = ServiceId::RoutineControl;
    match positive_echo(service, control.value(), answer)? {
        [hi, lo, status @ ..] if u16::from_be_bytes([*hi, *lo]) == routine => Ok(status),
        _ => Err(Error::Malformed { service, what: "the routine identifier echo differs" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_dids_are_split_by_the_length_table() {
        let dids = [0xF190, 0xF187];
        assert_eq!(read_data_by_identifier(&dids).unwrap(), [0x22, 0xF1, 0x90, 0xF1, 0x87]);
        assert!(read_data_by_identifier(&[]).is_err());
        let answer = [0x62, 0xF1, 0x90, b'W', b'D', 0xF1, 0x87, b'P', b'1', b'2'];
        let lengths = DidLengths::new().with(0xF190, 2);
        let parts = parse_read_data_answer(&dids, &lengths, &answer).unwrap();
        assert_eq!(parts, [(0xF190, &b"WD"[..]), (0xF187, &b"P12"[..])]);
        // Without the first DID's length the answer cannot be split.
        assert!(parse_read_data_answer(&dids, &DidLengths::new(), &answer).is_err());
        // A stated length that overshoots, or bytes left over.
        let lengths = DidLengths::new().with(0xF190, 2).with(0xF187, 4);
        assert!(parse_read_data_answer(&dids, &lengths, &answer).is_err());
        let lengths = DidLengths::new().with(0xF190, 2).with(0xF187, 2);
        assert!(parse_read_data_answer(&dids, &lengths, &answer).is_err());
        // A different DID echo.
        assert!(parse_read_data_answer(&[0xF18C], &DidLengths::new(), &answer).is_err());
    }

    #[test]
    fn write_and_routines() {
        assert_eq!(write_data_by_identifier(0xF199, &[0x20, 0x26]), [0x2E, 0xF1, 0x99, 0x20, 0x26]);
        parse_write_data_answer(0xF199, &[0x6E, 0xF1, 0x99]).unwrap();
        assert!(parse_write_data_answer(0xF199, &[0x6E, 0xF1, 0x98]).is_err());
        let r = routine_control(RoutineControlType::Start, 0xFF00, &[0x44]);
        assert_eq!(r, [0x31, 0x01, 0xFF, 0x00, 0x44]);
        let status = parse_routine_answer(
            RoutineControlType::Start,
            0xFF00,
            &[0x71, 0x01, 0xFF, 0x00, 0x00],
        )
        .unwrap();
        assert_eq!(status, [0x00]);
        assert!(
            parse_routine_answer(RoutineControlType::Start, 0xFF01, &[0x71, 0x01, 0xFF, 0x00])
                .is_err()
        );
    }
}
