//! Images to flash: Intel HEX (the `ihex` crate), Motorola S-record (the `srec` crate) or raw
//! binary at an address, as sorted, non-overlapping segments — one download each. Adjacent
//! records join into one segment; a gap starts a new one (nothing is filled in).

use std::path::{Path, PathBuf};

/// Why an image could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A HEX or S-record file is not text.
    #[error("not a text file (HEX and S-record files are ASCII)")]
    NotText,
    /// An Intel HEX record is wrong.
    #[error("Intel HEX line {line}: {source}")]
    IntelHex {
        /// 1-based line.
        line: usize,
        /// The `ihex` crate's reason.
        #[source]
        source: ihex::ReaderError,
    },
    /// An S-record is wrong.
    #[error("S-record line {line}: {source}")]
    SRecord {
        /// 1-based line.
        line: usize,
        /// The `srec` crate's reason.
        #[source]
        source: srec::ReaderError,
    },
    /// Two records write the same address.
    #[error("data overlaps at address {address:#x}")]
    Overlap {
        /// The first address written twice.
        address: u64,
    },
    /// A segment runs past the end of the 64-bit address space.
    #[error("a segment at {address:#x} runs past the end of the address space")]
    AddressOverflow {
        /// Its start.
        address: u64,
    },
    /// The format cannot be told from the file name.
    #[error("{}: unknown image format (name it: hex, srec or bin)", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// A binary image needs the address it goes to.
    #[error("a binary image needs its load address")]
    NoAddress,
    /// No data at all.
    #[error("the image holds no data")]
    Empty,
}

type Result<T> = std::result::Result<T, ImageError>;

/// The file formats an [`Image`] is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    /// Intel HEX (`.hex`, `.ihex`, `.ihx`).
    IntelHex,
    /// Motorola S-record (`.s19`, `.s28`, `.s37`, `.srec`, `.mot`, `.sx`).
    SRecord,
    /// Raw bytes at an address (`.bin`).
    Binary,
}

impl ImageFormat {
    /// The format a file name's extension names.
    #[must_use]
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "hex" | "ihex" | "ihx" => Some(Self::IntelHex),
            "s19" | "s28" | "s37" | "srec" | "mot" | "sx" | "s" => Some(Self::SRecord),
            "bin" | "img" => Some(Self::Binary),
            _ => None,
        }
    }
}

/// Contiguous bytes at an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Where the first byte goes.
    pub address: u64,
    /// The bytes.
    pub data: Vec<u8>,
}

impl Segment {
    /// One past the last address (`None` past the address space).
    #[must_use]
    pub fn end(&self) -> Option<u64> {
        self.address.checked_add(self.data.len() as u64)
    }
}

/// An image: segments sorted by address, none overlapping, none adjacent to the next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    segments: Vec<Segment>,
}

impl Image {
    /// From segments in any order: sorted, adjacent ones joined, empty ones dropped.
    ///
    /// # Errors
    /// [`ImageError::Overlap`], [`ImageError::AddressOverflow`], [`ImageError::Empty`].
    pub fn from_segments(mut segments: Vec<Segment>) -> Result<Self> {
        segments.retain(|s| !s.data.is_empty());
        segments.sort_by_key(|s| s.address);
        let mut joined: Vec<Segment> = Vec::with_capacity(segments.len());
        for s in segments {
            if s.end().is_none() {
                return Err(ImageError::AddressOverflow { address: s.address });
            }
            if let Some(last) = joined.last_mut() {
                let end =
                    last.end().ok_or(ImageError::AddressOverflow { address: last.address })?;
                if s.address < end {
                    return Err(ImageError::Overlap { address: s.address });
                }
                if s.address == end {
                    last.data.extend_from_slice(&s.data);
                    continue;
                }
            }
            joined.push(s);
        }
        if joined.is_empty() {
            return Err(ImageError::Empty);
        }
        Ok(Self { segments: joined })
    }

