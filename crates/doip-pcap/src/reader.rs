//! Packets out of pcap and pcapng files, streamed through a bounded buffer.

use std::io::Read;
use std::time::Duration;

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError, create_reader};

use crate::{CaptureError, LinkType};

/// Buffer the reader starts with; records larger than this grow it up to [`MAX_RECORD`].
const INITIAL_BUFFER: usize = 1 << 20;
/// Bytes read before the format is probed.
const PREFIX: usize = 64 << 10;
/// The pcapng section header block type, which opens every pcapng file.
const PCAPNG_MAGIC: u32 = 0x0a0d_0d0a;
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

/// Reads a pcap (either byte order, micro- or nanosecond) or pcapng capture from any
/// [`Read`], holding at most one buffer of it in memory.
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
    inner: Box<dyn PcapReaderIterator + Send + 'r>,
    /// Link type and nanosecond flag of a legacy pcap file.
    legacy: Option<(LinkType, bool)>,
    interfaces: Vec<Interface>,
    /// Byte order of the current pcapng section (`Some(true)` for big-endian).
    section_big_endian: Option<bool>,
    packets: u64,
}

impl std::fmt::Debug for CaptureReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureReader").field("packets", &self.packets).finish_non_exhaustive()
    }
}

impl<'r> CaptureReader<'r> {
    /// Probes the format (pcapng first, then pcap) from the first bytes of `source`.
    ///
    /// # Errors
    /// [`CaptureError::Empty`], [`CaptureError::NotACapture`], or a read error.
    pub fn new<R: Read + Send + 'r>(source: R) -> Result<Self, CaptureError> {
        Self::with_buffer(source, INITIAL_BUFFER)
    }

    /// [`CaptureReader::new`] starting from a `capacity`-byte buffer (at least 4 KiB; grown
    /// on demand for larger records, up to [`MAX_RECORD`]). Small buffers suit small
    /// captures and constrained hosts; the default 1 MiB suits large files.
    ///
    /// # Errors
    /// As [`CaptureReader::new`].
    pub fn with_buffer<R: Read + Send + 'r>(
        mut source: R,
        capacity: usize,
    ) -> Result<Self, CaptureError> {
        let capacity = capacity.clamp(4096, MAX_RECORD);
        // The format parser decides from its first read alone: give it a full prefix.
        let mut head = vec![0u8; PREFIX.min(capacity)];
        let mut got = 0;
        while got < head.len() {
            match source.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        head.truncate(got);
        let magic = match head.first_chunk::<4>() {
            None if got == 0 => return Err(CaptureError::Empty),
            None => return Err(CaptureError::Truncated { packets: 0 }),
            Some(m) => *m,
        };
        if !matches!(
            u32::from_be_bytes(magic),
            PCAPNG_MAGIC | 0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1
        ) {
            let magic = u32::from_be_bytes(magic);
            let magic = format!("{magic:08x}");
            return Err(CaptureError::NotACapture { magic });
        }
        let inner = create_reader(capacity, std::io::Cursor::new(head).chain(source)).map_err(
            |e| match e {
                PcapError::Incomplete(_) | PcapError::Eof | PcapError::UnexpectedEof => {
                    CaptureError::Truncated { packets: 0 }
                }
                e => CaptureError::Malformed { packets: 0, reason: format!("{e:?}") },
            },
        )?;
        Ok(Self {
            inner,
            legacy: None,
            interfaces: Vec::new(),
            section_big_endian: None,
            packets: 0,
        })
    }

    /// Packets read so far.
    #[must_use]
    pub const fn packets(&self) -> u64 {
        self.packets
    }

    /// The length of the pcapng block about to be parsed, when it is below the format's
    /// minimum of 12 bytes. pcap-parser 0.17 subtracts 12 from the length unchecked for some
    /// block types (a panic with overflow checks on, a 4 GiB read without), so such blocks
    /// are refused here, before it sees them. Section headers are exempt: their own byte
    /// order applies, and the parser checks them itself.
    fn short_pcapng_block(&self) -> Option<u32> {
        let big_endian = self.section_big_endian?;
        let head = self.inner.data().first_chunk::<8>()?;
        if u32::from_be_bytes([head[0], head[1], head[2], head[3]]) == PCAPNG_MAGIC {
            return None;
        }
        let length = [head[4], head[5], head[6], head[7]];
        let length =
            if big_endian { u32::from_be_bytes(length) } else { u32::from_le_bytes(length) };
        (length < 12).then_some(length)
    }

    /// Calls `f` with every packet, in file order.
    ///
    /// # Errors
    /// A truncated or malformed file, or a read error; packets before it were delivered.
    pub fn for_each_packet(&mut self, mut f: impl FnMut(&Packet<'_>)) -> Result<(), CaptureError> {
        let mut stalled = 0;
        loop {
            let packets = self.packets;
            if let Some(length) = self.short_pcapng_block() {
                return Err(CaptureError::Malformed {
                    packets,
                    reason: format!("pcapng block of {length} bytes (every block has at least 12)"),
                });
            }
            match self.inner.next() {
                Ok((offset, block)) => {
                    stalled = 0;
                    let packet = match block {
                        PcapBlockOwned::LegacyHeader(h) => {
                            let link = LinkType(h.network.0.cast_unsigned());
                            self.legacy = Some((link, h.is_nanosecond_precision()));
                            None
                        }
                        PcapBlockOwned::Legacy(b) => {
                            let (link, nanos) = self.legacy.unwrap_or((LinkType::ETHERNET, false));
                            let sub =
                                if nanos { b.ts_usec } else { b.ts_usec.saturating_mul(1000) };
                            let time = Duration::new(u64::from(b.ts_sec), sub.min(999_999_999));
                            let data = b.data.get(..b.caplen as usize).unwrap_or(b.data);
                            Some((time, link, data))
                        }
                        PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                            self.section_big_endian = Some(shb.big_endian());
                            self.interfaces.clear();
                            None
                        }
                        PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                            self.interfaces.push(Interface {
                                link_type: LinkType(idb.linktype.0.cast_unsigned()),
                                resolution: idb.ts_resolution().unwrap_or(1_000_000),
                                offset: u64::try_from(idb.if_tsoffset).unwrap_or(0),
                            });
                            None
                        }
                        PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                            let Some(i) = self.interfaces.get(epb.if_id as usize) else {
                                return Err(CaptureError::UnknownInterface {
                                    packet: packets + 1,
                                    interface: epb.if_id,
                                });
                            };
                            let (secs, frac) = epb.decode_ts(i.offset, i.resolution);
                            let nanos = u128::from(frac) * 1_000_000_000 / u128::from(i.resolution);
                            let time =
                                Duration::new(u64::from(secs), nanos.min(999_999_999) as u32);
                            let data = epb.data.get(..epb.caplen as usize).unwrap_or(epb.data);
                            Some((time, i.link_type, data))
                        }
                        PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                            let Some(i) = self.interfaces.first() else {
                                return Err(CaptureError::UnknownInterface {
                                    packet: packets + 1,
                                    interface: 0,
                                });
                            };
                            let data = spb.data.get(..spb.origlen as usize).unwrap_or(spb.data);
                            Some((Duration::ZERO, i.link_type, data))
                        }
                        PcapBlockOwned::NG(_) => None,
                    };
                    if let Some((time, link_type, data)) = packet {
                        self.packets += 1;
                        f(&Packet { number: self.packets, time, link_type, data });
                    }
                    self.inner.consume(offset);
                }
                Err(PcapError::Eof) => return Ok(()),
                Err(PcapError::Incomplete(_)) => {
                    // A refill adds bytes or marks the source exhausted, after which `next`
                    // reports the cut; refills that add nothing are bounded regardless.
                    let before = self.inner.data().len();
                    self.inner
                        .refill()
                        .map_err(|_| CaptureError::Io(std::io::Error::other("read failed")))?;
                    if self.inner.data().len() <= before {
                        stalled += 1;
                        if stalled > 3 {
                            return Err(CaptureError::Truncated { packets });
                        }
                    }
                }
                Err(PcapError::BufferTooSmall) => {
                    let size = self.inner.data().len().max(4096) * 2;
                    if size > MAX_RECORD || !self.inner.grow(size) {
                        return Err(CaptureError::RecordTooLarge { packets, limit: MAX_RECORD });
                    }
                }
                Err(PcapError::UnexpectedEof) => return Err(CaptureError::Truncated { packets }),
                Err(e) => {
                    return Err(CaptureError::Malformed { packets, reason: format!("{e:?}") });
                }
            }
        }
    }
}
