//! Packets out of pcap and pcapng files.
//!
//! A [`Framer`] reads the capture in chunks and frames its records itself: a record's length
//! is in its first bytes, and a legacy pcap record header holds nothing else but the time.
//! The pcap file header and every pcapng block are parsed with `pcap-parser`. A [`Batch`]
//! always ends at a record boundary (the start of a record cut by a read opens the next
//! batch), so packets are delivered from where they were read, without copying. Framing runs
//! on the caller's thread ([`CaptureReader::new`]) or, with the reading, on a second thread a
//! few batches ahead of decoding ([`CaptureReader::read_ahead`]).

use std::io::{self, Read};
use std::ops::Range;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Duration;

use pcap_parser::parse_pcap_header;
use pcap_parser::pcapng::{Block, parse_block_be, parse_block_le};

use crate::{CaptureError, LinkType};

/// Bytes read at a time unless the caller chooses ([`CaptureReader::with_buffer`]).
const CHUNK: usize = 256 << 10;
/// Bytes a read-ahead thread reads at a time (256 KiB to 4 MiB measured the same).
const READ_AHEAD_CHUNK: usize = 1 << 20;
/// Framed batches a read-ahead thread may have waiting: with the one being filled and the
/// one being decoded, memory stays within a few chunks.
const READ_AHEAD_BATCHES: usize = 2;
/// The pcapng section header block type, which opens every pcapng file.
const PCAPNG_MAGIC: u32 = 0x0a0d_0d0a;
/// The pcapng byte-order magic, as written in the section's own byte order.
const PCAPNG_BOM: u32 = 0x1a2b_3c4d;
/// The smallest pcapng block: type, length, and the length repeated.
const PCAPNG_MIN_BLOCK: usize = 12;
/// A legacy pcap file header.
const PCAP_HEADER_LEN: usize = 24;
/// The largest record accepted (libpcap's own maximum snapshot length is 256 KiB).
pub const MAX_RECORD: usize = 16 << 20;

/// One captured link-layer frame.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    /// Its number in the capture, from 1, as Wireshark numbers frames.
    pub number: u64,
    /// Capture time since the Unix epoch.
    pub time: Duration,
    /// The link-layer header type of `data`.
    pub link_type: LinkType,
    /// The bytes captured (possibly fewer than were on the wire).
    pub data: &'a [u8],
}

/// One pcapng interface: link type and timestamp units.
#[derive(Clone, Copy, Debug)]
struct Interface {
    link_type: LinkType,
    /// Timestamp units per second.
    resolution: u64,
    /// Seconds added to every timestamp.
    offset: u64,
}

/// The capture's format and the state its records are read with.
enum Format {
    /// Legacy pcap: one link type for the whole file.
    Pcap {
        big_endian: bool,
        /// Record header length (16, or 24 in the "modified" format).
        header_len: usize,
        link_type: LinkType,
        nanos: bool,
    },
    /// pcapng: the current section's byte order and interfaces.
    PcapNg { big_endian: bool, interfaces: Vec<Interface> },
}

impl Format {
    /// Bytes [`Format::record_len`] needs to see.
    const fn header_len(&self) -> usize {
        match self {
            Self::Pcap { header_len, .. } => *header_len,
            Self::PcapNg { .. } => PCAPNG_MIN_BLOCK,
        }
    }

