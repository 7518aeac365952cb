//! UDP socket set-up for vehicle discovery: broadcast, IPv6 multicast, address reuse.

use std::io;
use std::net::{Ipv6Addr, SocketAddr};

use doip_proto::{HeaderPolicy, ProtocolVersion};
use socket2::{Domain, Protocol, Socket, Type};

/// UDP_DISCOVERY port of ISO 13400-2.
pub const DISCOVERY_PORT: u16 = 13400;

/// The IPv6 all-nodes link-local multicast group testers send identification requests to.
pub const ALL_NODES_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Default bound on the bytes of datagrams waiting for a UDP socket to take them.
const DEFAULT_QUEUE_LIMIT: usize = 64 * 1024;

/// How a UDP endpoint is opened.
#[derive(Clone, Debug)]
pub struct UdpOptions {
    pub(crate) bind: SocketAddr,
    pub(crate) broadcast: bool,
    pub(crate) reuse_address: bool,
    pub(crate) multicast_v6: Option<(Ipv6Addr, u32)>,
    pub(crate) policy: HeaderPolicy,
    pub(crate) version: ProtocolVersion,
    pub(crate) answer_nacks: bool,
    pub(crate) max_queued_bytes: usize,
}

impl UdpOptions {
    /// Bound to `bind` (port 0 for an ephemeral port), no broadcast, no reuse; headers
    /// checked with [`HeaderPolicy::udp`]; refused datagrams answered with a NACK; at most
    /// 64 KiB of datagrams queued while the socket cannot take them.
    #[must_use]
    pub fn new(bind: SocketAddr) -> Self {
        Self {
            bind,
            broadcast: false,
            reuse_address: false,
            multicast_v6: None,
            policy: HeaderPolicy::udp(),
            version: ProtocolVersion::default(),
            answer_nacks: true,
            max_queued_bytes: DEFAULT_QUEUE_LIMIT,
        }
    }

    /// Allow sending to broadcast addresses (`SO_BROADCAST`).
    #[must_use]
    pub const fn broadcast(mut self, on: bool) -> Self {
        self.broadcast = on;
        self
    }

    /// Share the port with other sockets (`SO_REUSEADDR`, and `SO_REUSEPORT` on Unix), e.g. to
    /// hear announcements on 13400 beside another program.
    #[must_use]
    pub const fn reuse_address(mut self, on: bool) -> Self {
        self.reuse_address = on;
        self
    }

    /// Join the IPv6 multicast `group` on interface index `interface` (0: the default).
    #[must_use]
    pub const fn join_multicast_v6(mut self, group: Ipv6Addr, interface: u32) -> Self {
        self.multicast_v6 = Some((group, interface));
        self
    }

    /// Check received headers with `policy`.
    #[must_use]
    pub fn policy(mut self, policy: HeaderPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The version used for NACKs this endpoint sends.
    #[must_use]
    pub const fn version(mut self, version: ProtocolVersion) -> Self {
        self.version = version;
        self
    }

    /// Whether a refused datagram is answered with the spec's generic NACK (default on).
    #[must_use]
    pub const fn answer_nacks(mut self, on: bool) -> Self {
        self.answer_nacks = on;
        self
    }

    /// Bound on the bytes of datagrams queued while the socket cannot take them (it would
    /// block); sends beyond it fail with [`crate::Error::QueueFull`]. A datagram is queued
    /// whenever less than this is, so one datagram of any size always fits an empty queue.
    #[must_use]
    pub const fn max_queued_bytes(mut self, bytes: usize) -> Self {
        self.max_queued_bytes = bytes;
        self
    }

    pub(crate) fn open(&self) -> io::Result<mio::net::UdpSocket> {
        let socket = Socket::new(Domain::for_address(self.bind), Type::DGRAM, Some(Protocol::UDP))?;
        if self.reuse_address {
            socket.set_reuse_address(true)?;
            #[cfg(unix)]
            socket.set_reuse_port(true)?;
        }
        if self.bind.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        socket.set_broadcast(self.broadcast)?;
        socket.set_nonblocking(true)?;
        socket.bind(&self.bind.into())?;
        if let Some((group, interface)) = self.multicast_v6 {
            socket.join_multicast_v6(&group, interface)?;
            socket.set_multicast_if_v6(interface)?;
            socket.set_multicast_loop_v6(true)?;
        }
        Ok(mio::net::UdpSocket::from_std(socket.into()))
    }
}
