//! Memory by address and data transfer: ReadMemoryByAddress (0x23), WriteMemoryByAddress
//! (0x3D), RequestDownload (0x34), RequestUpload (0x35), TransferData (0x36),
//! RequestTransferExit (0x37).

use super::{be_value, positive, put_be};
use crate::error::{Error, Result};
use crate::service::ServiceId;

/// addressAndLengthFormatIdentifier: how many bytes the memory address and the memory size
/// take (low nibble: address, high nibble: size).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MemoryFormat {
    /// Bytes of memoryAddress (1–8).
    pub address_bytes: u8,
    /// Bytes of memorySize (1–8).
    pub size_bytes: u8,
}

impl MemoryFormat {
    /// 4-byte address, 4-byte size (ALFID 0x44): what most ECUs expect.
    pub const FOUR_FOUR: Self = Self { address_bytes: 4, size_bytes: 4 };

    /// The smallest format that holds `address` and `size` (at least one byte each).
    #[must_use]
    pub const fn for_range(address: u64, size: u64) -> Self {
        Self { address_bytes: bytes_for(address), size_bytes: bytes_for(size) }
    }

    /// From the ALFID byte.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] when a nibble is 0 or above 8.
    pub fn from_alfid(alfid: u8) -> Result<Self> {
        let format = Self { address_bytes: alfid & 0x0F, size_bytes: alfid >> 4 };
        if (1..=8).contains(&format.address_bytes) && (1..=8).contains(&format.size_bytes) {
            Ok(format)
        } else {
            Err(Error::InvalidRequest(format!("addressAndLengthFormatIdentifier {alfid:#04x}")))
        }
    }

    /// The ALFID byte.
    #[must_use]
    pub const fn alfid(self) -> u8 {
        (self.size_bytes << 4) | (self.address_bytes & 0x0F)
    }

    /// Appends `ALFID address size`.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] when either does not fit the format.
    pub fn encode(self, address: u64, size: u64, out: &mut Vec<u8>) -> Result<()> {
        out.push(self.alfid());
        if !put_be(out, address, usize::from(self.address_bytes))
            || !put_be(out, size, usize::from(self.size_bytes))
        {
            return Err(Error::InvalidRequest(format!(
                "address {address:#x} / size {size:#x} do not fit ALFID {:#04x}",
                self.alfid()
            )));
        }
        Ok(())
    }
}

const fn bytes_for(value: u64) -> u8 {
    let bits = 64 - value.leading_zeros();
    if bits == 0 { 1 } else { bits.div_ceil(8) as u8 }
}

/// `23 ALFID address size`.
///
/// # Errors
/// As [`MemoryFormat::encode`].
pub fn read_memory_by_address(format: MemoryFormat, address: u64, size: u64) -> Result<Vec<u8>> {
    let mut request = vec![0x23];
    format.encode(address, size, &mut request)?;
    Ok(request)
}

/// Decodes `63 data`, which must be `size` bytes.
///
/// # Errors
/// As [`super::positive`]; [`Error::Malformed`] for another length.
pub fn parse_read_memory_answer(size: u64, answer: &[u8]) -> Result<&[u8]> {
    let service = ServiceId::ReadMemoryByAddress;
    let data = positive(service, answer)?;
    if data.len() as u64 != size {
        return Err(Error::Malformed { service, what: "not the size asked for" });
    }
    Ok(data)
}

/// `3D ALFID address size data`.
///
/// # Errors
/// As [`MemoryFormat::encode`].
pub fn write_memory_by_address(format: MemoryFormat, address: u64, data: &[u8]) -> Result<Vec<u8>> {
    let mut request = vec![0x3D];
    format.encode(address, data.len() as u64, &mut request)?;
    request.extend_from_slice(data);
    Ok(request)
}

/// Decodes `7D ALFID address size`, which must echo the request's.
///
/// # Errors
/// As [`super::positive`]; [`Error::Malformed`] when the echo differs.
pub fn parse_write_memory_answer(
    format: MemoryFormat,
    address: u64,
    size: u64,
    answer: &[u8],
) -> Result<()> {
    let service = ServiceId::WriteMemoryByAddress;
    let mut expected = Vec::new();
    format.encode(address, size, &mut expected)?;
    if positive(service, answer)? == expected.as_slice() {
        Ok(())
    } else {
        Err(Error::Malformed { service, what: "the address and size echo differs" })
    }
}

/// `34|35 DFI ALFID address size` (RequestDownload or RequestUpload;
/// dataFormatIdentifier 0x00: neither compressed nor encrypted).
///
/// # Errors
/// As [`MemoryFormat::encode`]; [`Error::InvalidRequest`] for another service.
pub fn request_transfer(
    service: ServiceId,
    data_format: u8,
    format: MemoryFormat,
    address: u64,
    size: u64,
) -> Result<Vec<u8>> {
    if !matches!(service, ServiceId::RequestDownload | ServiceId::RequestUpload) {
        return Err(Error::InvalidRequest(format!("{service} is not a transfer request")));
    }
    let mut request = vec![service.value(), data_format];
    format.encode(address, size, &mut request)?;
    Ok(request)
}

/// What RequestDownload or RequestUpload granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransferParameters {
    /// maxNumberOfBlockLength: the longest TransferData message, SID and counter included.
    pub max_block_length: u64,
}

impl TransferParameters {
    /// Data bytes per TransferData block (max − 2; UDS.md §4).
    #[must_use]
    pub fn data_per_block(self) -> usize {
        usize::try_from(self.max_block_length.saturating_sub(2)).unwrap_or(usize::MAX)
    }
}