    /// The length of the record at the front of `data`, or `None` while its header is
    /// incomplete. Lengths below a format's minimum or above [`MAX_RECORD`] are refused here,
    /// before any parser or buffer sees them.
    #[inline]
    fn record_len(&self, data: &[u8], packets: u64) -> Result<Option<usize>, CaptureError> {
        let Some(head) = data.first_chunk::<PCAPNG_MIN_BLOCK>() else {
            return Ok(None);
        };
        let word = |at: usize, big_endian: bool| word(head, at, big_endian);
        let length = match self {
            Self::Pcap { big_endian, header_len, .. } => {
                if data.len() < *header_len {
                    return Ok(None);
                }
                (*header_len as u64) + u64::from(word(8, *big_endian))
            }
            Self::PcapNg { big_endian, .. } => {
                // A section header carries its own byte order.
                let big_endian = if word(0, false) == PCAPNG_MAGIC {
                    match word(8, false) {
                        PCAPNG_BOM => false,
                        bom if bom == PCAPNG_BOM.swap_bytes() => true,
                        bom => {
                            let reason = format!("pcapng section with byte-order magic {bom:08x}");
                            return Err(CaptureError::Malformed { packets, reason });
                        }
                    }
                } else {
                    *big_endian
                };
                let length = word(4, big_endian);
                if (length as usize) < PCAPNG_MIN_BLOCK {
                    // pcap-parser 0.17 subtracts 12 from such lengths unchecked.
                    let reason =
                        format!("pcapng block of {length} bytes (every block has at least 12)");
                    return Err(CaptureError::Malformed { packets, reason });
                }
                u64::from(length)
            }
        };
        match usize::try_from(length) {
            Ok(length) if length <= MAX_RECORD => Ok(Some(length)),
            _ => Err(CaptureError::RecordTooLarge { packets, limit: MAX_RECORD }),
        }
    }

    /// Parses one whole record and returns the packet it holds, if it holds one, with its
    /// bytes as a range of `record`.
    #[inline]
    fn record(&mut self, record: &[u8], packets: u64) -> Result<Option<Frame>, CaptureError> {
        let frame = |time, link_type, data: &[u8]| {
            let start = data.as_ptr().addr() - record.as_ptr().addr();
            Some(Frame { time, link_type, data: start..start + data.len() })
        };
        let malformed =
            |e: &dyn std::fmt::Debug| CaptureError::Malformed { packets, reason: format!("{e:?}") };
        match self {
            Self::Pcap { big_endian, header_len, link_type, nanos } => {
                // Framing read this header for its length; the rest of it is the time.
                let (secs, frac) = (word(record, 0, *big_endian), word(record, 4, *big_endian));
                let sub = if *nanos { frac } else { frac.saturating_mul(1000) };
                let time = Duration::new(u64::from(secs), sub.min(999_999_999));
                Ok(Some(Frame { time, link_type: *link_type, data: *header_len..record.len() }))
            }
            Self::PcapNg { big_endian, interfaces } => {
                let parsed =
                    if *big_endian { parse_block_be(record) } else { parse_block_le(record) };
                let (_, block) = parsed.map_err(|e| malformed(&e))?;
                Ok(match block {
                    // pcap-parser reads a section header in its own byte order either way.
                    Block::SectionHeader(shb) => {
                        *big_endian = shb.big_endian();
                        interfaces.clear();
                        None
                    }
                    Block::InterfaceDescription(idb) => {
                        interfaces.push(Interface {
                            link_type: LinkType(idb.linktype.0.cast_unsigned()),
                            resolution: idb.ts_resolution().unwrap_or(1_000_000),
                            offset: u64::try_from(idb.if_tsoffset).unwrap_or(0),
                        });
                        None
                    }
                    Block::EnhancedPacket(epb) => {
                        let i = interface(interfaces, epb.if_id, packets)?;
                        let (secs, frac) = epb.decode_ts(i.offset, i.resolution);
                        let nanos = u128::from(frac) * 1_000_000_000 / u128::from(i.resolution);
                        let time = Duration::new(u64::from(secs), nanos.min(999_999_999) as u32);
                        frame(
                            time,
                            i.link_type,
                            epb.data.get(..epb.caplen as usize).unwrap_or(epb.data),
                        )
                    }
                    Block::SimplePacket(spb) => {
                        let i = interface(interfaces, 0, packets)?;
                        let data = spb.data.get(..spb.origlen as usize).unwrap_or(spb.data);
                        frame(Duration::ZERO, i.link_type, data)
                    }
                    _ => None,
                })
            }
        }
    }
}

