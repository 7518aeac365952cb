//! Stream (TCP) and datagram (UDP) decoders.
//!
//! The stream decoder is sans-I/O in the `rustls` style: the caller pushes bytes in whatever
//! pieces the socket gave and pulls whole frames out. Its buffer never holds more than one
//! maximum-size frame ([`StreamDecoder::buffer_limit`]), whatever a peer announces: an
//! oversized frame is reported at once and its payload consumed without being stored.

use alloc::vec::Vec;

use crate::Error;
use crate::header::{HEADER_LEN, Header, HeaderPolicy};
use crate::payload::{Frame, Message};

/// Incremental decoder for a TCP byte stream: bytes in (any split), whole frames out.
///
/// ```
/// use doip_proto::{HeaderPolicy, Message, StreamDecoder};
///
/// let mut decoder = StreamDecoder::new(HeaderPolicy::tcp());
/// // An alive check request arrives one byte at a time.
/// for b in [0x02, 0xfd, 0x00, 0x07, 0, 0, 0, 0] {
///     assert_eq!(decoder.push(&[b]), 1);
/// }
/// let frame = decoder.next_frame().unwrap()?;
/// assert!(matches!(frame.message, Message::AliveCheckRequest(_)));
/// assert!(decoder.next_frame().is_none());
/// # Ok::<(), doip_proto::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct StreamDecoder {
    policy: HeaderPolicy,
    /// Initialised storage; bytes `start..end` are buffered and not yet decoded.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Payload bytes of a refused message still to be dropped; they start at `start`.
    skip: u32,
    /// Set after an error that closes the connection; nothing is decoded any more.
    failed: bool,
    /// What the next [`StreamDecoder::read_from`] asks for: small at first, doubled after
    /// each read that fills it, so idle and slow connections hold little memory.
    #[cfg(feature = "std")]
    read_hint: usize,
}

/// The most room [`StreamDecoder::read_from`] asks for in one read.
#[cfg(feature = "std")]
const READ_CHUNK: usize = 64 * 1024;
/// The room a connection's first read asks for.
#[cfg(feature = "std")]
const FIRST_READ: usize = 1024;

impl StreamDecoder {
    /// A decoder checking headers against `policy` (its transport should be TCP).
    #[must_use]
    pub const fn new(policy: HeaderPolicy) -> Self {
        Self {
            policy,
            buf: Vec::new(),
            start: 0,
            end: 0,
            skip: 0,
            failed: false,
            #[cfg(feature = "std")]
            read_hint: FIRST_READ,
        }
    }

    /// The policy headers are checked against.
    #[must_use]
    pub const fn policy(&self) -> &HeaderPolicy {
        &self.policy
    }

    /// The most bytes the decoder ever buffers: one header plus the largest payload allowed.
    #[must_use]
    #[inline]
    pub fn buffer_limit(&self) -> usize {
        HEADER_LEN.saturating_add(self.policy.max_payload_length() as usize)
    }

    /// Bytes buffered and not yet returned as frames.
    #[must_use]
    pub const fn buffered_len(&self) -> usize {
        self.end - self.start
    }

    /// Bytes of memory the buffer holds now (never above [`StreamDecoder::buffer_limit`]).
    #[must_use]
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Whether an error that closes the connection was reported; the decoder then drops
    /// everything pushed until [`StreamDecoder::reset`].
    #[must_use]
    pub const fn is_failed(&self) -> bool {
        self.failed
    }

    /// Forgets all buffered bytes and any failure, as for a new connection.
    pub fn reset(&mut self) {
        self.start = 0;
        self.end = 0;
        self.skip = 0;
        self.failed = false;
    }

    /// Takes as many bytes from the front of `data` as the buffer limit allows and returns
    /// how many it took. When it takes fewer than `data.len()`, pull frames with
    /// [`StreamDecoder::next_frame`] and push the rest again. After a closing error every
    /// byte is taken and dropped.
    #[must_use = "bytes beyond the returned count were not taken"]
    #[inline]
    pub fn push(&mut self, data: &[u8]) -> usize {
        if self.failed {
            return data.len();
        }
        // A refused payload is dropped before it reaches the buffer.
        self.discard_skipped();
        let skipped = (self.skip as usize).min(data.len());
        self.skip -= skipped as u32;
        let data = &data[skipped..];
        let room = self.make_room(data.len());
        let n = room.len();
        room.copy_from_slice(&data[..n]);
        self.end += n;
        skipped + n
    }

    /// How many bytes the next [`StreamDecoder::read_from`] asks the reader for. A read that
    /// returns fewer has drained the reader for now.
    #[cfg(feature = "std")]
    #[must_use]
    pub fn read_size(&self) -> usize {
        self.read_hint.min(self.buffer_limit() - self.buffered_len())
    }

