//! From packets to DoIP messages: TCP streams reassembled per flow, UDP datagrams one by one.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use doip_proto::header::HEADER_LEN;
use doip_proto::{Error, Header, HeaderPolicy, Message, Transport};

use crate::Packet;
use crate::link::{self, Layers, slice};

/// The standard ports: DoIP on 13400, DoIP over TLS on 3496.
pub const DOIP_PORT: u16 = 13400;
/// TCP_DATA over TLS (ISO 13400-2:2019).
pub const TLS_PORT: u16 = 3496;

/// Out-of-order segments held per flow direction before the missing bytes count as lost.
const MAX_PENDING_SEGMENTS: usize = 64;
/// Bytes of out-of-order segments held per flow direction.
const MAX_PENDING_BYTES: usize = 1 << 20;

/// What the decoder looks at and how much it buffers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Ports carrying plain DoIP over TCP and UDP (default 13400).
    pub doip_ports: Vec<u16>,
    /// TCP ports carrying DoIP over TLS (default 3496): records are reported, not parsed.
    pub tls_ports: Vec<u16>,
    /// The largest payload reassembled; longer messages are reported and skipped unbuffered.
    pub max_payload_length: u32,
}

impl DecodeOptions {
    /// The header checks every frame arriving on `transport` gets: a DoIP entity's
    /// ([`HeaderPolicy::new`]: versions 0x01–0x04, and 0xFF only in vehicle identification
    /// requests; payload types known and carried on that transport, so reserved and vendor
    /// types are refused with NACK 0x01; the length the type allows), with
    /// [`DecodeOptions::max_payload_length`] as the largest message (NACK 0x02 above it).
    /// A frame that fails them is a [`Content::Malformed`] naming the first check failed.
    #[must_use]
    pub fn policy(&self, transport: Transport) -> HeaderPolicy {
        HeaderPolicy::new(transport).with_max_payload_length(self.max_payload_length)
    }
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            doip_ports: vec![DOIP_PORT],
            tls_ports: vec![TLS_PORT],
            max_payload_length: 16 << 20,
        }
    }
}

/// One thing found in the capture: a DoIP message, a malformed one, or a TLS record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event<'a> {
    /// The packet that completed it (Wireshark shows reassembled messages there too).
    pub packet: u64,
    /// That packet's capture time since the Unix epoch.
    pub time: Duration,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// TCP or UDP.
    pub transport: Transport,
    /// What was found.
    pub content: Content<'a>,
}

impl Event<'_> {
    /// The same event owning its data, to keep beyond the sink call that lent it.
    #[must_use]
    pub fn into_owned(self) -> Event<'static> {
        let content = match self.content {
            Content::Message { header, message } => {
                Content::Message { header, message: message.into_owned() }
            }
            Content::Malformed { header, message, error } => {
                Content::Malformed { header, message: message.map(Message::into_owned), error }
            }
            Content::Tls { content_type, version, length } => {
                Content::Tls { content_type, version, length }
            }
        };
        Event { content, ..self }
    }
}

/// The payload of an [`Event`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content<'a> {
    /// A well-formed DoIP message.
    Message {
        /// Its header as captured.
        header: Header,
        /// The typed payload, borrowing the capture.
        message: Message<'a>,
    },
    /// Bytes on a DoIP port that do not form a valid DoIP message: a header a DoIP entity
    /// would refuse ([`DecodeOptions::policy`]; `error` names the rule and, through
    /// [`Error::nack_code`], the generic NACK it would answer), a payload that does not fit
    /// its type, or a stream or datagram that is cut, has gaps or lost its framing.
    Malformed {
        /// The header, when one was read.
        header: Option<Header>,
        /// What could still be decoded: the payload of a refused frame when its bounds are
        /// known and it parses (e.g. a diagnostic message sent with version 0xFF, a reserved
        /// payload type as [`Message::Unknown`]). `None` when the payload does not parse, was
        /// skipped, or its length cannot be trusted (wrong inverse version byte on TCP).
        message: Option<Message<'a>>,
        /// What is wrong: the first check failed, in the spec's order.
        error: StreamError,
    },
    /// A TLS record on a DoIP-over-TLS connection: encrypted, so not decoded.
    Tls {
        /// TLS content type (20 change cipher spec, 21 alert, 22 handshake, 23 application data).
        content_type: u8,
        /// Record-layer version (0x0303 for TLS 1.2 and 1.3).
        version: u16,
        /// Encrypted length.
        length: u16,
    },
}

