//! Errors of the capture file itself (as opposed to malformed DoIP inside it).

/// Why a capture file could not be read to its end.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// Reading the underlying file failed.
    #[error("cannot read the capture: {0}")]
    Io(#[from] std::io::Error),
    /// The file is empty.
    #[error("the capture is empty (no pcap or pcapng header)")]
    Empty,
    /// The first bytes are neither a pcap nor a pcapng header.
    #[error("not a pcap or pcapng file (magic {magic})")]
    NotACapture {
        /// The first four bytes, hex.
        magic: String,
    },
    /// The file ends inside a record (e.g. a capture still being written, or cut).
    #[error("truncated capture: the file ends inside the record after packet {packets}")]
    Truncated {
        /// Packets read completely before the cut.
        packets: u64,
    },
    /// A record announces more bytes than the reader accepts.
    #[error("record after packet {packets} is larger than {limit} bytes")]
    RecordTooLarge {
        /// Packets read before it.
        packets: u64,
        /// The reader's limit.
        limit: usize,
    },
    /// A pcapng packet names an interface that no interface description declared.
    #[error("packet {packet} names interface {interface}, which the capture never declared")]
    UnknownInterface {
        /// The packet's number.
        packet: u64,
        /// The interface id.
        interface: u32,
    },
    /// Any other structural error in the capture format.
    #[error("malformed capture after packet {packets}: {reason}")]
    Malformed {
        /// Packets read before it.
        packets: u64,
        /// What the format parser reported.
        reason: String,
    },
}
