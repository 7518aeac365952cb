//! The socket-free state of one DoIP TCP connection, in either role.
//!
//! Like `quinn-proto`, this knows nothing of sockets or clocks: the driver feeds it received
//! bytes ([`Connection::read_from`]), writes what it hands out ([`Connection::pending_output`]),
//! and drains its events. The spec duties that need no caller live here: a tester answers
//! every alive check request at once, and a refused header is answered with the generic NACK
//! the spec names, closing when the spec says close.
//!
//! Output is bounded under any peer. What the caller queues is limited by `max_queued_bytes`
//! ([`Error::QueueFull`] beyond it). The connection's own answers are not refused, since the
//! spec requires them; instead, while [`Connection::ANSWER_LIMIT`] bytes of them wait to be
//! written, [`Connection::wants_read`] is false and the driver stops reading the socket, so a
//! peer that sends requests without reading the answers is held back by TCP flow control.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;

use doip_proto::{
    AliveCheckResponse, Frame, GenericNack, GenericNackCode, HeaderPolicy, LogicalAddress, Message,
    ProtocolVersion, StreamDecoder,
};

use crate::{Error, Result};

/// Identifies a message the caller queued, so its fate can be reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SendId(pub u64);

/// Which end of the connection we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The tester (client): answers alive check requests automatically.
    Tester,
    /// The DoIP entity (server).
    Entity,
}

/// Something the connection tells its owner.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// A whole message arrived.
    Frame(Frame<'static>),
    /// The peer sent a header we refused; the NACK is queued (and the connection closes after
    /// it when [`doip_proto::Error::closes_connection`] says so).
    Refused(doip_proto::Error),
    /// The peer refused one of our messages with a generic header NACK.
    NackReceived(GenericNackCode),
    /// An alive check request arrived and was answered.
    AliveCheckAnswered,
}

/// A message not yet fully written: its id and bytes. Entries without an id hold the
/// connection's own answers, several of them back to back.
#[derive(Debug)]
pub struct Outgoing {
    /// The caller's id, or `None` for answers the connection generated itself.
    pub id: Option<SendId>,
    /// The encoded frame.
    pub bytes: Vec<u8>,
}

/// One DoIP TCP connection's protocol state.
#[derive(Debug)]
pub struct Connection {
    peer: SocketAddr,
    role: Role,
    tester_address: LogicalAddress,
    version: ProtocolVersion,
    decoder: StreamDecoder,
    queue: VecDeque<Outgoing>,
    /// Bytes of `queue.front()` already written.
    written: usize,
    queued_bytes: usize,
    max_queued_bytes: usize,
    /// Unwritten bytes of the connection's own answers (queue entries without an id).
    answer_bytes: usize,
    events: VecDeque<ConnectionEvent>,
    /// The refusal that requires closing, once one happened.
    close_reason: Option<doip_proto::Error>,
    next_id: u64,
}

/// Answers of the connection are appended to one queue entry until it holds this many
/// bytes, so a burst of alive checks is answered in a few large writes, not one per answer,
/// while written entries are still freed as they go.
const ANSWER_CHUNK: usize = 16 * 1024;

impl Connection {
    /// While this many bytes (64 KiB) or more of the connection's own answers (alive check
    /// responses, generic NACKs) wait to be written, [`Connection::wants_read`] is false.
    ///
    /// One read's worth of requests more may be answered before the driver sees it: at most
    /// this plus the answers to one read (a read is at most 64 KiB: 8192 alive check
    /// requests, 80 KiB of answers) is ever queued.
    pub const ANSWER_LIMIT: usize = 64 * 1024;

    /// A connection to `peer` speaking `version`, checking received headers with `policy`;
    /// `max_queued_bytes` bounds what callers may queue before [`Error::QueueFull`].
    #[must_use]
    pub fn new(
        peer: SocketAddr,
        role: Role,
        version: ProtocolVersion,
        policy: HeaderPolicy,
        max_queued_bytes: usize,
    ) -> Self {
        Self {
            peer,
            role,
            tester_address: LogicalAddress::DEFAULT_TESTER,
            version,
            decoder: StreamDecoder::new(policy),
            queue: VecDeque::new(),
            written: 0,
            queued_bytes: 0,
            max_queued_bytes,
            answer_bytes: 0,
            events: VecDeque::new(),
            close_reason: None,
            next_id: 1,
        }
    }

    /// The peer's address.
    #[must_use]
    pub const fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The protocol version messages are sent with.
    #[must_use]
    pub const fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The source address a tester answers alive checks with: the one it activated routing
    /// with (default 0x0E00).
    pub fn set_tester_address(&mut self, address: LogicalAddress) {
        self.tester_address = address;
    }

