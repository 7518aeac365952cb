//! RequestDownload (0x34), TransferData (0x36) and RequestTransferExit (0x37): block
//! counters, the total size, and the CRC-32 of what arrived.

use super::{Responder, UdsReply, negative, nrc};

/// A download in progress (RequestDownload accepted).
#[derive(Debug)]
pub(super) struct Download {
    next_counter: u8,
    crc: crc32fast::Hasher,
    received: u64,
    size: u64,
}

impl Responder {
    pub(super) fn request_download(&mut self, body: &[u8]) -> UdsReply {
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

    pub(super) fn transfer_data(&mut self, body: &[u8]) -> UdsReply {
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

    pub(super) fn transfer_exit(&mut self) -> UdsReply {
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