/// The 32-bit word at `at` in `data` (which holds it), in the capture's byte order.
#[inline]
fn word(data: &[u8], at: usize, big_endian: bool) -> u32 {
    let bytes =
        data.get(at..at + 4).and_then(|w| w.first_chunk::<4>()).copied().unwrap_or_default();
    if big_endian { u32::from_be_bytes(bytes) } else { u32::from_le_bytes(bytes) }
}

/// The interface a pcapng packet names.
fn interface(interfaces: &[Interface], id: u32, packets: u64) -> Result<Interface, CaptureError> {
    interfaces
        .get(id as usize)
        .copied()
        .ok_or(CaptureError::UnknownInterface { packet: packets + 1, interface: id })
}

/// One packet of a [`Batch`]: its bytes in the batch's buffer, time and link type.
#[derive(Clone, Debug)]
struct Frame {
    time: Duration,
    link_type: LinkType,
    data: Range<usize>,
}

/// Whole records read from the capture, with the packets framed in them.
#[derive(Default)]
struct Batch {
    /// `buf[..len]` holds the records (the buffer is kept initialised to its full length).
    buf: Vec<u8>,
    len: usize,
    frames: Vec<Frame>,
    /// After the last frame: the capture ended (`Ok`) or cannot be read further.
    end: Option<Result<(), CaptureError>>,
}

/// Reads a capture and frames it into [`Batch`]es.
struct Framer<'r> {
    source: Box<dyn Read + Send + 'r>,
    format: Format,
    /// Bytes read per batch (more when one record is larger).
    chunk: usize,
    /// Fill whole chunks (files) rather than frame whatever one read returns (pipes).
    eager: bool,
    /// The start of a record that the last read cut: it opens the next batch.
    carry: Vec<u8>,
    /// Packets framed so far.
    packets: u64,
    done: bool,
}

impl Framer<'_> {
    /// Reads into `buf[*len..]` until it holds `want` bytes or the source ends (`false`).
    fn read(&mut self, buf: &mut Vec<u8>, len: &mut usize, want: usize) -> io::Result<bool> {
        if buf.len() < want {
            buf.resize(want, 0);
        }
        while *len < want {
            match self.source.read(&mut buf[*len..]) {
                Ok(0) => return Ok(false),
                Ok(n) => *len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            if !self.eager {
                break;
            }
        }
        Ok(true)
    }

    /// Fills `batch` (reusing its buffers) with the next whole records and their packets.
    fn next(&mut self, batch: &mut Batch) {
        batch.frames.clear();
        batch.len = 0;
        batch.end = None;
        if self.done {
            batch.end = Some(Ok(()));
        } else if let Err(e) = self.fill(batch) {
            batch.end = Some(Err(e));
        }
        self.done |= batch.end.is_some();
    }

    /// [`Framer::next`]; `Ok` also when the capture ended cleanly (`batch.end` is set).
    fn fill(&mut self, batch: &mut Batch) -> Result<(), CaptureError> {
        let Batch { buf, len, frames, end } = batch;
        if buf.len() < self.carry.len() {
            buf.resize(self.carry.len(), 0);
        }
        buf[..self.carry.len()].copy_from_slice(&self.carry);
        *len = self.carry.len();
        self.carry.clear();
        let mut more = self.read(buf, len, self.chunk.max(*len + 1))?;
        let mut at = 0;
        loop {
            // Every whole record in what was read.
            while let Some(size) = self.format.record_len(&buf[at..*len], self.packets)?
                && let Some(record) = buf.get(at..*len).and_then(|b| b.get(..size))
            {
                if let Some(mut frame) = self.format.record(record, self.packets)? {
                    frame.data = at + frame.data.start..at + frame.data.end;
                    frames.push(frame);
                    self.packets += 1;
                }
                at += size;
            }
            if !more {
                if at < *len {
                    return Err(CaptureError::Truncated { packets: self.packets });
                }
                *end = Some(Ok(()));
                return Ok(());
            }
            if at > 0 {
                // The cut record waits for the next batch.
                self.carry.extend_from_slice(&buf[at..*len]);
                *len = at;
                return Ok(());
            }
            // Not one whole record yet (a record larger than a chunk, or a short read). The
            // buffer grows a chunk at a time, as the bytes arrive: a record announcing more
            // than the file holds costs no more memory than the file.
            let need = match self.format.record_len(&buf[..*len], self.packets)? {
                Some(size) => size,
                None => self.format.header_len(),
            };
            more = self.read(buf, len, need.min(*len + self.chunk).max(*len + 1))?;
        }
    }
}