    /// Raw bytes at `address`.
    ///
    /// # Errors
    /// [`ImageError::Empty`], [`ImageError::AddressOverflow`].
    pub fn from_binary(address: u64, data: Vec<u8>) -> Result<Self> {
        Self::from_segments(vec![Segment { address, data }])
    }

    /// Parses Intel HEX text (data, extended segment and extended linear address records;
    /// reading stops at the end-of-file record; blank lines are skipped).
    ///
    /// # Errors
    /// [`ImageError::IntelHex`] with the line, and those of [`Image::from_segments`].
    pub fn parse_intel_hex(text: &str) -> Result<Self> {
        let mut builder = Builder::default();
        let mut base = 0u64;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let record = ihex::Record::from_record_string(line)
                .map_err(|source| ImageError::IntelHex { line: i + 1, source })?;
            match record {
                ihex::Record::Data { offset, value } => {
                    builder.push(base + u64::from(offset), &value);
                }
                ihex::Record::ExtendedSegmentAddress(segment) => base = u64::from(segment) << 4,
                ihex::Record::ExtendedLinearAddress(upper) => base = u64::from(upper) << 16,
                ihex::Record::EndOfFile => break,
                ihex::Record::StartSegmentAddress { .. } | ihex::Record::StartLinearAddress(_) => {}
            }
        }
        builder.finish()
    }

    /// Parses Motorola S-record text (S1/S2/S3 data; header, count and start records are
    /// read and skipped; blank lines are skipped).
    ///
    /// # Errors
    /// [`ImageError::SRecord`] with the line, and those of [`Image::from_segments`].
    pub fn parse_srec(text: &str) -> Result<Self> {
        let mut builder = Builder::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let Some(record) = srec::reader::read_records(line).next() else { continue };
            let record = record.map_err(|source| ImageError::SRecord { line: i + 1, source })?;
            match record {
                srec::Record::S1(d) => builder.push(u64::from(d.address.0), &d.data),
                srec::Record::S2(d) => builder.push(u64::from(d.address.0), &d.data),
                srec::Record::S3(d) => builder.push(u64::from(d.address.0), &d.data),
                _ => {}
            }
        }
        builder.finish()
    }

    /// Reads `path` in `format` (`None`: from the extension); a binary image needs `address`.
    ///
    /// # Errors
    /// [`ImageError::Io`], [`ImageError::UnknownFormat`], [`ImageError::NoAddress`],
    /// [`ImageError::NotText`] and the parsers' errors.
    pub fn load(path: &Path, format: Option<ImageFormat>, address: Option<u64>) -> Result<Self> {
        let format = format
            .or_else(|| ImageFormat::from_path(path))
            .ok_or_else(|| ImageError::UnknownFormat { path: path.to_path_buf() })?;
        let bytes = std::fs::read(path)
            .map_err(|source| ImageError::Io { path: path.to_path_buf(), source })?;
        match format {
            ImageFormat::Binary => Self::from_binary(address.ok_or(ImageError::NoAddress)?, bytes),
            ImageFormat::IntelHex | ImageFormat::SRecord => {
                let text = std::str::from_utf8(&bytes).map_err(|_| ImageError::NotText)?;
                if format == ImageFormat::IntelHex {
                    Self::parse_intel_hex(text)
                } else {
                    Self::parse_srec(text)
                }
            }
        }
    }

    /// The segments, by address.
    #[must_use]
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Data bytes in all segments.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.segments.iter().map(|s| s.data.len() as u64).sum()
    }

    /// Always false: an image holds data ([`ImageError::Empty`] otherwise).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// CRC-32 (IEEE) of every segment's data, in address order.
    #[must_use]
    pub fn crc32(&self) -> u32 {
        let mut h = crc32fast::Hasher::new();
        for s in &self.segments {
            h.update(&s.data);
        }
        h.finalize()
    }
}

/// Collects records into runs: a record continuing the last run extends it.
#[derive(Default)]
struct Builder {
    segments: Vec<Segment>,
}

