//! The ECU's memory and the services on it by address: `ReadMemoryByAddress` (0x23) and
//! `WriteMemoryByAddress` (0x3D); also the `addressAndLengthFormatIdentifier` parsing that
//! transfers and the erase routine share.
//!
//! The memory is sparse: 4 KiB pages are allocated when first written, so a large address
//! space (256 MiB by default) costs only what was written. Unwritten and erased bytes read
//! 0xFF, as erased flash does. It belongs to the ECU, not to a connection, and survives
//! resets: a tool can download on one connection and read back on the next.

use std::collections::BTreeMap;

use super::{Responder, UdsReply, negative, nrc};

/// Bytes per page.
const PAGE: u64 = 4096;

/// What erased flash reads.
const ERASED: u8 = 0xFF;

const RESPONSE_TOO_LONG: u8 = 0x14;

/// A sparse memory of `size` bytes from `base`.
#[derive(Debug)]
pub(super) struct Memory {
    pub(super) base: u64,
    pub(super) size: u64,
    /// By page number (address / PAGE).
    pages: BTreeMap<u64, Box<[u8]>>,
}

impl Default for Memory {
    fn default() -> Self {
        Self { base: 0, size: 0x1000_0000, pages: BTreeMap::new() }
    }
}

/// The pieces of `[address, address + len)` by page: (page, offset in it, length).
fn spans(address: u64, len: u64) -> impl Iterator<Item = (u64, usize, usize)> {
    let end = address.saturating_add(len);
    let mut at = address;
    std::iter::from_fn(move || {
        if at >= end {
            return None;
        }
        let offset = at % PAGE;
        let n = (PAGE - offset).min(end - at);
        let span = (at / PAGE, offset as usize, n as usize);
        at += n;
        Some(span)
    })
}

impl Memory {
    /// Whether `[address, address + len)` lies inside the memory.
    pub(super) fn contains(&self, address: u64, len: u64) -> bool {
        address >= self.base
            && address
                .checked_add(len)
                .is_some_and(|end| end <= self.base.saturating_add(self.size))
    }

    pub(super) fn read(&self, address: u64, len: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        for (page, offset, n) in spans(address, len) {
            match self.pages.get(&page) {
                Some(p) => out.extend_from_slice(&p[offset..offset + n]),
                None => out.resize(out.len() + n, ERASED),
            }
        }
        out
    }

    pub(super) fn write(&mut self, address: u64, data: &[u8]) {
        let mut rest = data;
        for (page, offset, n) in spans(address, data.len() as u64) {
            let p = self.pages.entry(page).or_insert_with(|| vec![ERASED; PAGE as usize].into());
            p[offset..offset + n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
        }
    }

    /// Erases `[address, address + len)`: the written pages inside it are freed, the partial
    /// ones at its ends filled. Only written pages are visited, however large the range.
    pub(super) fn erase(&mut self, address: u64, len: u64) {
        let end = address.saturating_add(len);
        let inside: Vec<u64> =
            self.pages.range(address / PAGE..end.div_ceil(PAGE)).map(|(page, _)| *page).collect();
        for page in inside {
            let (from, to) = ((page * PAGE).max(address), (page + 1).saturating_mul(PAGE).min(end));
            if to - from == PAGE {
                self.pages.remove(&page);
            } else if let Some(p) = self.pages.get_mut(&page) {
                p[(from % PAGE) as usize..][..(to - from) as usize].fill(ERASED);
            }
        }
    }

    pub(super) fn erase_all(&mut self) {
        self.pages.clear();
    }

    /// Pages allocated (what the memory costs: 4 KiB each).
    pub(super) fn pages(&self) -> usize {
        self.pages.len()
    }
}

/// `ALFID address size` parsed, and what follows it.
pub(super) struct Range<'a> {
    pub(super) address: u64,
    pub(super) size: u64,
    /// The ALFID, address and size bytes as sent (7D echoes them).
    pub(super) head: &'a [u8],
    pub(super) rest: &'a [u8],
}

fn big_endian(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |acc, b| (acc << 8) | u64::from(*b))
}

/// Parses `ALFID address size …`. The ALFID's high nibble is the number of size bytes, its
/// low nibble that of address bytes, each 1..=8 (else 0x31); too few bytes: 0x13.
pub(super) fn parse_range(body: &[u8]) -> Result<Range<'_>, u8> {
    let Some((&alfid, rest)) = body.split_first() else { return Err(nrc::INCORRECT_LENGTH) };
    let size_len = usize::from(alfid >> 4);
    let address_len = usize::from(alfid & 0x0F);
    if !(1..=8).contains(&size_len) || !(1..=8).contains(&address_len) {
        return Err(nrc::REQUEST_OUT_OF_RANGE);
    }
    if rest.len() < address_len + size_len {
        return Err(nrc::INCORRECT_LENGTH);
    }
    let (address, rest) = rest.split_at(address_len);
    let (size, rest) = rest.split_at(size_len);
    Ok(Range {
        address: big_endian(address),
        size: big_endian(size),
        head: &body[..=address_len + size_len],
        rest,
    })
}

impl Responder {
    /// A range the memory holds: not empty, inside (else 0x31).
    pub(super) fn check_range(&self, r: &Range<'_>) -> Result<(), u8> {
        if r.size == 0 || !self.memory.contains(r.address, r.size) {
            return Err(nrc::REQUEST_OUT_OF_RANGE);
        }
        Ok(())
    }

    /// The configured conditions for writing memory (34, 3D, the erase routine): the
    /// session (else 0x7F) and the unlocked security level (else 0x33). None by default.
    pub(super) fn may_write_memory(&self) -> Result<(), u8> {
        if self.download_session.is_some_and(|s| s != self.session.current) {
            return Err(nrc::SERVICE_NOT_SUPPORTED_IN_SESSION);
        }
        if self.download_security.is_some_and(|l| self.security.unlocked != Some(l)) {
            return Err(nrc::SECURITY_ACCESS_DENIED);
        }
        Ok(())
    }

    /// `23 ALFID addr size` → `63 data`. One answer holds at most maxNumberOfBlockLength − 1
    /// data bytes (more: 0x14, responseTooLong).
    pub(super) fn read_memory_by_address(&self, body: &[u8]) -> UdsReply {
        let r = match parse_range(body) {
            Ok(r) if !r.rest.is_empty() => return negative(0x23, nrc::INCORRECT_LENGTH),
            Ok(r) => r,
            Err(code) => return negative(0x23, code),
        };
        if let Err(code) = self.check_range(&r) {
            return negative(0x23, code);
        }
        if r.size >= u64::from(self.max_block_length) {
            return negative(0x23, RESPONSE_TOO_LONG);
        }
        let mut answer = Vec::with_capacity(1 + r.size as usize);
        answer.push(0x63);
        answer.extend_from_slice(&self.memory.read(r.address, r.size));
        UdsReply::Respond(answer)
    }

    /// `3D ALFID addr size data` → `7D ALFID addr size`; data of another length: 0x13.
    pub(super) fn write_memory_by_address(&mut self, body: &[u8]) -> UdsReply {
        if let Err(code) = self.may_write_memory() {
            return negative(0x3D, code);
        }
        let r = match parse_range(body) {
            Ok(r) => r,
            Err(code) => return negative(0x3D, code),
        };
        if let Err(code) = self.check_range(&r) {
            return negative(0x3D, code);
        }
        if r.rest.len() as u64 != r.size {
            return negative(0x3D, nrc::INCORRECT_LENGTH);
        }
        self.memory.write(r.address, r.rest);
        UdsReply::Respond([&[0x7D][..], r.head].concat())
    }
}
