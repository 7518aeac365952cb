//! Link layers found in captures, and getting from a link-layer frame to IP and TCP/UDP.

use std::fmt;

use etherparse::{EtherType, SlicedPacket};

/// A capture's link-layer header type (the `LINKTYPE_*` registry of pcap and pcapng).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback: a 4-byte address family, host byte order.
    pub const NULL: Self = Self(0);
    /// Ethernet II (also Linux `lo` captures), with optional VLAN tags.
    pub const ETHERNET: Self = Self(1);
    /// `DLT_RAW` as written on most systems: an IPv4 or IPv6 packet.
    pub const DLT_RAW: Self = Self(12);
    /// `DLT_RAW` as written on OpenBSD.
    pub const DLT_RAW_OPENBSD: Self = Self(14);
    /// Raw IPv4 or IPv6.
    pub const RAW: Self = Self(101);
    /// OpenBSD loopback: a 4-byte address family, network byte order.
    pub const LOOP: Self = Self(108);
    /// Linux cooked capture v1 (`tcpdump -i any` before libpcap 1.10).
    pub const LINUX_SLL: Self = Self(113);
    /// Raw IPv4.
    pub const IPV4: Self = Self(228);
    /// Raw IPv6.
    pub const IPV6: Self = Self(229);
    /// Linux cooked capture v2 (`tcpdump -i any` since libpcap 1.10).
    pub const LINUX_SLL2: Self = Self(276);

    /// Whether [`crate::Decoder`] can read frames of this link type.
    #[must_use]
    pub const fn is_supported(self) -> bool {
        matches!(self.0, 0 | 1 | 12 | 14 | 101 | 108 | 113 | 228 | 229 | 276)
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            0 => "null/loopback",
            1 => "Ethernet",
            12 | 14 | 101 => "raw IP",
            108 => "OpenBSD loopback",
            113 => "Linux cooked v1",
            228 => "raw IPv4",
            229 => "raw IPv6",
            276 => "Linux cooked v2",
            _ => "unsupported",
        };
        write!(f, "{name} ({})", self.0)
    }
}

/// The IP and transport layers of one link-layer frame, or `None` when it carries something
/// else or is cut short.
pub(crate) fn slice(link: LinkType, data: &[u8]) -> Option<SlicedPacket<'_>> {
    let sliced = match link.0 {
        1 => SlicedPacket::from_ethernet(data),
        0 | 108 => SlicedPacket::from_ip(data.get(4..)?),
        12 | 14 | 101 | 228 | 229 => SlicedPacket::from_ip(data),
        113 => {
            let protocol = u16::from_be_bytes([*data.get(14)?, *data.get(15)?]);
            SlicedPacket::from_ether_type(EtherType(protocol), data.get(16..)?)
        }
        276 => {
            let protocol = u16::from_be_bytes([*data.first()?, *data.get(1)?]);
            SlicedPacket::from_ether_type(EtherType(protocol), data.get(20..)?)
        }
        _ => return None,
    };
    sliced.ok()
}
