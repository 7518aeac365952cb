//! Writing captures: pcap and pcapng files of Ethernet frames built from DoIP bytes.
//!
//! For tests, benchmarks and fuzz seeds — a capture of exactly the frames a program sent,
//! with real TCP sequence numbers so that any reader (ours, Wireshark) reassembles it.
//!
//! ```
//! use std::time::Duration;
//! use doip_pcap::synth::{CaptureWriter, Format, TcpConnection};
//!
//! # fn main() -> std::io::Result<()> {
//! let mut out = CaptureWriter::new(Vec::new(), Format::PcapNg)?;
//! let mut tcp = TcpConnection::new("127.0.0.1:50000".parse().unwrap(), "127.0.0.1:13400".parse().unwrap());
//! for frame in tcp.open()? {
//!     out.packet(Duration::ZERO, &frame)?;
//! }
//! // An alive check request from the entity.
//! out.packet(Duration::from_millis(1), &tcp.send(false, &[2, 0xfd, 0, 7, 0, 0, 0, 0])?)?;
//! let file = out.into_inner();
//! let stats = doip_pcap::decode_capture(&file[..], Default::default(), |_| {})
//!     .map_err(std::io::Error::other)?;
//! assert_eq!(stats.messages, 1);
//! # Ok(()) }
//! ```

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use etherparse::{PacketBuilder, TcpHeader};

use crate::LinkType;

/// Capture file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Classic pcap, little-endian, nanosecond timestamps.
    Pcap,
    /// pcapng with one Ethernet interface, nanosecond timestamps.
    PcapNg,
}

/// Writes packets to a pcap or pcapng file (Ethernet unless told otherwise).
#[derive(Debug)]
pub struct CaptureWriter<W: Write> {
    out: W,
    format: Format,
}

/// The snapshot length declared (libpcap's maximum).
const SNAPLEN: u32 = 262_144;

impl<W: Write> CaptureWriter<W> {
    /// Writes the file header.
    ///
    /// # Errors
    /// The writer's error.
    pub fn new(out: W, format: Format) -> io::Result<Self> {
        Self::with_link_type(out, format, LinkType::ETHERNET)
    }

    /// Writes the file header for frames of another link type (the caller builds them).
    ///
    /// # Errors
    /// The writer's error.
    pub fn with_link_type(mut out: W, format: Format, link: LinkType) -> io::Result<Self> {
        let link = link.0;
        match format {
            Format::Pcap => {
                out.write_all(&0xa1b2_3c4d_u32.to_le_bytes())?; // nanosecond magic
                out.write_all(&2u16.to_le_bytes())?;
                out.write_all(&4u16.to_le_bytes())?;
                out.write_all(&[0; 8])?; // thiszone, sigfigs
                out.write_all(&SNAPLEN.to_le_bytes())?;
                out.write_all(&link.to_le_bytes())?;
            }
            Format::PcapNg => {
                // Section header: byte-order magic, version 1.0, unknown section length.
                block(
                    &mut out,
                    0x0a0d_0d0a,
                    &[
                        &0x1a2b_3c4d_u32.to_le_bytes(),
                        &1u16.to_le_bytes(),
                        &0u16.to_le_bytes(),
                        &(-1i64).to_le_bytes(),
                    ],
                )?;
                // Interface: link type, snaplen, if_tsresol = 9 (nanoseconds), end of options.
                block(
                    &mut out,
                    1,
                    &[
                        &(link as u16).to_le_bytes(),
                        &[0, 0],
                        &SNAPLEN.to_le_bytes(),
                        &[9, 0, 1, 0, 9, 0, 0, 0],
                        &[0, 0, 0, 0],
                    ],
                )?;
            }
        }
        Ok(Self { out, format })
    }

    /// Writes one link-layer frame captured at `time` (since the Unix epoch).
    ///
    /// # Errors
    /// The writer's error; a frame longer than 4 GiB.
    pub fn packet(&mut self, time: Duration, frame: &[u8]) -> io::Result<()> {
        let len = u32::try_from(frame.len()).map_err(io::Error::other)?;
        match self.format {
            Format::Pcap => {
                let secs = u32::try_from(time.as_secs()).map_err(io::Error::other)?;
                self.out.write_all(&secs.to_le_bytes())?;
                self.out.write_all(&time.subsec_nanos().to_le_bytes())?;
                self.out.write_all(&len.to_le_bytes())?;
                self.out.write_all(&len.to_le_bytes())?;
                self.out.write_all(frame)
            }
            Format::PcapNg => {
                let nanos = u64::try_from(time.as_nanos()).map_err(io::Error::other)?;
                let pad = [0u8; 3];
                block(
                    &mut self.out,
                    6,
                    &[
                        &0u32.to_le_bytes(),
                        &((nanos >> 32) as u32).to_le_bytes(),
                        &(nanos as u32).to_le_bytes(),
                        &len.to_le_bytes(),
                        &len.to_le_bytes(),
                        frame,
                        &pad[..(4 - frame.len() % 4) % 4],
                    ],
                )
            }
        }
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.out
    }

