//! RoutineControl (0x31): start (01), stop (02) and results (03) of configured routines,
//! and two built-in ones a flash tool needs:
//!
//! - **FF00 erase memory**: `31 01 FF00 ALFID addr size` erases that range (it reads 0xFF
//!   afterwards); without a range, the whole memory.
//! - **FF01 check memory**: `31 01 FF01 crc(4)` compares with the CRC-32 of what was
//!   programmed — the downloads completed since the last erase or check, in order (one
//!   download: its CRC; an image of several segments: all its data): status 00 equal, 01
//!   different; without a CRC, `00 crc(4)` reports it.
//!
//! A configured routine with one of these identifiers replaces the built-in one.

use super::memory::parse_range;
use super::{Responder, UdsReply, negative, nrc};

const ERASE_MEMORY: u16 = 0xFF00;
const CHECK_MEMORY: u16 = 0xFF01;

impl Responder {
    pub(super) fn routine(&mut self, body: &[u8]) -> UdsReply {
        let [kind, hi, lo, ref options @ ..] = *body else {
            return negative(0x31, nrc::INCORRECT_LENGTH);
        };
        if !(0x01..=0x03).contains(&kind) {
            return negative(0x31, nrc::SUBFUNCTION_NOT_SUPPORTED);
        }
        let rid = u16::from_be_bytes([hi, lo]);
        let configured = self.routines.get(&rid).cloned();
        if configured.is_none() && !matches!(rid, ERASE_MEMORY | CHECK_MEMORY) {
            return negative(0x31, nrc::REQUEST_OUT_OF_RANGE);
        }
        let status = match kind {
            0x01 => {
                let status = match configured {
                    Some(result) => result,
                    None if rid == ERASE_MEMORY => match self.erase(options) {
                        Ok(()) => vec![0x00],
                        Err(code) => return negative(0x31, code),
                    },
                    None => match self.check(options) {
                        Ok(status) => status,
                        Err(code) => return negative(0x31, code),
                    },
                };
                self.routine_results.insert(rid, status.clone());
                status
            }
            // Stopping a routine that is not running is answered all the same (kept simple).
            0x02 => Vec::new(),
            _ => match self.routine_results.get(&rid) {
                Some(status) => status.clone(),
                None => return negative(0x31, nrc::REQUEST_SEQUENCE_ERROR),
            },
        };
        UdsReply::Respond([&[0x71, kind, hi, lo][..], &status].concat())
    }

    fn erase(&mut self, options: &[u8]) -> Result<(), u8> {
        self.may_write_memory()?;
        if options.is_empty() {
            self.memory.erase_all();
            self.programmed = None;
            return Ok(());
        }
        let r = parse_range(options)?;
        if !r.rest.is_empty() {
            return Err(nrc::INCORRECT_LENGTH);
        }
        self.check_range(&r)?;
        self.memory.erase(r.address, r.size);
        self.programmed = None;
        Ok(())
    }

    fn check(&mut self, options: &[u8]) -> Result<Vec<u8>, u8> {
        let crc = self.programmed.as_ref().ok_or(nrc::REQUEST_SEQUENCE_ERROR)?.clone().finalize();
        self.checked = true;
        match options {
            [] => Ok([&[0x00][..], &crc.to_be_bytes()].concat()),
            [a, b, c, d] => Ok(vec![u8::from(u32::from_be_bytes([*a, *b, *c, *d]) != crc)]),
            _ => Err(nrc::INCORRECT_LENGTH),
        }
    }
}