/// Why bytes on a DoIP port were not a valid message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The header or payload broke a rule of ISO 13400-2.
    #[error(transparent)]
    Doip(#[from] Error),
    /// Bytes of the TCP stream were never captured; decoding resumes at the next header.
    #[error("{missing} bytes of the TCP stream are missing from the capture")]
    Gap {
        /// How many.
        missing: u32,
    },
    /// The connection or the capture ended inside a message.
    #[error("the stream ended inside a message: {have} of {need} bytes captured")]
    Truncated {
        /// Bytes of the message captured.
        have: usize,
        /// Bytes it announced (at least a header).
        need: usize,
    },
    /// Bytes skipped while looking for the next DoIP header after an error or gap.
    #[error("{skipped} bytes that do not start a DoIP header were skipped")]
    Unsynchronised {
        /// How many.
        skipped: usize,
    },
}

/// Counts kept over a whole capture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets seen.
    pub packets: u64,
    /// Packets to or from a DoIP or TLS port.
    pub doip_packets: u64,
    /// Well-formed DoIP messages.
    pub messages: u64,
    /// Malformed-message events (refused frames included, even when their payload decoded).
    pub malformed: u64,
    /// TLS records.
    pub tls_records: u64,
    /// Packets that are not IP, are IP fragments, or are cut short (not decoded).
    pub skipped: u64,
}

/// Packet metadata attached to every event a segment produces.
#[derive(Clone, Copy)]
struct Meta {
    packet: u64,
    time: Duration,
    src: SocketAddr,
    dst: SocketAddr,
    transport: Transport,
}

/// One direction of a TCP connection as a map key, in plain words: cheap to build, compare
/// and hash once per packet (a pair of `SocketAddr`s is none of these).
#[derive(Clone, Copy, PartialEq, Eq)]
struct FlowKey {
    /// IPv6 address bits 64..128 (0 for IPv4).
    src_high: u64,
    dst_high: u64,
    /// IPv6 address bits 0..64, or the IPv4 address.
    src_low: u64,
    dst_low: u64,
    /// Source port, destination port, and 1 for IPv6.
    ports: u64,
}

impl FlowKey {
    fn new(src: IpAddr, dst: IpAddr, ports: u32) -> Self {
        let bits = |ip: IpAddr| match ip {
            IpAddr::V4(ip) => (0, u64::from(ip.to_bits())),
            IpAddr::V6(ip) => {
                let bits = ip.to_bits();
                ((bits >> 64) as u64, bits as u64)
            }
        };
        let ((src_high, src_low), (dst_high, dst_low)) = (bits(src), bits(dst));
        let ports = u64::from(ports) << 1 | u64::from(src.is_ipv6());
        Self { src_high, dst_high, src_low, dst_low, ports }
    }
}

impl Hash for FlowKey {
    /// One word for the whole key: flow lookups happen once per packet.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let high = self.src_high ^ self.dst_high.rotate_left(29);
        state.write_u64(
            self.src_low ^ self.dst_low.rotate_left(17) ^ high ^ self.ports.rotate_left(40),
        );
    }
}

/// A multiply hasher for [`FlowKey`]'s single word (the Fx hash of rustc): capture contents
/// cannot be chosen to degrade a reader's own map badly enough to matter next to `SipHash`'s
/// cost on every packet.
#[derive(Default)]
struct FlowHasher(u64);

impl Hasher for FlowHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// The flows being reassembled. The last two looked up are kept at hand: a capture alternates
/// between the two directions of a connection, so most packets skip the hash.
struct Flows {
    slab: Vec<(FlowKey, Flow)>,
    index: HashMap<FlowKey, usize, BuildHasherDefault<FlowHasher>>,
    /// Slab positions of the last two flows looked up (`usize::MAX`: none).
    recent: [usize; 2],
}

impl Default for Flows {
    fn default() -> Self {
        Self { slab: Vec::new(), index: HashMap::default(), recent: [usize::MAX; 2] }
    }
}

impl Flows {
    /// The slab position of `key`'s flow, made by `new` when there is none.
    fn position(&mut self, key: &FlowKey, new: impl FnOnce() -> Flow) -> usize {
        let [last, before] = self.recent;
        if self.slab.get(last).is_some_and(|(k, _)| k == key) {
            return last;
        }
        let at = if self.slab.get(before).is_some_and(|(k, _)| k == key) {
            before
        } else {
            let slab = &mut self.slab;
            *self.index.entry(*key).or_insert_with(|| {
                slab.push((*key, new()));
                slab.len() - 1
            })
        };
        self.recent = [at, last];
        at
    }