    /// The output, e.g. to flush it while writing goes on.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }
}

/// One pcapng block: type, total length, body, total length again.
fn block<W: Write>(out: &mut W, kind: u32, body: &[&[u8]]) -> io::Result<()> {
    let len: usize = 12 + body.iter().map(|p| p.len()).sum::<usize>();
    let len = u32::try_from(len).map_err(io::Error::other)?;
    out.write_all(&kind.to_le_bytes())?;
    out.write_all(&len.to_le_bytes())?;
    for part in body {
        out.write_all(part)?;
    }
    out.write_all(&len.to_le_bytes())
}

/// The MAC address given to an IP address in synthetic frames (locally administered).
fn mac(ip: IpAddr) -> [u8; 6] {
    let o = match ip {
        IpAddr::V4(v4) => v4.octets(),
        IpAddr::V6(v6) => {
            let o = v6.octets();
            [o[12], o[13], o[14], o[15]]
        }
    };
    [0x02, 0x00, o[0], o[1], o[2], o[3]]
}

/// A TCP connection between two endpoints of the same address family, producing Ethernet
/// frames with consistent sequence and acknowledgement numbers.
#[derive(Clone, Debug)]
pub struct TcpConnection {
    client: SocketAddr,
    server: SocketAddr,
    /// Next sequence number of the client and of the server.
    seq: [u32; 2],
}

impl TcpConnection {
    /// A connection from `client` to `server`.
    #[must_use]
    pub const fn new(client: SocketAddr, server: SocketAddr) -> Self {
        Self { client, server, seq: [0x1000_0000, 0x2000_0000] }
    }

    /// SYN, SYN-ACK, ACK.
    ///
    /// # Errors
    /// Mixed address families.
    pub fn open(&mut self) -> io::Result<[Vec<u8>; 3]> {
        let syn = self.frame(true, Flags::Syn, &[])?;
        self.seq[0] = self.seq[0].wrapping_add(1);
        let syn_ack = self.frame(false, Flags::Syn, &[])?;
        self.seq[1] = self.seq[1].wrapping_add(1);
        Ok([syn, syn_ack, self.frame(true, Flags::Plain, &[])?])
    }

    /// One segment carrying `payload` from the client (`true`) or the server.
    ///
    /// # Errors
    /// Mixed address families; a payload too long for one IP packet.
    pub fn send(&mut self, from_client: bool, payload: &[u8]) -> io::Result<Vec<u8>> {
        let frame = self.frame(from_client, Flags::Push, payload)?;
        let i = usize::from(!from_client);
        self.seq[i] = self.seq[i].wrapping_add(payload.len() as u32);
        Ok(frame)
    }

    /// A FIN from the client (`true`) or the server.
    ///
    /// # Errors
    /// Mixed address families.
    pub fn close(&mut self, from_client: bool) -> io::Result<Vec<u8>> {
        let frame = self.frame(from_client, Flags::Fin, &[])?;
        let i = usize::from(!from_client);
        self.seq[i] = self.seq[i].wrapping_add(1);
        Ok(frame)
    }

    fn frame(&self, from_client: bool, flags: Flags, payload: &[u8]) -> io::Result<Vec<u8>> {
        let (src, dst, seq, ack) = if from_client {
            (self.client, self.server, self.seq[0], self.seq[1])
        } else {
            (self.server, self.client, self.seq[1], self.seq[0])
        };
        let mut tcp = TcpHeader::new(src.port(), dst.port(), seq, 65_535);
        tcp.syn = flags == Flags::Syn;
        tcp.fin = flags == Flags::Fin;
        tcp.psh = flags == Flags::Push;
        // Everything but the client's first SYN acknowledges the peer.
        tcp.ack = !(from_client && tcp.syn);
        tcp.acknowledgment_number = if tcp.ack { ack } else { 0 };
        ethernet(src.ip(), dst.ip(), Transport::Tcp(tcp), payload)
    }
}

