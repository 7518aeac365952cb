//! UDP endpoints of the loop: receiving datagrams (a bounded number per poll) and sending,
//! with a queue for datagrams the socket could not take at once.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;

use doip_proto::{DatagramDecoder, GenericNack, Message};
use mio::net::UdpSocket;

use super::{DATAGRAMS_PER_POLL, EventLoop};
use crate::udp::UdpOptions;
use crate::{Error, Event, Handle, Result};

/// One UDP socket of the loop.
pub(super) struct UdpEndpoint {
    pub(super) socket: UdpSocket,
    decoder: DatagramDecoder,
    pub(super) options: UdpOptions,
    queue: SendQueue,
}

/// Datagrams waiting for the socket to take them, oldest first, bounded in bytes.
#[derive(Debug)]
struct SendQueue {
    datagrams: VecDeque<(SocketAddr, Vec<u8>)>,
    bytes: usize,
    limit: usize,
}

impl SendQueue {
    const fn new(limit: usize) -> Self {
        Self { datagrams: VecDeque::new(), bytes: 0, limit }
    }

    /// Queues a datagram while less than the limit is queued.
    fn push(&mut self, to: SocketAddr, datagram: Vec<u8>) -> Result<()> {
        if self.bytes >= self.limit {
            return Err(Error::QueueFull { peer: to, queued: self.bytes });
        }
        self.bytes += datagram.len();
        self.datagrams.push_back((to, datagram));
        Ok(())
    }

    fn front(&self) -> Option<&(SocketAddr, Vec<u8>)> {
        self.datagrams.front()
    }

    fn pop(&mut self) {
        if let Some((_, datagram)) = self.datagrams.pop_front() {
            self.bytes -= datagram.len();
        }
    }

    fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }
}

impl UdpEndpoint {
    pub(super) fn new(socket: UdpSocket, options: UdpOptions) -> Self {
        let decoder = DatagramDecoder::new(options.policy.clone());
        let queue = SendQueue::new(options.max_queued_bytes);
        Self { socket, decoder, options, queue }
    }

    /// Sends `bytes` to `to` now, or queues them behind datagrams already waiting.
    pub(super) fn send_to(&mut self, to: SocketAddr, bytes: Vec<u8>) -> Result<()> {
        if self.queue.is_empty() {
            match self.socket.send_to(&bytes, to) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(Error::io(to, e)),
            }
        }
        self.queue.push(to, bytes)
    }

    /// Writes queued datagrams until the socket would block.
    fn flush(&mut self, handle: Handle) {
        while let Some((to, bytes)) = self.queue.front() {
            match self.socket.send_to(bytes, *to) {
                Ok(_) => self.queue.pop(),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    log::warn!("{handle} send to {to} failed: {e}");
                    self.queue.pop();
                }
            }
        }
    }

    /// Handles readiness: writes what is queued, then receives at most
    /// [`DATAGRAMS_PER_POLL`] datagrams into `out` (`buf` holds one). Returns whether the
    /// budget ran out, so that more may be waiting.
    fn ready(
        &mut self,
        handle: Handle,
        readable: bool,
        writable: bool,
        buf: &mut [u8],
        out: &mut VecDeque<Event>,
    ) -> bool {
        if writable || readable {
            self.flush(handle);
        }
        if !readable {
            return false;
        }
        for _ in 0..DATAGRAMS_PER_POLL {
            let (n, from) = match self.socket.recv_from(buf) {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // e.g. ICMP port unreachable for an earlier send: not fatal for UDP.
                    log::debug!("{handle} receive error: {e}");
                    continue;
                }
            };
            match self.decoder.decode(&buf[..n]) {
                Ok(frame) => {
                    log::debug!("{handle} datagram from {from}: {}", frame.message);
                    out.push_back(Event::Datagram { handle, from, frame: frame.into_owned() });
                }
                Err(error) => {
                    if self.options.answer_nacks
                        && let Some(code) = error.nack_code()
                        && let Ok(bytes) =
                            Message::from(GenericNack::new(code)).to_bytes(self.options.version)
                        && self.socket.send_to(&bytes, from).is_err()
                    {
                        log::debug!("{handle} could not send NACK to {from}");
                    }
                    out.push_back(Event::Refused { handle, from, error });
                }
            }
        }
        true
    }
}

impl EventLoop {
    pub(super) fn ready_udp(&mut self, handle: Handle, readable: bool, writable: bool) {
        let Some(super::Endpoint::Udp(udp)) = self.endpoints.get_mut(&handle.0) else { return };
        if udp.ready(handle, readable, writable, &mut self.datagram, &mut self.out) {
            self.continue_next_poll(handle);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback socket never makes `send_to` block (the kernel hands the datagram on
    /// within the call), so the queue's bound is tested here rather than on a socket.
    #[test]
    fn the_send_queue_is_bounded_in_bytes() {
        let to: SocketAddr = "127.0.0.1:13400".parse().unwrap();
        let mut queue = SendQueue::new(100);
        assert!(queue.push(to, vec![0; 300]).is_ok(), "one datagram fits an empty queue");
        assert!(matches!(queue.push(to, vec![0; 8]), Err(Error::QueueFull { queued: 300, .. })));
        queue.pop();
        for _ in 0..3 {
            queue.push(to, vec![0; 40]).unwrap();
        }
        assert!(matches!(queue.push(to, vec![0; 8]), Err(Error::QueueFull { queued: 120, .. })));
        while !queue.is_empty() {
            queue.pop();
        }
        assert_eq!(queue.bytes, 0);
    }
}