    /// Removes the flow at `at`.
    fn remove(&mut self, at: usize) -> Flow {
        let (key, flow) = self.slab.swap_remove(at);
        self.index.remove(&key);
        if let Some((moved, _)) = self.slab.get(at) {
            self.index.insert(*moved, at);
        }
        self.recent = [usize::MAX; 2];
        flow
    }

    /// Removes every flow, ordered by address.
    fn drain(&mut self) -> Vec<Flow> {
        self.index.clear();
        self.recent = [usize::MAX; 2];
        let mut flows: Vec<_> = self.slab.drain(..).map(|(_, flow)| flow).collect();
        flows.sort_by_key(|flow| (flow.src, flow.dst));
        flows
    }
}

/// One direction of a TCP connection.
struct Flow {
    /// Sender and receiver, for the events of this flow.
    src: SocketAddr,
    dst: SocketAddr,
    /// Sequence number of the next byte expected.
    next_seq: Option<u32>,
    /// Bytes of a message (or TLS record header) not yet complete; starts at its first byte.
    buf: Vec<u8>,
    /// Payload bytes still to pass unread (a refused message or a TLS record body).
    skip: u64,
    /// After a gap or a bad header: looking for the next plausible header.
    unsynced: bool,
    /// The connection carries TLS.
    tls: bool,
    /// Segments that arrived ahead of `next_seq`, by sequence number.
    pending: BTreeMap<u32, (u64, Vec<u8>)>,
    pending_bytes: usize,
}

impl Flow {
    const fn new(src: SocketAddr, dst: SocketAddr, tls: bool) -> Self {
        Self {
            src,
            dst,
            next_seq: None,
            buf: Vec::new(),
            skip: 0,
            unsynced: false,
            tls,
            pending: BTreeMap::new(),
            pending_bytes: 0,
        }
    }
}

/// Turns packets into [`Event`]s. I/O-free: feed it [`Packet`]s from a
/// [`crate::CaptureReader`] or from anywhere else.
///
/// Every frame gets a DoIP entity's header checks ([`DecodeOptions::policy`], TCP or UDP as
/// captured); a refused one is reported as [`Content::Malformed`] with what could still be
/// decoded, and decoding goes on: the spec's receiver would close the connection after some
/// refusals (NACK 0x00 and 0x04), but a capture shows what was sent after them too. After a
/// wrong inverse version byte the length field is not trusted and the stream resynchronises on
/// the next plausible header; after any other refusal the length field steps over the message.
pub struct Decoder {
    options: DecodeOptions,
    tcp: HeaderPolicy,
    udp: HeaderPolicy,
    flows: Flows,
    stats: Stats,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new(DecodeOptions::default())
    }
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("options", &self.options)
            .field("flows", &self.flows.slab.len())
            .field("stats", &self.stats)
            // The header policies are the options' (`DecodeOptions::policy`).
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// A decoder with these options.
    #[must_use]
    pub fn new(options: DecodeOptions) -> Self {
        let (tcp, udp) = (options.policy(Transport::Tcp), options.policy(Transport::Udp));
        Self { options, tcp, udp, flows: Flows::default(), stats: Stats::default() }
    }

    /// The counts so far.
    #[must_use]
    pub const fn stats(&self) -> Stats {
        self.stats
    }

    /// Decodes one packet, calling `sink` for everything it completes. Events are lent, as
    /// their messages borrow the packet; [`Event::into_owned`] keeps one.
    pub fn packet<F: FnMut(&Event<'_>)>(&mut self, packet: &Packet<'_>, sink: &mut F) {
        self.stats.packets += 1;
        let Some(Layers { src, dst, transport }) = slice(packet.link_type, packet.data) else {
            self.stats.skipped += 1;
            return;
        };
        let mut sink = Counting { sink, stats: &mut self.stats };
        match transport {
            link::Transport::Tcp(tcp) => {
                let (sp, dp) = (tcp.source_port(), tcp.destination_port());
                let tls = self.options.tls_ports.iter().any(|p| *p == sp || *p == dp);
                if !tls && !self.options.doip_ports.iter().any(|p| *p == sp || *p == dp) {
                    return;
                }
                sink.stats.doip_packets += 1;
                let key = FlowKey::new(src, dst, u32::from(sp) << 16 | u32::from(dp));
                let at = self.flows.position(&key, || {
                    Flow::new(SocketAddr::new(src, sp), SocketAddr::new(dst, dp), tls)
                });
                let flow = &mut self.flows.slab[at].1;
                flow.tls |= tls;
                let meta = Meta {
                    packet: packet.number,
                    time: packet.time,
                    src: flow.src,
                    dst: flow.dst,
                    transport: Transport::Tcp,
                };
                let segment =
                    Segment { seq: tcp.sequence_number(), syn: tcp.syn(), data: tcp.payload() };
                flow.segment(&segment, &meta, &self.tcp, &mut sink);
                if tcp.fin() || tcp.rst() {
                    self.flows.remove(at).finish(&meta, &self.tcp, &mut sink);
                }
            }
            link::Transport::Udp(udp) => {
                let (sp, dp) = (udp.source_port(), udp.destination_port());
                if !self.options.doip_ports.iter().any(|p| *p == sp || *p == dp) {
                    return;
                }
                sink.stats.doip_packets += 1;
                let meta = Meta {
                    packet: packet.number,
                    time: packet.time,
                    src: SocketAddr::new(src, sp),
                    dst: SocketAddr::new(dst, dp),
                    transport: Transport::Udp,
                };
                datagram(udp.payload(), &meta, &self.udp, &mut sink);
            }
            // Fragments are not reassembled (DoIP datagrams fit in one packet).
            link::Transport::Fragment => sink.stats.skipped += 1,
            link::Transport::Other => {}
        }
    }

    /// Reports every stream that ended inside a message; call once after the last packet.
    pub fn finish<F: FnMut(&Event<'_>)>(&mut self, sink: &mut F) {
        let mut sink = Counting { sink, stats: &mut self.stats };
        for mut flow in self.flows.drain() {
            let meta = Meta {
                packet: sink.stats.packets,
                time: Duration::ZERO,
                src: flow.src,
                dst: flow.dst,
                transport: Transport::Tcp,
            };
            flow.finish(&meta, &self.tcp, &mut sink);
        }
    }
}

