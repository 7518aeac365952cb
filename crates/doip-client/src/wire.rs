//! [`Wire`]: one [`Session`] on a doip-transport [`EventLoop`] — dialing, writing, reading
//! and timing for it, nothing else. The blocking [`crate::Client`] and the poll-driven
//! [`crate::Tester`] share it; the protocol decisions are the session's.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use doip_proto::HeaderPolicy;
use doip_transport::{ConnectOptions, Event, EventLoop, Handle, SendId, TlsClient, UdpOptions};

use crate::session::{RequestId, Session, Transmit, TransportKind};
use crate::tap::{self, FrameTap, TappedFrame};

/// How to dial the entity.
#[derive(Clone, Debug)]
pub(crate) struct Dial {
    /// The TCP_DATA address.
    pub(crate) peer: SocketAddr,
    /// The TLS address and configuration, for TLS dials (from the start or as a fall-back).
    pub(crate) tls: Option<(SocketAddr, TlsClient)>,
    /// Options for every dial (timeout, version, tester address, local address).
    pub(crate) options: ConnectOptions,
    /// Local IP address for the UDP socket (and TCP, through `options`).
    pub(crate) local_ip: Option<IpAddr>,
    /// Who else sees every frame.
    pub(crate) tap: Option<FrameTap>,
}

impl Dial {
    /// What either driver queues on one TCP connection before sends fail with `QueueFull`.
    pub(crate) const TCP_QUEUE_LIMIT: usize = 16 << 20;

    /// How either driver checks received TCP headers: vendor payload types are delivered
    /// (as unsolicited frames, or to `read_doip`), not refused.
    pub(crate) fn tcp_policy() -> HeaderPolicy {
        HeaderPolicy::tcp().with_unknown_payload_types(true)
    }

    /// Where a dial goes (the TLS address with its configuration, or TCP_DATA).
    ///
    /// # Errors
    /// [`doip_transport::Error::NotConnected`] for a TLS dial without a TLS configuration.
    pub(crate) fn target(
        &self,
        tls: bool,
    ) -> Result<(SocketAddr, Option<&TlsClient>), doip_transport::Error> {
        match (&self.tls, tls) {
            (Some((peer, config)), true) => Ok((*peer, Some(config))),
            (None, true) => Err(doip_transport::Error::NotConnected { peer: self.peer }),
            (_, false) => Ok((self.peer, None)),
        }
    }

    /// The local address the UDP socket binds for datagrams to `to`.
    pub(crate) fn udp_local(&self, to: SocketAddr) -> SocketAddr {
        let any = if to.is_ipv4() {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        };
        SocketAddr::new(self.local_ip.unwrap_or(any), 0)
    }

    /// Shows a frame to the log and the tap.
    pub(crate) fn observe(
        &self,
        sent: bool,
        transport: TransportKind,
        local: Option<SocketAddr>,
        peer: SocketAddr,
        bytes: &[u8],
    ) {
        tap::observe(self.tap.as_ref(), &TappedFrame { sent, transport, local, peer, bytes });
    }

    /// Shows a received frame, encoded again, when anything looks.
    pub(crate) fn observe_received(
        &self,
        transport: TransportKind,
        local: Option<SocketAddr>,
        peer: SocketAddr,
        frame: &doip_proto::Frame<'_>,
    ) {
        if tap::wanted(self.tap.as_ref()) {
            let mut bytes = Vec::with_capacity(8 + frame.header.payload_length as usize);
            if frame.encode(&mut bytes).is_ok() {
                self.observe(false, transport, local, peer, &bytes);
            }
        }
    }
}

/// A session and the endpoints it uses on one loop.
#[derive(Debug)]
pub(crate) struct Wire {
    pub(crate) session: Session,
    dial: Dial,
    tcp: Option<Handle>,
    udp: Option<Handle>,
    /// The transport's ids of requests in flight on the current connection, so that a
    /// message the transport reports unwritten is known as its request's.
    sends: HashMap<RequestId, SendId>,
    /// This tester's address of the TCP connection, for the frame tap.
    local: Option<SocketAddr>,
}

impl Wire {
    pub(crate) fn new(session: Session, dial: Dial) -> Self {
        Self { session, dial, tcp: None, udp: None, sends: HashMap::new(), local: None }
    }

    /// This end's address on `transport`, for the tap.
    fn local(&self, event_loop: &EventLoop, transport: TransportKind) -> Option<SocketAddr> {
        match transport {
            TransportKind::Tcp => self.local,
            TransportKind::Udp => self.udp.and_then(|h| event_loop.local_addr(h).ok()),
        }
    }

    /// The current TCP connection.
    pub(crate) const fn tcp(&self) -> Option<Handle> {
        self.tcp
    }

    /// Whether `handle` is one of this wire's endpoints.
    pub(crate) fn owns(&self, handle: Handle) -> bool {
        self.tcp == Some(handle) || self.udp == Some(handle)
    }