    /// Whether the driver should read more from the peer: false while
    /// [`Connection::ANSWER_LIMIT`] bytes or more of the connection's own answers wait to be
    /// written (the peer does not read them). Reading more would only queue more answers;
    /// leaving the bytes in the socket makes TCP hold the peer back instead. It turns true
    /// again as [`Connection::consume_output`] drains the answers. Messages the caller queued
    /// do not count: they are bounded by `max_queued_bytes`, and pausing reads for them could
    /// deadlock two ends that send each other large messages at once.
    #[must_use]
    pub const fn wants_read(&self) -> bool {
        self.answer_bytes < Self::ANSWER_LIMIT
    }

    /// Bytes queued and not yet written, the connection's own answers included.
    #[must_use]
    pub const fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// The bound on what callers may queue (see [`Connection::send`]).
    #[must_use]
    pub const fn max_queued_bytes(&self) -> usize {
        self.max_queued_bytes
    }

    /// Reads once from `reader` into the decoder and processes every whole frame.
    /// Returns the bytes read; `Ok(0)` is end of stream. Call it only while
    /// [`Connection::wants_read`] is true, or answers queue without bound.
    ///
    /// # Errors
    /// The reader's error.
    pub fn read_from<R: io::Read + ?Sized>(&mut self, reader: &mut R) -> io::Result<usize> {
        let n = self.decoder.read_from(reader)?;
        self.process();
        Ok(n)
    }

    /// How many bytes the next [`Connection::read_from`] asks for; fewer back means the
    /// reader is drained for now.
    #[must_use]
    pub fn read_size(&self) -> usize {
        self.decoder.read_size()
    }