/// One UDP datagram as an Ethernet frame.
///
/// # Errors
/// Mixed address families; a payload too long for one IP packet.
pub fn udp_frame(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> io::Result<Vec<u8>> {
    ethernet(src.ip(), dst.ip(), Transport::Udp(src.port(), dst.port()), payload)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flags {
    Plain,
    Syn,
    Push,
    Fin,
}

enum Transport {
    Tcp(TcpHeader),
    Udp(u16, u16),
}

fn ethernet(src: IpAddr, dst: IpAddr, transport: Transport, payload: &[u8]) -> io::Result<Vec<u8>> {
    let link = PacketBuilder::ethernet2(mac(src), mac(dst));
    let ip = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => link.ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => link.ipv6(s.octets(), d.octets(), 64),
        _ => return Err(io::Error::other("source and destination differ in address family")),
    };
    let mut out = Vec::new();
    let written = match transport {
        Transport::Tcp(tcp) => ip.tcp_header(tcp).write(&mut out, payload),
        Transport::Udp(sp, dp) => ip.udp(sp, dp).write(&mut out, payload),
    };
    written.map_err(io::Error::other)?;
    Ok(out)
}

/// Capture time of the first packet of [`diagnostic_session`]: 2025-11-24 16:00 UTC.
pub const SESSION_START: u64 = 1_764_000_000;

/// Writes a tester session of ordinary diagnostic traffic until at least `bytes` bytes of
/// capture are written, and returns the number of packets: routing activation, then rounds of
/// ReadDataByIdentifier (request, ACK, answer), TesterPresent, and a 4 KiB TransferData block
/// in MSS-sized segments with its ACK and answer. For benchmarks and soak tests of readers.
///
/// # Errors
/// The writer's error.
pub fn diagnostic_session<W: Write>(out: &mut CaptureWriter<W>, bytes: u64) -> io::Result<u64> {
    let tester: SocketAddr = ([192, 168, 0, 100], 50_000).into();
    let entity: SocketAddr = ([192, 168, 0, 10], crate::DOIP_PORT).into();
    let mut tcp = TcpConnection::new(tester, entity);
    let written = std::cell::Cell::new(0u64);
    let packets = std::cell::Cell::new(0u64);
    let mut clock = Duration::from_secs(SESSION_START);
    let mut put = |out: &mut CaptureWriter<W>, frame: &[u8]| -> io::Result<()> {
        clock += Duration::from_micros(150);
        written.set(written.get() + 16 + frame.len() as u64);
        packets.set(packets.get() + 1);
        out.packet(clock, frame)
    };
    for frame in tcp.open()? {
        put(out, &frame)?;
    }
    let diag = |source: u16, target: u16, data: &[u8]| {
        let mut m = vec![0x02, 0xFD, 0x80, 0x01];
        m.extend_from_slice(&(4 + data.len() as u32).to_be_bytes());
        m.extend_from_slice(&source.to_be_bytes());
        m.extend_from_slice(&target.to_be_bytes());
        m.extend_from_slice(data);
        m
    };
    let ack = |data: &[u8]| {
        let mut m = vec![0x02, 0xFD, 0x80, 0x02, 0, 0, 0, 5, 0x40, 0x11, 0x0E, 0x00, 0x00];
        m.extend_from_slice(data);
        let len = (m.len() - 8) as u32;
        m[4..8].copy_from_slice(&len.to_be_bytes());
        m
    };
    let activation = [0x02, 0xFD, 0x00, 0x05, 0, 0, 0, 7, 0x0E, 0x00, 0, 0, 0, 0, 0];
    put(out, &tcp.send(true, &activation)?)?;
    let activated = [2, 0xFD, 0, 6, 0, 0, 0, 9, 0x0E, 0, 0x40, 0x10, 0x10, 0, 0, 0, 0];
    put(out, &tcp.send(false, &activated)?)?;
    let mut vin_answer = vec![0x62, 0xF1, 0x90];
    vin_answer.extend_from_slice(b"WDOIPRS0000000001");
    let mut block = vec![0x36, 0x00];
    block.extend((0..4093u32).map(|i| (i * 7) as u8));
    let mut counter = 0u8;
    while written.get() < bytes {
        for _ in 0..10 {
            put(out, &tcp.send(true, &diag(0x0E00, 0x4011, &[0x22, 0xF1, 0x90]))?)?;
            put(out, &tcp.send(false, &ack(&[0x22, 0xF1, 0x90]))?)?;
            put(out, &tcp.send(false, &diag(0x4011, 0x0E00, &vin_answer))?)?;
        }
        for _ in 0..5 {
            put(out, &tcp.send(true, &diag(0x0E00, 0x4011, &[0x3E, 0x00]))?)?;
            let answer = [ack(&[0x3E, 0x00]), diag(0x4011, 0x0E00, &[0x7E, 0x00])].concat();
            put(out, &tcp.send(false, &answer)?)?;
        }
        counter = counter.wrapping_add(1);
        block[1] = counter;
        for segment in diag(0x0E00, 0x4011, &block).chunks(1460) {
            put(out, &tcp.send(true, segment)?)?;
        }
        put(out, &tcp.send(false, &ack(&[0x36, counter]))?)?;
        put(out, &tcp.send(false, &diag(0x4011, 0x0E00, &[0x76, counter]))?)?;
    }
    Ok(packets.get())
}
