//! UDP endpoints of the loop: receiving datagrams and sending queued ones.

use std::io;

use doip_proto::{GenericNack, Message};

use super::{Endpoint, EventLoop};
use crate::{Event, Handle};

impl EventLoop {
    pub(super) fn ready_udp(&mut self, handle: Handle, readable: bool, writable: bool) {
        let Some(Endpoint::Udp { socket, decoder, options, queue }) =
            self.endpoints.get_mut(&handle.0)
        else {
            return;
        };
        if writable || readable {
            while let Some((to, bytes)) = queue.front() {
                match socket.send_to(bytes, *to) {
                    Ok(_) => {
                        queue.pop_front();
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        log::warn!("{handle} send to {to} failed: {e}");
                        queue.pop_front();
                    }
                }
            }
        }
        if !readable {
            return;
        }
        loop {
            let (n, from) = match socket.recv_from(&mut self.datagram) {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // e.g. ICMP port unreachable for an earlier send: not fatal for UDP.
                    log::debug!("{handle} receive error: {e}");
                    continue;
                }
            };
            match decoder.decode(&self.datagram[..n]) {
                Ok(frame) => {
                    log::debug!("{handle} datagram from {from}: {}", frame.message);
                    self.out.push_back(Event::Datagram { handle, from, frame: frame.into_owned() });
                }
                Err(error) => {
                    if options.answer_nacks
                        && let Some(code) = error.nack_code()
                        && let Ok(bytes) =
                            Message::from(GenericNack::new(code)).to_bytes(options.version)
                        && socket.send_to(&bytes, from).is_err()
                    {
                        log::debug!("{handle} could not send NACK to {from}");
                    }
                    self.out.push_back(Event::Refused { handle, from, error });
                }
            }
        }
    }
}
