//! RoutineControl (0x31): configured routines and their result bytes.

use super::{Responder, UdsReply, negative, nrc};

impl Responder {
    pub(super) fn routine(&self, body: &[u8]) -> UdsReply {
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
}