impl Builder {
    fn push(&mut self, address: u64, data: &[u8]) {
        if let Some(last) = self.segments.last_mut()
            && last.end() == Some(address)
        {
            last.data.extend_from_slice(data);
            return;
        }
        self.segments.push(Segment { address, data: data.to_vec() });
    }

    fn finish(self) -> Result<Image> {
        Image::from_segments(self.segments)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Intel HEX data record line.
    pub(crate) fn hex_record(kind: u8, offset: u16, data: &[u8]) -> String {
        let mut bytes = vec![data.len() as u8, (offset >> 8) as u8, offset as u8, kind];
        bytes.extend_from_slice(data);
        let sum = bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b));
        bytes.push(sum.wrapping_neg());
        bytes.iter().fold(String::from(":"), |s, b| s + &format!("{b:02X}"))
    }

    #[test]
    fn intel_hex_with_a_gap_and_linear_addresses() {
        let text = [
            hex_record(4, 0, &[0x08, 0x00]),
            hex_record(0, 0x0000, &[1, 2, 3, 4]),
            hex_record(0, 0x0004, &[5, 6]),
            String::new(),
            hex_record(0, 0x0100, &[7]),
            hex_record(1, 0, &[]),
            hex_record(0, 0x0200, &[9]), // after EOF: ignored
        ]
        .join("\n");
        let image = Image::parse_intel_hex(&text).unwrap();
        assert_eq!(
            image.segments(),
            [
                Segment { address: 0x0800_0000, data: vec![1, 2, 3, 4, 5, 6] },
                Segment { address: 0x0800_0100, data: vec![7] },
            ]
        );
        assert_eq!(image.len(), 7);
        let bad = hex_record(0, 0, &[1]).replace(":01", ":02");
        assert!(matches!(Image::parse_intel_hex(&bad), Err(ImageError::IntelHex { line: 1, .. })));
    }

    #[test]
    fn srec_with_a_gap() {
        let records = [
            srec::Record::S0("hdr".into()),
            srec::Record::S3(srec::Data { address: srec::Address32(0x1000), data: vec![1, 2] }),
            srec::Record::S3(srec::Data { address: srec::Address32(0x1002), data: vec![3] }),
            srec::Record::S1(srec::Data { address: srec::Address16(0x2000), data: vec![4] }),
            srec::Record::S7(srec::Address32(0x1000)),
        ];
        let text = srec::writer::generate_srec_file(&records);
        let image = Image::parse_srec(&text).unwrap();
        assert_eq!(
            image.segments(),
            [
                Segment { address: 0x1000, data: vec![1, 2, 3] },
                Segment { address: 0x2000, data: vec![4] }
            ]
        );
        assert!(matches!(Image::parse_srec("S1FF"), Err(ImageError::SRecord { line: 1, .. })));
    }

    #[test]
    fn overlaps_empty_and_formats() {
        let overlapping = vec![
            Segment { address: 10, data: vec![0; 4] },
            Segment { address: 12, data: vec![0; 4] },
        ];
        assert!(matches!(
            Image::from_segments(overlapping),
            Err(ImageError::Overlap { address: 12 })
        ));
        assert!(matches!(Image::from_binary(0, Vec::new()), Err(ImageError::Empty)));
        assert!(matches!(
            Image::from_binary(u64::MAX, vec![1, 2]),
            Err(ImageError::AddressOverflow { .. })
        ));
        assert_eq!(ImageFormat::from_path(Path::new("a.S19")), Some(ImageFormat::SRecord));
        assert_eq!(ImageFormat::from_path(Path::new("a.hex")), Some(ImageFormat::IntelHex));
        assert_eq!(ImageFormat::from_path(Path::new("a.txt")), None);
        let image = Image::from_binary(0, b"123456789".to_vec()).unwrap();
        assert_eq!(image.crc32(), 0xCBF4_3926);
    }
}
