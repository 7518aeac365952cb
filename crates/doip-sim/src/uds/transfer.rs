//! Block transfers: RequestDownload (0x34) and `RequestUpload` (0x35), TransferData (0x36),
//! RequestTransferExit (0x37).
//!
//! Downloads write into the ECU memory as blocks arrive, uploads read from it. The block
//! counter starts at 0x01 and wraps 0xFF → 0x00; a repeated block (the counter of the last
//! accepted one: the tester missed our answer) gets the same answer again without being
//! written twice. A new RequestDownload or `RequestUpload` while a transfer is active
//! abandons it and starts over (a tester that lost its connection mid-download must be able
//! to restart).

use super::memory::parse_range;
use super::{Responder, UdsReply, negative, nrc};

/// Which way the data goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Download,
    Upload,
}

/// A transfer in progress (RequestDownload or `RequestUpload` accepted).
#[derive(Debug)]
pub(super) struct Transfer {
    direction: Direction,
    /// Where the next block goes (download) or comes from (upload).
    next_address: u64,
    end: u64,
    next_counter: u8,
    /// The last accepted block: counter, address and length.
    last: Option<(u8, u64, usize)>,
    crc: crc32fast::Hasher,
}

impl Responder {
    /// `34 DFI ALFID addr size` → `74 20 maxNumberOfBlockLength`.
    pub(super) fn request_download(&mut self, body: &[u8]) -> UdsReply {
        if let Err(code) = self.may_write_memory() {
            return negative(0x34, code);
        }
        self.request_transfer(0x34, body, Direction::Download)
    }

    /// `35 DFI ALFID addr size` → `75 20 maxNumberOfBlockLength`.
    pub(super) fn request_upload(&mut self, body: &[u8]) -> UdsReply {
        self.request_transfer(0x35, body, Direction::Upload)
    }

    /// The request of either direction: the dataFormatIdentifier must be 0x00 (no
    /// compression or encryption) and the range inside the memory (else 0x31).
    fn request_transfer(&mut self, sid: u8, body: &[u8], direction: Direction) -> UdsReply {
        let Some((&format, rest)) = body.split_first() else {
            return negative(sid, nrc::INCORRECT_LENGTH);
        };
        let r = match parse_range(rest) {
            Ok(r) if !r.rest.is_empty() => return negative(sid, nrc::INCORRECT_LENGTH),
            Ok(r) => r,
            Err(code) => return negative(sid, code),
        };
        if format != 0x00 {
            return negative(sid, nrc::REQUEST_OUT_OF_RANGE);
        }
        if let Err(code) = self.check_range(&r) {
            return negative(sid, code);
        }
        self.transfer = Some(Transfer {
            direction,
            next_address: r.address,
            end: r.address + r.size,
            next_counter: 1,
            last: None,
            crc: crc32fast::Hasher::new(),
        });
        let [hi, lo] = self.max_block_length.to_be_bytes();
        UdsReply::Respond(vec![sid + 0x40, 0x20, hi, lo])
    }

    /// `36 counter data` (download) → `76 counter`; `36 counter` (upload) →
    /// `76 counter data`, at most maxNumberOfBlockLength − 2 bytes per block.
    pub(super) fn transfer_data(&mut self, body: &[u8]) -> UdsReply {
        let max_data = usize::from(self.max_block_length).saturating_sub(2).max(1);
        let Some(t) = self.transfer.as_mut() else {
            return negative(0x36, nrc::REQUEST_SEQUENCE_ERROR);
        };
        let [counter, data @ ..] = body else { return negative(0x36, nrc::INCORRECT_LENGTH) };
        let counter = *counter;
        let repeated = t.last.filter(|last| last.0 == counter);
        match t.direction {
            Direction::Download => {
                if data.len() > max_data {
                    return negative(0x36, nrc::INCORRECT_LENGTH);
                }
                if repeated.is_some() {
                    return UdsReply::Respond(vec![0x76, counter]);
                }
                if counter != t.next_counter {
                    return negative(0x36, nrc::WRONG_BLOCK_SEQUENCE_COUNTER);
                }
                if t.end - t.next_address < data.len() as u64 {
                    return negative(0x36, nrc::TRANSFER_DATA_SUSPENDED);
                }
                self.memory.write(t.next_address, data);
                t.crc.update(data);
                t.last = Some((counter, t.next_address, data.len()));
                t.next_address += data.len() as u64;
                t.next_counter = counter.wrapping_add(1);
                UdsReply::Respond(vec![0x76, counter])
            }
            Direction::Upload => {
                if !data.is_empty() {
                    return negative(0x36, nrc::INCORRECT_LENGTH);
                }
                let mut answer = vec![0x76, counter];
                if let Some((_, address, len)) = repeated {
                    answer.extend_from_slice(&self.memory.read(address, len as u64));
                    return UdsReply::Respond(answer);
                }
                if counter != t.next_counter {
                    return negative(0x36, nrc::WRONG_BLOCK_SEQUENCE_COUNTER);
                }
                if t.next_address >= t.end {
                    return negative(0x36, nrc::REQUEST_SEQUENCE_ERROR);
                }
                let len = (t.end - t.next_address).min(max_data as u64);
                let block = self.memory.read(t.next_address, len);
                t.crc.update(&block);
                t.last = Some((counter, t.next_address, block.len()));
                t.next_address += len;
                t.next_counter = counter.wrapping_add(1);
                answer.extend_from_slice(&block);
                UdsReply::Respond(answer)
            }
        }
    }

    /// `37` → `77 crc(4)`: the CRC-32 (IEEE) of what was transferred. Before every byte was
    /// transferred: 0x24, the transfer goes on. A completed download joins the programmed
    /// image the check routine (FF01) compares with.
    pub(super) fn transfer_exit(&mut self) -> UdsReply {
        let Some(t) = self.transfer.take() else {
            return negative(0x37, nrc::REQUEST_SEQUENCE_ERROR);
        };
        if t.next_address < t.end {
            self.transfer = Some(t);
            return negative(0x37, nrc::REQUEST_SEQUENCE_ERROR);
        }
        let crc = t.crc.clone().finalize();
        if t.direction == Direction::Download {
            self.last_crc = Some(crc);
            if std::mem::take(&mut self.checked) {
                self.programmed = None;
            }
            self.programmed.get_or_insert_with(crc32fast::Hasher::new).combine(&t.crc);
        }
        let mut response = vec![0x77];
        response.extend_from_slice(&crc.to_be_bytes());
        UdsReply::Respond(response)
    }
}