    /// Applies one loop event about this wire's endpoints (others are ignored), then does
    /// what the session decided.
    pub(crate) fn on_event(&mut self, event_loop: &mut EventLoop, event: Event) {
        let now = Instant::now();
        match &event {
            Event::Message { handle, frame } if Some(*handle) == self.tcp => {
                let local = self.local(event_loop, TransportKind::Tcp);
                self.dial.observe_received(TransportKind::Tcp, local, self.dial.peer, frame);
            }
            Event::Datagram { handle, from, frame } if Some(*handle) == self.udp => {
                let local = self.local(event_loop, TransportKind::Udp);
                self.dial.observe_received(TransportKind::Udp, local, *from, frame);
            }
            _ => {}
        }
        let s = &mut self.session;
        match event {
            Event::Connected { handle, .. } if Some(handle) == self.tcp => {
                self.local = event_loop.local_addr(handle).ok();
                s.handle_connected(now);
            }
            Event::Message { handle, frame } if Some(handle) == self.tcp => {
                s.handle_frame(now, frame);
            }
            Event::Datagram { handle, from, frame } if Some(handle) == self.udp => {
                s.handle_datagram(now, from, frame);
            }
            Event::SendFailed { handle, id } if Some(handle) == self.tcp => {
                let request = self.sends.iter().find(|(_, sent)| **sent == id).map(|(r, _)| *r);
                if let Some(request) = request {
                    self.sends.remove(&request);
                    s.handle_unsent(now, request);
                }
            }
            Event::Disconnected { handle, error, .. } if Some(handle) == self.tcp => {
                self.tcp = None;
                self.sends.clear();
                s.handle_disconnected(now, &error);
            }
            Event::NackReceived { handle, code } if Some(handle) == self.tcp => {
                s.handle_generic_nack(code);
            }
            Event::Refused { handle, from, error } if self.owns(handle) => {
                log::warn!("{from}: refused a header ({error}); the NACK was sent");
            }
            _ => {}
        }
        self.flush(event_loop);
    }

    /// Time passed: the session's timers, then what it decided.
    pub(crate) fn on_timeout(&mut self, event_loop: &mut EventLoop, now: Instant) {
        self.session.handle_timeout(now);
        self.flush(event_loop);
    }

    /// Forgets the transport ids of requests that are done.
    pub(crate) fn forget(&mut self, request: RequestId) {
        self.sends.remove(&request);
    }

    /// Does everything the session asks of the wire, in order.
    pub(crate) fn flush(&mut self, event_loop: &mut EventLoop) {
        while let Some(transmit) = self.session.poll_transmit() {
            let now = Instant::now();
            match transmit {
                Transmit::Connect { tls } => match self.connect(event_loop, tls) {
                    Ok(handle) => self.tcp = Some(handle),
                    Err(e) => self.session.handle_disconnected(now, &e),
                },
                Transmit::Close => {
                    if let Some(handle) = self.tcp.take() {
                        event_loop.close(handle);
                    }
                    self.sends.clear();
                }
                Transmit::Tcp { bytes, request } => {
                    if self.tcp.is_some() {
                        let local = self.local(event_loop, TransportKind::Tcp);
                        self.dial.observe(true, TransportKind::Tcp, local, self.dial.peer, &bytes);
                    }
                    let sent = match self.tcp {
                        Some(handle) => event_loop.send_raw(handle, bytes),
                        None => Err(doip_transport::Error::NotConnected { peer: self.dial.peer }),
                    };
                    match (sent, request) {
                        (Ok(id), Some(request)) => {
                            self.sends.insert(request, id);
                            self.session.handle_sent(now, request);
                        }
                        (Ok(_), None) => {}
                        (Err(e), request) => self.session.handle_send_error(now, request, &e),
                    }
                }
                Transmit::Udp { to, bytes, request } => {
                    match (self.send_datagram(event_loop, to, bytes), request) {
                        (Ok(()), Some(request)) => self.session.handle_sent(now, request),
                        (Ok(()), None) => {}
                        (Err(e), request) => self.session.handle_send_error(now, request, &e),
                    }
                }
            }
        }
    }

    fn connect(
        &self,
        event_loop: &mut EventLoop,
        tls: bool,
    ) -> Result<Handle, doip_transport::Error> {
        let options = self.dial.options.clone();
        match self.dial.target(tls)? {
            (peer, Some(config)) => event_loop.connect(peer, options.tls(config.clone())),
            (peer, None) => event_loop.connect(peer, options),
        }
    }

    fn send_datagram(
        &mut self,
        event_loop: &mut EventLoop,
        to: SocketAddr,
        bytes: Vec<u8>,
    ) -> Result<(), doip_transport::Error> {
        let handle = if let Some(h) = self.udp {
            h
        } else {
            let options = UdpOptions::new(self.dial.udp_local(to))
                .answer_nacks(false)
                .policy(HeaderPolicy::udp().with_unknown_payload_types(true));
            let h = event_loop.bind_udp(options)?;
            self.udp = Some(h);
            h
        };
        let local = self.local(event_loop, TransportKind::Udp);
        self.dial.observe(true, TransportKind::Udp, local, to, &bytes);
        event_loop.send_to_raw(handle, to, bytes)
    }

    /// Closes both endpoints.
    pub(crate) fn shutdown(&mut self, event_loop: &mut EventLoop) {
        for handle in [self.tcp.take(), self.udp.take()].into_iter().flatten() {
            event_loop.close(handle);
        }
        self.sends.clear();
    }
}