    /// Reads once from `reader` straight into the buffer (no intermediate copy) and returns
    /// the number of bytes read; `Ok(0)` means end of stream.
    ///
    /// # Errors
    /// The reader's error, or [`std::io::ErrorKind::OutOfMemory`] when the buffer is full of
    /// frames not yet pulled.
    #[cfg(feature = "std")]
    pub fn read_from<R: std::io::Read + ?Sized>(
        &mut self,
        reader: &mut R,
    ) -> std::io::Result<usize> {
        if self.failed {
            self.start = self.end;
        }
        self.discard_skipped();
        let hint = self.read_hint;
        let room = self.make_room(hint);
        if room.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::OutOfMemory,
                "DoIP stream decoder buffer full: pull frames before reading more",
            ));
        }
        let asked = room.len();
        let n = reader.read(room)?;
        self.end += n;
        if n == asked {
            self.read_hint = (hint * 2).min(READ_CHUNK);
        }
        Ok(n)
    }

    /// Drops buffered bytes of a refused payload.
    #[inline]
    fn discard_skipped(&mut self) {
        let n = (self.skip as usize).min(self.end - self.start);
        self.start += n;
        self.skip -= n as u32;
    }

    /// Free space of up to `want` bytes after the buffered data, within the buffer limit:
    /// compacts, then grows, only when needed.
    fn make_room(&mut self, want: usize) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        let buffered = self.end - self.start;
        let want = want.min(self.buffer_limit() - buffered);
        if self.buf.len() - self.end < want {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.start = 0;
                self.end = buffered;
            }
            if self.buf.len() - self.end < want {
                let grown = (self.buf.len() * 2).min(self.buffer_limit()).max(self.end + want);
                self.buf.reserve_exact(grown - self.buf.len());
                self.buf.resize(grown, 0);
            }
        }
        &mut self.buf[self.end..self.end + want]
    }

    /// The next whole frame, `None` when more bytes are needed, or the error for a refused
    /// header. After an error whose [`Error::closes_connection`] is true, nothing more is
    /// decoded; after others the refused payload is skipped and decoding goes on.
    #[allow(clippy::should_implement_trait)] // frames borrow the decoder: not an Iterator
    #[inline]
    pub fn next_frame(&mut self) -> Option<Result<Frame<'_>, Error>> {
        if self.failed {
            self.start = self.end;
            return None;
        }
        self.discard_skipped();
        let head: [u8; HEADER_LEN] =
            self.buf.get(self.start..self.end)?.get(..HEADER_LEN)?.try_into().ok()?;
        let header = Header::from_bytes(head);
        if let Err(e) = self.policy.validate(&header) {
            self.refuse(&header, &e);
            return Some(Err(e));
        }
        let total = HEADER_LEN + header.payload_length as usize;
        if self.end - self.start < total {
            return None;
        }
        let payload = self.start + HEADER_LEN..self.start + total;
        self.start += total;
        match Message::parse_for(header.version, header.payload_type, &self.buf[payload]) {
            Ok(message) => Some(Ok(Frame { header, message })),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }

    /// Consumes a refused frame's header and as much of its payload as is buffered, or
    /// everything when the error closes the connection.
    fn refuse(&mut self, header: &Header, error: &Error) {
        if error.closes_connection() {
            self.failed = true;
            self.start = self.end;
            return;
        }
        self.start += HEADER_LEN;
        self.skip = header.payload_length;
        self.discard_skipped();
    }
}

/// Decoder for UDP datagrams: exactly one DoIP message per datagram.
///
/// ```
/// use doip_proto::{DatagramDecoder, HeaderPolicy, Message};
///
/// let decoder = DatagramDecoder::new(HeaderPolicy::udp());
/// let frame = decoder.decode(&[0xff, 0x00, 0x00, 0x01, 0, 0, 0, 0])?;
/// assert!(matches!(frame.message, Message::VehicleIdentificationRequest(_)));
/// # Ok::<(), doip_proto::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct DatagramDecoder {
    policy: HeaderPolicy,
}

impl Default for DatagramDecoder {
    /// A decoder with [`HeaderPolicy::udp`].
    fn default() -> Self {
        Self::new(HeaderPolicy::udp())
    }
}

impl DatagramDecoder {
    /// A decoder checking headers against `policy` (its transport should be UDP).
    #[must_use]
    pub const fn new(policy: HeaderPolicy) -> Self {
        Self { policy }
    }

    /// The policy headers are checked against.
    #[must_use]
    pub const fn policy(&self) -> &HeaderPolicy {
        &self.policy
    }

    /// Decodes one datagram, applying the header checks of PROTOCOL.md §1 and requiring the
    /// datagram to be exactly header plus payload.
    ///
    /// # Errors
    /// The refused check; [`Error::nack_code`] names the NACK to answer.
    pub fn decode<'a>(&self, datagram: &'a [u8]) -> Result<Frame<'a>, Error> {
        let head: [u8; HEADER_LEN] = datagram
            .get(..HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(Error::TruncatedHeader { length: datagram.len() })?;
        let header = Header::from_bytes(head);
        self.policy.validate(&header)?;
        let payload = &datagram[HEADER_LEN..];
        if payload.len() != header.payload_length as usize {
            return Err(Error::DatagramLengthMismatch {
                payload_length: header.payload_length,
                datagram_length: datagram.len(),
            });
        }
        let message = Message::parse_for(header.version, header.payload_type, payload)?;
        Ok(Frame { header, message })
    }
}

#[cfg(test)]
mod tests;