/// Where batches come from.
enum Source<'r> {
    /// Framed on the caller's thread.
    Inline(Framer<'r>),
    /// Framed by a read-ahead thread; spent batches go back to it for their buffers.
    Ahead { ready: Receiver<Batch>, spent: SyncSender<Batch> },
}

/// Frames batches on its own thread until the capture ends or the reader is dropped.
fn read_ahead_loop(mut framer: Framer<'_>, ready: &SyncSender<Batch>, spent: &Receiver<Batch>) {
    loop {
        let mut batch = spent.try_recv().unwrap_or_default();
        framer.next(&mut batch);
        let end = batch.end.is_some();
        if ready.send(batch).is_err() || end {
            return;
        }
    }
}

/// Reads a pcap (either byte order, micro- or nanosecond) or pcapng capture from any
/// [`Read`], holding a bounded amount of it in memory.
///
/// ```
/// # fn main() -> Result<(), doip_pcap::CaptureError> {
/// # let capture: &[u8] = include_bytes!("../../../tests/data/udp-discovery.pcap");
/// let mut reader = doip_pcap::CaptureReader::new(capture)?;
/// let mut packets = 0;
/// reader.for_each_packet(|packet| packets += packet.data.len().min(1))?;
/// assert!(packets > 0);
/// # Ok(()) }
/// ```
pub struct CaptureReader<'r> {
    source: Source<'r>,
    /// The batch being delivered (or spent, between calls).
    batch: Batch,
    packets: u64,
    finished: bool,
}

impl std::fmt::Debug for CaptureReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureReader").field("packets", &self.packets).finish_non_exhaustive()
    }
}

impl<'r> CaptureReader<'r> {
    /// Probes the format (pcapng or pcap) from the first bytes of `source`, then reads it
    /// 256 KiB at a time on the caller's thread.
    ///
    /// # Errors
    /// [`CaptureError::Empty`], [`CaptureError::NotACapture`], or a read error.
    pub fn new<R: Read + Send + 'r>(source: R) -> Result<Self, CaptureError> {
        Self::with_buffer(source, CHUNK)
    }

    /// [`CaptureReader::new`] reading `capacity` bytes at a time (at least 4 KiB). A record
    /// larger than that gets a buffer of its size, up to [`MAX_RECORD`]. Small reads suit
    /// small captures and constrained hosts.
    ///
    /// # Errors
    /// As [`CaptureReader::new`].
    pub fn with_buffer<R: Read + Send + 'r>(
        source: R,
        capacity: usize,
    ) -> Result<Self, CaptureError> {
        let framer = framer(Box::new(source), capacity.clamp(4096, MAX_RECORD), false)?;
        Ok(Self::from_source(Source::Inline(framer)))
    }

    fn from_source(source: Source<'r>) -> Self {
        Self { source, batch: Batch::default(), packets: 0, finished: false }
    }

    /// Packets read so far.
    #[must_use]
    pub const fn packets(&self) -> u64 {
        self.packets
    }

    /// Calls `f` with every packet, in file order.
    ///
    /// # Errors
    /// A truncated or malformed file, or a read error; packets before it were delivered.
    pub fn for_each_packet(&mut self, mut f: impl FnMut(&Packet<'_>)) -> Result<(), CaptureError> {
        while !self.finished {
            match &mut self.source {
                Source::Inline(framer) => framer.next(&mut self.batch),
                Source::Ahead { ready, spent } => {
                    let next = ready.recv().unwrap_or_else(|_| Batch {
                        end: Some(Err(io::Error::other("the read-ahead thread stopped").into())),
                        ..Batch::default()
                    });
                    // A full return queue only means the thread has buffers enough.
                    let _ = spent.try_send(std::mem::replace(&mut self.batch, next));
                }
            }
            let batch = &mut self.batch;
            let records = &batch.buf[..batch.len];
            for frame in &batch.frames {
                self.packets += 1;
                let data = records.get(frame.data.clone()).unwrap_or_default();
                f(&Packet {
                    number: self.packets,
                    time: frame.time,
                    link_type: frame.link_type,
                    data,
                });
            }
            if let Some(end) = batch.end.take() {
                self.finished = true;
                return end;
            }
        }
        Ok(())
    }
}