    /// Feeds `data` (any split of the stream) and processes every whole frame.
    pub fn receive(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            data = &data[self.decoder.push(data)..];
            self.process();
        }
    }

    fn process(&mut self) {
        while let Some(result) = self.decoder.next_frame() {
            match result {
                Ok(frame) => match (&frame.message, self.role) {
                    (Message::AliveCheckRequest(_), Role::Tester) => {
                        let answer = AliveCheckResponse::new(self.tester_address);
                        self.push_answer(&answer.into());
                        self.events.push_back(ConnectionEvent::AliveCheckAnswered);
                    }
                    (Message::GenericNack(nack), _) => {
                        self.events.push_back(ConnectionEvent::NackReceived(nack.code));
                    }
                    _ => self.events.push_back(ConnectionEvent::Frame(frame.into_owned())),
                },
                Err(e) => {
                    if let Some(code) = e.nack_code() {
                        self.push_answer(&GenericNack::new(code).into());
                    }
                    if e.closes_connection() && self.close_reason.is_none() {
                        self.close_reason = Some(e.clone());
                    }
                    self.events.push_back(ConnectionEvent::Refused(e));
                }
            }
        }
    }

    /// Queues `message` and returns its id.
    ///
    /// # Errors
    /// [`Error::QueueFull`] when the queue already holds `max_queued_bytes`;
    /// [`Error::Encode`] when the message cannot be encoded;
    /// [`Error::NotConnected`] once the connection is closing.
    pub fn send(&mut self, message: &Message<'_>) -> Result<SendId> {
        let outgoing = self.encode(message)?;
        Ok(self.push(outgoing))
    }

    /// Queues bytes exactly as given, bypassing encoding: for fault injection (malformed
    /// headers, hostile lengths) and for relaying captured frames.
    ///
    /// # Errors
    /// As [`Connection::send`].
    pub fn send_raw(&mut self, bytes: Vec<u8>) -> Result<SendId> {
        let outgoing = self.raw(bytes)?;
        Ok(self.push(outgoing))
    }

    /// Wraps raw bytes under a new id without queuing them (see [`Connection::push`]).
    ///
    /// # Errors
    /// As [`Connection::send`].
    pub fn raw(&mut self, bytes: Vec<u8>) -> Result<Outgoing> {
        Ok(Outgoing { id: Some(self.admit()?), bytes })
    }

    /// Queues a message made by [`Connection::encode`] or [`Connection::raw`] (or taken
    /// from another connection) behind what is queued; returns its id.
    pub fn push(&mut self, outgoing: Outgoing) -> SendId {
        let id = outgoing.id.unwrap_or(SendId(0));
        self.queued_bytes += outgoing.bytes.len();
        if outgoing.id.is_none() {
            self.answer_bytes += outgoing.bytes.len();
        }
        self.queue.push_back(outgoing);
        id
    }

    /// Queues a message the connection sends on its own, appended to the last queued entry
    /// when that is an answer too and still small (see [`ANSWER_CHUNK`]).
    fn push_answer(&mut self, message: &Message<'_>) {
        let append =
            self.queue.back().is_some_and(|b| b.id.is_none() && b.bytes.len() < ANSWER_CHUNK);
        if !append {
            self.queue.push_back(Outgoing { id: None, bytes: Vec::new() });
        }
        let Some(back) = self.queue.back_mut() else { return };
        // Answers are a few bytes: encoding them cannot fail.
        let n = message.encode(self.version, &mut back.bytes).unwrap_or(0);
        if back.bytes.is_empty() {
            self.queue.pop_back();
        }
        self.queued_bytes += n;
        self.answer_bytes += n;
    }

    /// Checks that the caller may queue more and allocates the next id.
    fn admit(&mut self) -> Result<SendId> {
        if self.close_reason.is_some() {
            return Err(Error::NotConnected { peer: self.peer });
        }
        if self.queued_bytes >= self.max_queued_bytes {
            return Err(Error::QueueFull { peer: self.peer, queued: self.queued_bytes });
        }
        let id = SendId(self.next_id);
        self.next_id += 1;
        Ok(id)
    }

    /// Encodes `message` under a new id without queuing it (for messages held elsewhere
    /// until they may be sent, see [`Connection::requeue`]).
    ///
    /// # Errors
    /// As [`Connection::send`].
    pub fn encode(&mut self, message: &Message<'_>) -> Result<Outgoing> {
        let bytes = message.to_bytes(self.version).map_err(Error::Encode)?;
        Ok(Outgoing { id: Some(self.admit()?), bytes })
    }

    /// The unwritten bytes of the oldest queued message, if any.
    #[must_use]
    pub fn pending_output(&self) -> Option<&[u8]> {
        self.queue.front().map(|o| &o.bytes[self.written..])
    }

    /// Fills `slices` with the unwritten output, oldest first (the front message's unwritten
    /// part, then whole messages), for one vectored write; returns how many were filled.
    pub fn pending_slices<'a>(&'a self, slices: &mut [io::IoSlice<'a>]) -> usize {
        let mut filled = 0;
        for (slot, (i, o)) in slices.iter_mut().zip(self.queue.iter().enumerate()) {
            let start = if i == 0 { self.written } else { 0 };
            *slot = io::IoSlice::new(&o.bytes[start..]);
            filled += 1;
        }
        filled
    }

    /// Marks `n` bytes of the queued output as written, oldest first (across messages, as a
    /// vectored write may take several); more than is queued is ignored.
    pub fn consume_output(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.queue.front() else { return };
            let taken = n.min(front.bytes.len() - self.written);
            n -= taken;
            self.written += taken;
            self.queued_bytes -= taken;
            if front.id.is_none() {
                self.answer_bytes -= taken;
            }
            if self.written >= front.bytes.len() {
                self.queue.pop_front();
                self.written = 0;
            }
        }
    }

    /// Whether anything waits to be written.
    #[must_use]
    pub fn has_pending_output(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Takes every caller message not yet completely written (a partly written one whole,
    /// since the peer discards a partial frame with the connection). The connection's own
    /// answers are dropped: they belong to this connection only.
    pub fn take_unsent(&mut self) -> Vec<Outgoing> {
        self.written = 0;
        self.queued_bytes = 0;
        self.answer_bytes = 0;
        self.queue.drain(..).filter(|o| o.id.is_some()).collect()
    }

    /// Queues messages taken from another connection with [`Connection::take_unsent`],
    /// behind anything queued already (e.g. a new routing activation).
    pub fn requeue(&mut self, unsent: Vec<Outgoing>) {
        for o in unsent {
            self.push(o);
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<ConnectionEvent> {
        self.events.pop_front()
    }

    /// Whether the spec requires closing and everything (the NACK) has been written.
    #[must_use]
    pub fn wants_close(&self) -> bool {
        self.close_reason.is_some() && self.queue.is_empty()
    }

    /// The refused header that requires closing this connection, if one arrived.
    #[must_use]
    pub const fn close_reason(&self) -> Option<&doip_proto::Error> {
        self.close_reason.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use doip_proto::{DiagnosticMessage, PayloadType};

    fn tester() -> Connection {
        Connection::new(
            "127.0.0.1:13400".parse().unwrap(),
            Role::Tester,
            ProtocolVersion::Iso2012,
            HeaderPolicy::tcp(),
            1024,
        )
    }

    fn drain(c: &mut Connection) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(p) = c.pending_output() {
            let p = p.to_vec();
            out.extend_from_slice(&p);
            c.consume_output(p.len());
        }
        out
    }

    #[test]
    fn tester_answers_alive_checks_with_its_address() {
        let mut c = tester();
        c.set_tester_address(LogicalAddress(0x0E80));
        c.receive(&[0x02, 0xfd, 0x00, 0x07, 0, 0, 0]);
        assert!(c.pending_output().is_none());
        c.receive(&[0]);
        assert!(matches!(c.poll_event(), Some(ConnectionEvent::AliveCheckAnswered)));
        assert_eq!(drain(&mut c), [0x02, 0xfd, 0x00, 0x08, 0, 0, 0, 2, 0x0e, 0x80]);
    }

    #[test]
    fn refused_header_is_nacked_and_closes_when_the_spec_says() {
        let mut c = tester();
        c.receive(&[0x02, 0xfd, 0x12, 0x34, 0, 0, 0, 1, 0xaa]);
        assert!(matches!(c.poll_event(), Some(ConnectionEvent::Refused(_))));
        assert_eq!(drain(&mut c), [0x02, 0xfd, 0, 0, 0, 0, 0, 1, 0x01]);
        assert!(!c.wants_close());
        c.receive(&[0x03, 0xfd, 0x80, 0x01, 0, 0, 0, 4]);
        assert!(matches!(c.poll_event(), Some(ConnectionEvent::Refused(_))));
        assert!(!c.wants_close(), "the NACK is written first");
        assert_eq!(drain(&mut c), [0x02, 0xfd, 0, 0, 0, 0, 0, 1, 0x00]);
        assert!(c.wants_close());
        assert!(c.send(&doip_proto::AliveCheckRequest.into()).is_err());
    }

    #[test]
    fn unsent_messages_keep_their_ids_and_order() {
        let mut c = tester();
        let m: Message<'_> =
            DiagnosticMessage::new(LogicalAddress(0x0E00), LogicalAddress(0x4010), vec![0x3e, 0])
                .into();
        let a = c.send(&m).unwrap();
        let b = c.send(&m).unwrap();
        c.receive(&[0x02, 0xfd, 0x00, 0x07, 0, 0, 0, 0]); // an alive check answer in between
        c.consume_output(5); // part of `a` written
        let unsent = c.take_unsent();
        assert_eq!(unsent.iter().map(|o| o.id).collect::<Vec<_>>(), [Some(a), Some(b)]);
        assert_eq!(unsent[0].bytes.len(), 14, "a partly written message is resent whole");
        let mut fresh = tester();
        fresh.requeue(unsent);
        let out = drain(&mut fresh);
        assert_eq!(out.len(), 28);
        let (frame, _) = Frame::parse(&out).unwrap();
        assert_eq!(frame.header.payload_type, PayloadType::DiagnosticMessage);
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut c = tester();
        let big: Message<'_> =
            DiagnosticMessage::new(LogicalAddress(0x0E00), LogicalAddress(0x4010), vec![0; 2000])
                .into();
        assert!(c.send(&big).is_ok());
        assert!(matches!(c.send(&big), Err(Error::QueueFull { .. })));
    }

    #[test]
    fn unwritten_answers_pause_reading_until_they_drain() {
        let mut c = tester();
        let requests = [0x02, 0xfd, 0x00, 0x07, 0, 0, 0, 0].repeat(10_000);
        c.receive(&requests);
        assert!(!c.wants_read(), "100,000 bytes of answers wait");
        assert_eq!(c.queued_bytes(), 100_000);
        let first = c.pending_output().unwrap().len();
        assert!(first > 10, "answers are written in chunks, not one by one ({first} bytes)");
        let mut drained = Vec::new();
        while let Some(p) = c.pending_output() {
            let n = p.len().min(4096); // a socket taking part of it
            drained.extend_from_slice(&p[..n]);
            c.consume_output(n);
            assert_eq!(c.wants_read(), c.queued_bytes() < Connection::ANSWER_LIMIT);
        }
        assert_eq!(drained.len(), 100_000);
        assert!(drained.chunks(10).all(|a| a == [0x02, 0xfd, 0x00, 0x08, 0, 0, 0, 2, 0x0e, 0x00]));
        assert!(c.wants_read());
        assert_eq!(std::iter::from_fn(|| c.poll_event()).count(), 10_000);
    }

    #[test]
    fn caller_messages_do_not_pause_reading() {
        let mut c = Connection::new(
            "127.0.0.1:13400".parse().unwrap(),
            Role::Tester,
            ProtocolVersion::Iso2012,
            HeaderPolicy::tcp(),
            1 << 20,
        );
        let big: Message<'_> = DiagnosticMessage::new(
            LogicalAddress(0x0E00),
            LogicalAddress(0x4010),
            vec![0; 200_000],
        )
        .into();
        c.send(&big).unwrap();
        assert!(c.wants_read());
        // Answers queue behind it and count on their own.
        c.receive(&[0x02, 0xfd, 0x00, 0x07, 0, 0, 0, 0].repeat(7000));
        assert!(!c.wants_read());
        let unsent = c.take_unsent();
        assert_eq!(unsent.len(), 1, "answers are not carried to another connection");
        assert!(c.wants_read());
    }
}