/// Counts events on their way to the caller's sink.
struct Counting<'s, F> {
    sink: &'s mut F,
    stats: &'s mut Stats,
}

impl<F: FnMut(&Event<'_>)> Counting<'_, F> {
    /// Builds the event once and lends it to the sink: it is large, and handing it over by
    /// value cost more than parsing the message (measured on a 100 MB capture).
    fn emit(&mut self, meta: &Meta, content: Content<'_>) {
        match &content {
            Content::Message { .. } => self.stats.messages += 1,
            Content::Malformed { .. } => self.stats.malformed += 1,
            Content::Tls { .. } => self.stats.tls_records += 1,
        }
        let event = Event {
            packet: meta.packet,
            time: meta.time,
            src: meta.src,
            dst: meta.dst,
            transport: meta.transport,
            content,
        };
        (self.sink)(&event);
    }
}

/// One DoIP message per datagram, and nothing else in it. The datagram bounds the payload, so
/// it is decoded whatever is wrong with the header.
fn datagram<F: FnMut(&Event<'_>)>(
    data: &[u8],
    meta: &Meta,
    policy: &HeaderPolicy,
    sink: &mut Counting<'_, F>,
) {
    let Some((head, payload)) = data.split_first_chunk::<HEADER_LEN>() else {
        let error = Error::TruncatedHeader { length: data.len() };
        sink.emit(meta, Content::Malformed { header: None, message: None, error: error.into() });
        return;
    };
    let header = Header::from_bytes(*head);
    let content = if payload.len() == header.payload_length as usize {
        frame_content(policy, header, payload)
    } else {
        // Step 5 of the checks (NACK 0x04): the datagram is not the frame its header
        // announces, which is the more precise of the two length errors.
        let error = match policy.validate(&header) {
            Err(e) if !matches!(e, Error::InvalidPayloadLength { .. }) => e,
            _ => Error::DatagramLengthMismatch {
                payload_length: header.payload_length,
                datagram_length: data.len(),
            },
        };
        Content::Malformed { header: Some(header), message: None, error: error.into() }
    };
    sink.emit(meta, content);
}

/// The event for a header whose inverse version byte is wrong, when its payload's bounds are
/// not known (in a stream).
fn malformed(header: &Header) -> Content<'static> {
    let error = Error::IncorrectPatternFormat {
        version: header.version.value(),
        inverse_version: header.inverse_version,
    };
    Content::Malformed { header: Some(*header), message: None, error: error.into() }
}

