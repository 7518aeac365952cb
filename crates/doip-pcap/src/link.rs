//! Link layers found in captures, and getting from a link-layer frame to IP and TCP/UDP.

use std::fmt;

use std::net::IpAddr;

use etherparse::{
    EtherType, Ethernet2Slice, IpNumber, IpPayloadSlice, Ipv4Slice, Ipv6Slice, SingleVlanSlice,
    TcpSlice, UdpSlice,
};

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

/// The IP endpoints and transport layer of one link-layer frame.
pub(crate) struct Layers<'a> {
    pub(crate) src: IpAddr,
    pub(crate) dst: IpAddr,
    pub(crate) transport: Transport<'a>,
}

/// What an IP packet carries, as far as the decoder cares.
pub(crate) enum Transport<'a> {
    Tcp(TcpSlice<'a>),
    Udp(UdpSlice<'a>),
    /// A fragment of a larger IP packet: not reassembled, so not decoded.
    Fragment,
    /// Any other protocol.
    Other,
}

/// The IP and transport layers of one link-layer frame, or `None` when it carries something
/// other than IP or is cut short.
///
/// Built from etherparse's per-layer slices rather than `SlicedPacket`, which does the same
/// validation but copies a much larger value through every layer: on a capture of small
/// diagnostic frames that was a fifth of all decoding time.
pub(crate) fn slice(link: LinkType, data: &[u8]) -> Option<Layers<'_>> {
    let (ether_type, payload) = match link.0 {
        1 => {
            let frame = Ethernet2Slice::from_slice_without_fcs(data).ok()?;
            (frame.ether_type(), frame.payload_slice())
        }
        0 | 108 => return ip(data.get(4..)?),
        12 | 14 | 101 | 228 | 229 => return ip(data),
        113 => (EtherType(u16::from_be_bytes([*data.get(14)?, *data.get(15)?])), data.get(16..)?),
        276 => (EtherType(u16::from_be_bytes([*data.first()?, *data.get(1)?])), data.get(20..)?),
        _ => return None,
    };
    ether(ether_type, payload)
}

/// An Ethernet payload, through up to three VLAN tags.
fn ether(mut ether_type: EtherType, mut data: &[u8]) -> Option<Layers<'_>> {
    for _ in 0..=3 {
        match ether_type {
            EtherType::IPV4 => return ipv4(data),
            EtherType::IPV6 => return ipv6(data),
            EtherType::VLAN_TAGGED_FRAME
            | EtherType::PROVIDER_BRIDGING
            | EtherType::VLAN_DOUBLE_TAGGED_FRAME => {
                let vlan = SingleVlanSlice::from_slice(data).ok()?;
                (ether_type, data) = (vlan.ether_type(), vlan.payload_slice());
            }
            _ => return None,
        }
    }
    None
}

/// An IPv4 or IPv6 packet, by its version nibble.
fn ip(data: &[u8]) -> Option<Layers<'_>> {
    match data.first()? >> 4 {
        4 => ipv4(data),
        6 => ipv6(data),
        _ => None,
    }
}

fn ipv4(data: &[u8]) -> Option<Layers<'_>> {
    let ip = Ipv4Slice::from_slice(data).ok()?;
    let header = ip.header();
    let (src, dst) = (header.source_addr().into(), header.destination_addr().into());
    Some(Layers { src, dst, transport: transport(ip.payload())? })
}

fn ipv6(data: &[u8]) -> Option<Layers<'_>> {
    let ip = Ipv6Slice::from_slice(data).ok()?;
    let header = ip.header();
    let (src, dst) = (header.source_addr().into(), header.destination_addr().into());
    Some(Layers { src, dst, transport: transport(ip.payload())? })
}

/// The TCP or UDP layer of an unfragmented IP payload; `None` when its header is cut short.
fn transport<'a>(payload: &IpPayloadSlice<'a>) -> Option<Transport<'a>> {
    Some(if payload.fragmented {
        Transport::Fragment
    } else if payload.ip_number == IpNumber::TCP {
        Transport::Tcp(TcpSlice::from_slice(payload.payload).ok()?)
    } else if payload.ip_number == IpNumber::UDP {
        Transport::Udp(UdpSlice::from_slice(payload.payload).ok()?)
    } else {
        Transport::Other
    })
}