impl CaptureReader<'static> {
    /// [`CaptureReader::new`] with reading and framing done on a second thread, a few batches
    /// ahead of the caller, so that the file system's copy overlaps decoding (`doip decode`
    /// of a 100 MB file takes ~20% less time). Meant for files: the thread ends with the
    /// capture, or after its current read once the reader is dropped (with a pipe, that read
    /// may wait for the writer).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), doip_pcap::CaptureError> {
    /// let file = std::fs::File::open("session.pcapng")?;
    /// let reader = doip_pcap::CaptureReader::read_ahead(file)?;
    /// let stats = doip_pcap::decode_with(reader, Default::default(), |_event| {})?;
    /// println!("{} DoIP messages", stats.messages);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`CaptureReader::new`], or [`CaptureError::Io`] when no thread can be started.
    pub fn read_ahead<R: Read + Send + 'static>(source: R) -> Result<Self, CaptureError> {
        let framer = framer(Box::new(source), READ_AHEAD_CHUNK, true)?;
        let (send_ready, ready) = sync_channel(READ_AHEAD_BATCHES);
        let (spent, take_spent) = sync_channel(READ_AHEAD_BATCHES + 2);
        std::thread::Builder::new()
            .name("doip-pcap-read".into())
            .spawn(move || read_ahead_loop(framer, &send_ready, &take_spent))?;
        Ok(Self::from_source(Source::Ahead { ready, spent }))
    }
}

/// Probes the format from the first bytes of `source`; the framer starts after the file
/// header (a pcapng section header is a record, framed like the others).
fn framer(
    mut source: Box<dyn Read + Send + '_>,
    chunk: usize,
    eager: bool,
) -> Result<Framer<'_>, CaptureError> {
    let mut head = Vec::with_capacity(PCAP_HEADER_LEN);
    (&mut source).take(PCAP_HEADER_LEN as u64).read_to_end(&mut head)?;
    let magic = match head.first_chunk::<4>() {
        None if head.is_empty() => return Err(CaptureError::Empty),
        None => return Err(CaptureError::Truncated { packets: 0 }),
        Some(m) => u32::from_be_bytes(*m),
    };
    let (format, carry) = if magic == PCAPNG_MAGIC {
        // The section header sets the byte order.
        (Format::PcapNg { big_endian: false, interfaces: Vec::new() }, head)
    } else if matches!(magic, 0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 | 0x34cd_b2a1) {
        let header = match parse_pcap_header(&head) {
            Ok((_, header)) => header,
            Err(pcap_parser::nom::Err::Incomplete(_)) => {
                return Err(CaptureError::Truncated { packets: 0 });
            }
            Err(e) => {
                return Err(CaptureError::Malformed { packets: 0, reason: format!("{e:?}") });
            }
        };
        let big_endian = header.is_bigendian();
        // The "modified" pcap of some Linux patches has 24-byte record headers.
        let header_len = if header.is_modified_format() { 24 } else { 16 };
        let format = Format::Pcap {
            big_endian,
            header_len,
            link_type: LinkType(header.network.0.cast_unsigned()),
            nanos: header.is_nanosecond_precision(),
        };
        (format, Vec::new())
    } else {
        return Err(CaptureError::NotACapture { magic: format!("{magic:08x}") });
    };
    Ok(Framer { source, format, chunk, eager, carry, packets: 0, done: false })
}