/// One whole frame, `header` and exactly its payload, as a receiver checking headers with
/// `policy` sees it: [`Content::Message`] when it accepts the header and the payload parses
/// (in the header's version's layout, [`Message::parse_for`]); otherwise
/// [`Content::Malformed`] with the first check failed and, when the payload still parses,
/// the message.
///
/// The capture [`Decoder`] calls this for every frame it reassembles or receives, with
/// [`DecodeOptions::policy`]; use it for frames from elsewhere (`doip decode` of hex bytes).
///
/// ```
/// use doip_pcap::{Content, DecodeOptions, frame_content};
/// use doip_proto::{GenericNackCode, Header, Message, Transport};
///
/// // A diagnostic message with version 0xFF, which only vehicle identification requests use.
/// let frame = [0xff, 0x00, 0x80, 0x01, 0, 0, 0, 6, 0x0e, 0x80, 0x40, 0x10, 0x10, 0x03];
/// let (head, payload) = frame.split_first_chunk().unwrap();
/// let policy = DecodeOptions::default().policy(Transport::Tcp);
/// let Content::Malformed { message: Some(Message::DiagnosticMessage(m)), error, .. } =
///     frame_content(&policy, Header::from_bytes(*head), payload)
/// else {
///     panic!("refused, with the message still decoded")
/// };
/// assert_eq!(*m.user_data, [0x10, 0x03]);
/// let doip_pcap::StreamError::Doip(e) = error else { panic!() };
/// assert_eq!(e.nack_code(), Some(GenericNackCode::IncorrectPatternFormat));
/// assert!(e.closes_connection());
/// ```
#[must_use]
#[inline]
pub fn frame_content<'a>(policy: &HeaderPolicy, header: Header, payload: &'a [u8]) -> Content<'a> {
    let parsed = Message::parse_for(header.version, header.payload_type, payload);
    let header_ok = policy.validate(&header);
    match (header_ok, parsed) {
        (Ok(()), Ok(message)) => Content::Message { header, message },
        (Ok(()), Err(error)) => {
            Content::Malformed { header: Some(header), message: None, error: error.into() }
        }
        (Err(error), parsed) => {
            Content::Malformed { header: Some(header), message: parsed.ok(), error: error.into() }
        }
    }
}

/// The parts of a TCP segment reassembly needs.
struct Segment<'a> {
    seq: u32,
    syn: bool,
    data: &'a [u8],
}