/// Decodes `74|75 LFI maxNumberOfBlockLength` (the LFI's high nibble gives its byte count).
///
/// # Errors
/// As [`super::positive`]; [`Error::Malformed`] for a length that disagrees with the LFI, or
/// a block length under 3 (no room for data).
pub fn parse_transfer_answer(service: ServiceId, answer: &[u8]) -> Result<TransferParameters> {
    let malformed = |what| Error::Malformed { service, what };
    let [lfi, rest @ ..] = positive(service, answer)? else {
        return Err(malformed("no lengthFormatIdentifier"));
    };
    let len = usize::from(lfi >> 4);
    if len == 0 || len > 8 || rest.len() != len {
        return Err(malformed("maxNumberOfBlockLength does not have the LFI's length"));
    }
    let max_block_length = be_value(rest);
    if max_block_length < 3 {
        return Err(malformed("maxNumberOfBlockLength leaves no room for data"));
    }
    Ok(TransferParameters { max_block_length })
}

/// The block sequence counter after `counter`: 0x01 first, 0xFF wraps to 0x00 (UDS.md §4).
#[must_use]
pub const fn next_block_counter(counter: u8) -> u8 {
    counter.wrapping_add(1)
}

/// `36 counter data`.
#[must_use]
pub fn transfer_data(counter: u8, data: &[u8]) -> Vec<u8> {
    let mut request = Vec::with_capacity(2 + data.len());
    request.push(0x36);
    request.push(counter);
    request.extend_from_slice(data);
    request
}

/// Decodes `76 counter [data]`; returns the data (an upload's block).
///
/// # Errors
/// As [`super::positive`]; [`Error::Malformed`] when the counter echo differs.
pub fn parse_transfer_data_answer(counter: u8, answer: &[u8]) -> Result<&[u8]> {
    let service = ServiceId::TransferData;
    match positive(service, answer)? {
        [echo, data @ ..] if *echo == counter => Ok(data),
        _ => Err(Error::Malformed { service, what: "the block sequence counter echo differs" }),
    }
}

/// `37 [transferRequestParameterRecord]`.
#[must_use]
pub fn request_transfer_exit(parameters: &[u8]) -> Vec<u8> {
    let mut request = vec![0x37];
    request.extend_from_slice(parameters);
    request
}

/// Decodes `77 [transferResponseParameterRecord]`.
///
/// # Errors
/// As [`super::positive`].
pub fn parse_transfer_exit_answer(answer: &[u8]) -> Result<&[u8]> {
    positive(ServiceId::RequestTransferExit, answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_is_chosen_for_the_address() {
        assert_eq!(MemoryFormat::for_range(0x0800_0000, 0x1_0000).alfid(), 0x34);
        assert_eq!(MemoryFormat::for_range(0, 0).alfid(), 0x11);
        assert_eq!(MemoryFormat::for_range(0x1_0000_0000, 1).alfid(), 0x15);
        assert_eq!(MemoryFormat::from_alfid(0x44).unwrap(), MemoryFormat::FOUR_FOUR);
        assert!(MemoryFormat::from_alfid(0x40).is_err());
        assert!(MemoryFormat::from_alfid(0x94).is_err());
        let r = request_transfer(
            ServiceId::RequestDownload,
            0,
            MemoryFormat::FOUR_FOUR,
            0x0800_0000,
            0x400,
        )
        .unwrap();
        assert_eq!(r, [0x34, 0x00, 0x44, 0x08, 0, 0, 0, 0, 0, 0x04, 0x00]);
        let tight = MemoryFormat { address_bytes: 2, size_bytes: 1 };
        assert!(request_transfer(ServiceId::RequestDownload, 0, tight, 0x1_0000, 1).is_err());
        assert!(request_transfer(ServiceId::TransferData, 0, tight, 0, 1).is_err());
    }

    #[test]
    fn block_length_from_the_lfi() {
        let p =
            parse_transfer_answer(ServiceId::RequestDownload, &[0x74, 0x20, 0x0F, 0xFF]).unwrap();
        assert_eq!((p.max_block_length, p.data_per_block()), (4095, 4093));
        let p = parse_transfer_answer(ServiceId::RequestUpload, &[0x75, 0x40, 0, 1, 0, 2]).unwrap();
        assert_eq!(p.max_block_length, 0x1_0002);
        for bad in [&[0x74, 0x20, 0x0F][..], &[0x74, 0x00], &[0x74, 0x10, 0x02], &[0x74]] {
            assert!(parse_transfer_answer(ServiceId::RequestDownload, bad).is_err(), "{bad:02x?}");
        }
    }

    #[test]
    fn counters_wrap_to_zero_and_echoes_are_checked() {
        assert_eq!(next_block_counter(0xFF), 0x00);
        assert_eq!(next_block_counter(0x00), 0x01);
        assert_eq!(transfer_data(7, &[1, 2]), [0x36, 7, 1, 2]);
        assert_eq!(parse_transfer_data_answer(7, &[0x76, 7, 9]).unwrap(), [9]);
        assert!(parse_transfer_data_answer(7, &[0x76, 6]).is_err());
        assert_eq!(
            read_memory_by_address(MemoryFormat::for_range(0x10, 2), 0x10, 2).unwrap(),
            [0x23, 0x11, 0x10, 0x02]
        );
        parse_write_memory_answer(
            MemoryFormat::FOUR_FOUR,
            0x10,
            2,
            &[0x7D, 0x44, 0, 0, 0, 0x10, 0, 0, 0, 2],
        )
        .unwrap();
        assert!(parse_read_memory_answer(3, &[0x63, 1, 2]).is_err());
    }
}
