//! Which received UDS bytes answer which request (UDS.md §1–2). Plain functions on bytes.
//!
//! UDS carries no request identifiers, so an answer is recognised by its content: the
//! service id (request SID + 0x40, or `7F SID`), and where ISO 14229-1 has the positive
//! answer repeat part of the request — the sub-function, the data identifier, the routine
//! identifier, the block sequence counter — that part too. A stale `62 F1 90 …` therefore
//! never answers `22 F1 8C`, and a late `76 05` never answers TransferData block 6.

/// What a received UDS message means for a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Not this request's answer.
    Foreign,
    /// `7F SID 78`: the final answer follows later (wait P2*).
    Pending,
    /// The final answer (positive, or negative with another NRC).
    Final,
}

/// NRC 0x78, requestCorrectlyReceived-ResponsePending.
const RESPONSE_PENDING: u8 = 0x78;

/// Services whose second byte is a sub-function whose bit 7 is suppressPosRspMsgIndicationBit.
const fn has_sub_function(sid: u8) -> bool {
    matches!(sid, 0x10 | 0x11 | 0x27 | 0x28 | 0x29 | 0x31 | 0x3E | 0x83 | 0x85 | 0x86 | 0x87)
}

/// Whether `request` asks the ECU not to send a positive answer (`3E 80`, `10 83`, …). Only
/// a negative answer may come; the request is done once the entity acknowledged it.
pub(crate) fn suppresses_positive_response(request: &[u8]) -> bool {
    matches!(request, [sid, sub, ..] if has_sub_function(*sid) && sub & 0x80 != 0)
}

/// How many request bytes after the SID the positive answer repeats.
fn echo_len(request: &[u8]) -> usize {
    let Some(&sid) = request.first() else { return 0 };
    let echo = match sid {
        // DID, routine id + sub-function, block counter.
        0x22 | 0x24 | 0x2E | 0x2F => 2,
        0x31 => 3,
        // Block sequence counter, ReadDTCInformation's report type.
        0x36 | 0x19 => 1,
        // WriteMemoryByAddress repeats addressAndLengthFormatIdentifier, address and size.
        0x3D => {
            request.get(1).map_or(0, |alfid| 1 + usize::from(alfid >> 4) + usize::from(alfid & 0xF))
        }
        s if has_sub_function(s) => 1,
        _ => 0,
    };
    echo.min(request.len() - 1)
}

/// Judges `answer` against `request` (both UDS, SID first).
pub(crate) fn judge(request: &[u8], answer: &[u8]) -> Verdict {
    let Some(&sid) = request.first() else { return Verdict::Foreign };
    match answer {
        [0x7F, s, RESPONSE_PENDING, ..] if *s == sid => Verdict::Pending,
        [0x7F, s, _, ..] if *s == sid => Verdict::Final,
        [positive, rest @ ..] if *positive == sid.wrapping_add(0x40) => {
            let n = echo_len(request);
            let sub_function = has_sub_function(sid);
            let echoes = rest.len() >= n
                && rest[..n].iter().zip(&request[1..=n]).enumerate().all(|(i, (&got, &sent))| {
                    // The answer repeats the sub-function without the suppress bit.
                    if i == 0 && sub_function { got == sent & 0x7F } else { got == sent }
                });
            if echoes { Verdict::Final } else { Verdict::Foreign }
        }
        _ => Verdict::Foreign,
    }
}

/// Whether a diagnostic ACK/NACK's copy of the acknowledged message (may be empty or cut
/// short) fits `request`.
pub(crate) fn acknowledges(previous: &[u8], request: &[u8]) -> bool {
    request.starts_with(previous)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_and_echo_decide() {
        let vin = [0x22, 0xF1, 0x90];
        assert_eq!(judge(&vin, &[0x62, 0xF1, 0x90, b'W']), Verdict::Final);
        assert_eq!(judge(&vin, &[0x62, 0xF1, 0x8C, 1]), Verdict::Foreign, "another DID");
        assert_eq!(judge(&vin, &[0x50, 0x03, 0, 0x32, 1, 0xF4]), Verdict::Foreign);
        assert_eq!(judge(&vin, &[0x7F, 0x22, 0x78]), Verdict::Pending);
        assert_eq!(judge(&vin, &[0x7F, 0x22, 0x31]), Verdict::Final);
        assert_eq!(judge(&vin, &[0x7F, 0x10, 0x78]), Verdict::Foreign);
        assert_eq!(judge(&vin, &[0x62, 0xF1]), Verdict::Foreign, "too short to echo the DID");
        let block = [0x36, 0x06, 1, 2, 3];
        assert_eq!(judge(&block, &[0x76, 0x06]), Verdict::Final);
        assert_eq!(judge(&block, &[0x76, 0x05]), Verdict::Foreign, "an earlier block");
        assert_eq!(judge(&[0x31, 0x01, 0xFF, 0x00], &[0x71, 0x01, 0xFF, 0x00, 0]), Verdict::Final);
        assert_eq!(judge(&[0x31, 0x01, 0xFF, 0x00], &[0x71, 0x01, 0xFF, 0x01]), Verdict::Foreign);
        assert_eq!(judge(&[0x10, 0x83], &[0x50, 0x03, 0, 0x32, 1, 0xF4]), Verdict::Final);
        // ALFID 0x12: a 1-byte size and a 2-byte address are repeated.
        let write = [0x3D, 0x12, 0x10, 0x00, 1, 0xAA];
        assert_eq!(judge(&write, &[0x7D, 0x12, 0x10, 0x00, 1]), Verdict::Final);
        assert_eq!(judge(&write, &[0x7D, 0x12, 0x10, 0x01, 1]), Verdict::Foreign);
        assert_eq!(judge(&[0x37], &[0x77]), Verdict::Final);
        assert_eq!(judge(&[0x34, 0, 0x44], &[0x74, 0x20, 0x0F, 0xFF]), Verdict::Final);
        assert_eq!(judge(&[0x22], &[0x62]), Verdict::Final, "a short request echoes what it has");
        assert_eq!(judge(&[], &[0x62]), Verdict::Foreign);
        assert_eq!(judge(&[0xBF], &[0xFF]), Verdict::Final, "SID + 0x40 wraps");
    }

    #[test]
    fn suppress_bit_only_on_sub_function_services() {
        assert!(suppresses_positive_response(&[0x3E, 0x80]));
        assert!(suppresses_positive_response(&[0x10, 0x83]));
        assert!(!suppresses_positive_response(&[0x3E, 0x00]));
        assert!(!suppresses_positive_response(&[0x22, 0xF1, 0x90]), "0xF1 is a DID byte");
        assert!(!suppresses_positive_response(&[0x3E]));
    }

    #[test]
    fn ack_copies_are_prefixes() {
        assert!(acknowledges(&[], &[0x22, 0xF1, 0x90]));
        assert!(acknowledges(&[0x22, 0xF1], &[0x22, 0xF1, 0x90]));
        assert!(!acknowledges(&[0x10, 0x03], &[0x22, 0xF1, 0x90]));
        assert!(!acknowledges(&[0x22, 0xF1, 0x90, 0], &[0x22, 0xF1, 0x90]));
    }
}