/// How a message (or TLS record) at the front of the stream stands.
enum Framing {
    /// Not enough bytes for a header.
    NeedHeader,
    /// A header was read; the whole unit is `total` bytes.
    Unit { total: usize },
    /// The header is not valid here: resynchronise.
    Invalid(Content<'static>),
    /// A payload too large to reassemble: report and skip `skip` payload bytes.
    Skip(Content<'static>, u64),
}

impl Flow {
    fn segment<F: FnMut(&Event<'_>)>(
        &mut self,
        segment: &Segment<'_>,
        meta: &Meta,
        policy: &HeaderPolicy,
        sink: &mut Counting<'_, F>,
    ) {
        if segment.syn {
            // A new connection on this address pair: data starts after the SYN.
            *self = Self::new(self.src, self.dst, self.tls);
            self.next_seq = Some(segment.seq.wrapping_add(1));
            if segment.data.is_empty() {
                return;
            }
        }
        let next = *self.next_seq.get_or_insert(segment.seq);
        let seq = if segment.syn { segment.seq.wrapping_add(1) } else { segment.seq };
        let ahead = seq.wrapping_sub(next).cast_signed();
        if ahead > 0 {
            self.hold(seq, meta.packet, segment.data, meta, policy, sink);
            return;
        }
        // Overlap with bytes already delivered (a retransmission): keep only the new part.
        let old = ahead.unsigned_abs() as usize;
        let Some(data) = segment.data.get(old..).filter(|d| !d.is_empty()) else { return };
        self.deliver(data, meta, policy, sink);
        self.drain_pending(meta, policy, sink);
    }

    /// Keeps a segment that arrived early; when too much is held, gives up on the gap.
    fn hold<F: FnMut(&Event<'_>)>(
        &mut self,
        seq: u32,
        packet: u64,
        data: &[u8],
        meta: &Meta,
        policy: &HeaderPolicy,
        sink: &mut Counting<'_, F>,
    ) {
        if data.is_empty() {
            return;
        }
        self.pending_bytes += data.len();
        if let Some((_, old)) = self.pending.insert(seq, (packet, data.to_vec())) {
            self.pending_bytes -= old.len();
        }
        if self.pending.len() > MAX_PENDING_SEGMENTS || self.pending_bytes > MAX_PENDING_BYTES {
            self.skip_gap(meta, sink);
            self.drain_pending(meta, policy, sink);
        }
    }

    /// Declares the bytes before the first held segment lost.
    fn skip_gap<F: FnMut(&Event<'_>)>(&mut self, meta: &Meta, sink: &mut Counting<'_, F>) {
        let (Some(next), Some((&first, _))) = (self.next_seq, self.pending.first_key_value())
        else {
            return;
        };
        let missing = first.wrapping_sub(next);
        let error = StreamError::Gap { missing };
        sink.emit(meta, Content::Malformed { header: None, message: None, error });
        self.buf.clear();
        self.skip = 0;
        self.unsynced = !self.tls;
        self.next_seq = Some(first);
    }

    /// Delivers held segments that are now in order.
    fn drain_pending<F: FnMut(&Event<'_>)>(
        &mut self,
        meta: &Meta,
        policy: &HeaderPolicy,
        sink: &mut Counting<'_, F>,
    ) {
        while let (Some(next), Some(entry)) = (self.next_seq, self.pending.first_entry()) {
            let ahead = entry.key().wrapping_sub(next).cast_signed();
            if ahead > 0 {
                return;
            }
            let (packet, data) = entry.remove();
            self.pending_bytes -= data.len();
            // Events go to the packet that completed them; a held segment completes what it
            // carries when it is released, so it keeps its own number.
            if let Some(data) = data.get(ahead.unsigned_abs() as usize..) {
                self.deliver(
                    data,
                    &Meta { packet: packet.max(meta.packet), ..*meta },
                    policy,
                    sink,
                );
            }
        }
    }

    /// Bytes in stream order, at `next_seq`.
    fn deliver<F: FnMut(&Event<'_>)>(
        &mut self,
        mut data: &[u8],
        meta: &Meta,
        policy: &HeaderPolicy,
        sink: &mut Counting<'_, F>,
    ) {
        self.next_seq = self.next_seq.map(|n| n.wrapping_add(data.len() as u32));
        while !data.is_empty() {
            if self.skip > 0 {
                let n = data.len().min(usize::try_from(self.skip).unwrap_or(usize::MAX));
                self.skip -= n as u64;
                data = &data[n..];
                continue;
            }
            if self.unsynced {
                let Some(at) = find_header(data, policy) else {
                    let error = StreamError::Unsynchronised { skipped: data.len() };
                    sink.emit(meta, Content::Malformed { header: None, message: None, error });
                    return;
                };
                self.unsynced = false;
                if at > 0 {
                    let error = StreamError::Unsynchronised { skipped: at };
                    sink.emit(meta, Content::Malformed { header: None, message: None, error });
                }
                data = &data[at..];
            }
            if self.buf.is_empty() {
                // Fast path: whole units straight from the segment, no copy.
                match framing(&mut self.tls, data, policy) {
                    Framing::Unit { total } if total <= data.len() => {
                        unit(&data[..total], meta, policy, sink);
                        data = &data[total..];
                    }
                    Framing::NeedHeader | Framing::Unit { .. } => {
                        self.buf.extend_from_slice(data);
                        return;
                    }
                    Framing::Invalid(content) => {
                        sink.emit(meta, content);
                        self.unsynced = true;
                        data = &data[1..];
                    }
                    Framing::Skip(content, skip) => {
                        sink.emit(meta, content);
                        self.skip = skip;
                        data = &data[data.len().min(self.header_len())..];
                    }
                }
                continue;
            }
            // Complete the buffered unit: its header first, then its body.
            let want = match framing(&mut self.tls, &self.buf, policy) {
                Framing::NeedHeader => self.header_len(),
                Framing::Unit { total } => total,
                Framing::Invalid(content) => {
                    sink.emit(meta, content);
                    self.buf.clear();
                    self.unsynced = true;
                    continue;
                }
                Framing::Skip(content, skip) => {
                    sink.emit(meta, content);
                    self.buf.clear();
                    self.skip = skip;
                    continue;
                }
            };
            let n = (want - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            if let Framing::Unit { total } = framing(&mut self.tls, &self.buf, policy)
                && total == self.buf.len()
            {
                unit(&self.buf, meta, policy, sink);
                self.buf.clear();
            }
        }
    }

    const fn header_len(&self) -> usize {
        if self.tls { TLS_HEADER_LEN } else { HEADER_LEN }
    }

    /// The connection (or capture) ended: report a message cut short.
    fn finish<F: FnMut(&Event<'_>)>(
        &mut self,
        meta: &Meta,
        policy: &HeaderPolicy,
        sink: &mut Counting<'_, F>,
    ) {
        // Nothing more arrives: whatever is held is reported whole or as cut short.
        let unlimited = policy.clone().with_max_payload_length(u32::MAX);
        if !self.pending.is_empty() {
            self.skip_gap(meta, sink);
            self.drain_pending(meta, &unlimited, sink);
        }
        if self.buf.is_empty() {
            return;
        }
        let need = match framing(&mut self.tls, &self.buf, &unlimited) {
            Framing::Unit { total } => total,
            _ => self.header_len(),
        };
        let header = self.buf.first_chunk::<HEADER_LEN>().map(|h| Header::from_bytes(*h));
        let error = StreamError::Truncated { have: self.buf.len(), need };
        sink.emit(
            meta,
            Content::Malformed { header: header.filter(|_| !self.tls), message: None, error },
        );
        self.buf.clear();
    }
}

/// Reads the unit header at the front of `data`.
fn framing(tls: &mut bool, data: &[u8], policy: &HeaderPolicy) -> Framing {
    if !*tls && is_tls_record_start(data) {
        // TLS on a plain DoIP port: a DoIP header never starts like this.
        *tls = true;
    }
    if *tls {
        let Some(h) = data.first_chunk::<TLS_HEADER_LEN>() else { return Framing::NeedHeader };
        let length = u16::from_be_bytes([h[3], h[4]]);
        return Framing::Skip(
            Content::Tls { content_type: h[0], version: u16::from_be_bytes([h[1], h[2]]), length },
            u64::from(length),
        );
    }
    let Some(head) = data.first_chunk::<HEADER_LEN>() else { return Framing::NeedHeader };
    let header = Header::from_bytes(*head);
    if !header.has_valid_pattern() {
        return Framing::Invalid(malformed(&header));
    }
    if header.payload_length > policy.max_payload_length() {
        // Refused at least as too large; an earlier check may fail first.
        let error = policy.validate(&header).err().unwrap_or(Error::MessageTooLarge {
            payload_type: header.payload_type,
            length: header.payload_length,
            max: policy.max_payload_length(),
        });
        return Framing::Skip(
            Content::Malformed { header: Some(header), message: None, error: error.into() },
            u64::from(header.payload_length),
        );
    }
    Framing::Unit { total: HEADER_LEN + header.payload_length as usize }
}

/// A complete DoIP message.
fn unit<F: FnMut(&Event<'_>)>(
    unit: &[u8],
    meta: &Meta,
    policy: &HeaderPolicy,
    sink: &mut Counting<'_, F>,
) {
    let Some((head, payload)) = unit.split_first_chunk::<HEADER_LEN>() else { return };
    sink.emit(meta, frame_content(policy, Header::from_bytes(*head), payload));
}

/// A TLS record header: content type, version, length.
const TLS_HEADER_LEN: usize = 5;

/// Whether `data` starts like a TLS record (content type 20–24, major version 3).
fn is_tls_record_start(data: &[u8]) -> bool {
    matches!(data, [20..=24, 3, ..])
}

/// The first offset in `data` where a plausible DoIP header starts: one `policy` accepts
/// (valid pattern, a version allowed for its payload type, a named type carried on this
/// transport with a length it allows, within the size limit).
fn find_header(data: &[u8], policy: &HeaderPolicy) -> Option<usize> {
    data.windows(HEADER_LEN).position(|w| {
        let Some(head) = w.first_chunk::<HEADER_LEN>() else { return false };
        let h = Header::from_bytes(*head);
        h.payload_type.is_named() && policy.validate(&h).is_ok()
    })
}
