//! ReadDataByIdentifier (0x22).

use super::{Responder, UdsReply, negative, nrc};

impl Responder {
    pub(super) fn read_data(&self, body: &[u8]) -> UdsReply {
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
}
