//! Every service's request encoding and answer decoding as plain functions over bytes: no
//! I/O, no clock (like doip-proto). [`crate::UdsClient`] runs them over a
//! [`crate::Channel`]; anything else (another transport, a decoder) can call them directly.
//!
//! Request encoders return the request PDU; answer decoders take the whole answer PDU as
//! received (positive or `7F SID NRC`) and return typed values or [`Error`].

mod data;
mod dtc;
mod memory;
mod session;

pub use data::*;
pub use dtc::*;
pub use memory::*;
pub use session::*;

use crate::error::{Error, Result};
use crate::nrc::Nrc;
use crate::service::ServiceId;

/// The sub-function bit that suppresses the positive answer.
pub const SUPPRESS_POSITIVE_RESPONSE: u8 = 0x80;

/// Checks that `answer` is `service`'s positive answer and returns what follows its first
/// byte.
///
/// # Errors
/// [`Error::Negative`] for `7F SID NRC`; [`Error::UnexpectedAnswer`] for anything else that
/// is not SID + 0x40 (an empty answer included).
pub fn positive(service: ServiceId, answer: &[u8]) -> Result<&[u8]> {
    match answer {
        [0x7F, sid, nrc, ..] if *sid == service.value() => {
            Err(Error::Negative { service, nrc: Nrc::from_value(*nrc) })
        }
        [first, rest @ ..] if *first == service.positive_answer() => Ok(rest),
        _ => Err(Error::UnexpectedAnswer { service, answer: answer.to_vec() }),
    }
}

/// [`positive`], then the echoed sub-function (bit 7 ignored) must be `sub`; returns what
/// follows it.
///
/// # Errors
/// As [`positive`]; [`Error::Malformed`] when the echo is missing or different.
pub fn positive_echo(service: ServiceId, sub: u8, answer: &[u8]) -> Result<&[u8]> {
    match positive(service, answer)? {
        [echo, rest @ ..] if echo & 0x7F == sub & 0x7F => Ok(rest),
        [_, ..] => Err(Error::Malformed { service, what: "the sub-function echo differs" }),
        [] => Err(Error::Malformed { service, what: "the sub-function echo is missing" }),
    }
}

/// The sub-function byte, with the suppress bit when asked.
pub(crate) const fn sub_function(value: u8, suppress: bool) -> u8 {
    if suppress { value | SUPPRESS_POSITIVE_RESPONSE } else { value & 0x7F }
}

/// Big-endian unsigned value of up to 8 bytes.
pub(crate) fn be_value(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |v, b| (v << 8) | u64::from(*b))
}

/// `value` as `len` big-endian bytes appended to `out`, if it fits.
pub(crate) fn put_be(out: &mut Vec<u8>, value: u64, len: usize) -> bool {
    if len > 8 || (len < 8 && value >> (8 * len) != 0) {
        return false;
    }
    out.extend((0..len).rev().map(|i| (value >> (8 * i)) as u8));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_and_negative_answers() {
        let s = ServiceId::ReadDataByIdentifier;
        assert_eq!(positive(s, &[0x62, 0xF1, 0x90]).unwrap(), [0xF1, 0x90]);
        let e = positive(s, &[0x7F, 0x22, 0x31]).unwrap_err();
        assert_eq!(e.nrc(), Some(Nrc::RequestOutOfRange));
        assert_eq!(
            e.to_string(),
            "ReadDataByIdentifier (0x22) refused: request out of range (0x31)"
        );
        assert!(matches!(positive(s, &[0x7F, 0x2E, 0x31]), Err(Error::UnexpectedAnswer { .. })));
        assert!(matches!(positive(s, &[]), Err(Error::UnexpectedAnswer { .. })));
        let d = ServiceId::DiagnosticSessionControl;
        assert_eq!(positive_echo(d, 0x83, &[0x50, 0x03, 1]).unwrap(), [1]);
        assert!(matches!(positive_echo(d, 0x02, &[0x50, 0x03]), Err(Error::Malformed { .. })));
    }

    #[test]
    fn big_endian_fields() {
        let mut v = Vec::new();
        assert!(put_be(&mut v, 0x0012_3456, 3));
        assert!(!put_be(&mut v, 0x0100_0000, 3));
        assert!(put_be(&mut v, u64::MAX, 8));
        assert_eq!(v[..3], [0x12, 0x34, 0x56]);
        assert_eq!(be_value(&v[..3]), 0x12_3456);
    }
}
