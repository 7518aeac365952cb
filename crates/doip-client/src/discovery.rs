//! Finding DoIP entities: every responder to one identification request, or announcements.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::{Duration, Instant};

use doip_proto::{
    Eid, Message, ProtocolVersion, VehicleAnnouncement, VehicleIdentificationRequest,
    VehicleIdentificationRequestWithEid, VehicleIdentificationRequestWithVin, Vin,
};
use doip_transport::{ALL_NODES_V6, DISCOVERY_PORT, Event, EventLoop, UdpOptions, timing};

use crate::session::Deadline;
use crate::{Error, Result};

/// The index of a network interface given by name (`eth0`) or as a number (`2`), for IPv6
/// multicast (doipclient's `source_interface`). Names are looked up in `/sys/class/net`
/// (Linux); elsewhere give the index.
///
/// # Errors
/// [`Error::UnknownInterface`] when this host has no such interface.
pub fn interface_index(name: &str) -> Result<u32> {
    if let Ok(index) = name.parse() {
        return Ok(index);
    }
    let unknown = || Error::UnknownInterface(name.to_owned());
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(unknown());
    }
    std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(unknown)
}

/// An entity that answered, and where from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entity {
    /// The address it answered from (its TCP_DATA address has the same IP).
    pub address: SocketAddr,
    /// Its announcement.
    pub announcement: VehicleAnnouncement,
}

/// One vehicle identification request, and every answer collected until the timeout.
#[derive(Clone, Debug)]
pub struct Discovery {
    destination: SocketAddr,
    timeout: Duration,
    version: ProtocolVersion,
    eid: Option<Eid>,
    vin: Option<Vin>,
}

impl Default for Discovery {
    /// IPv4 broadcast to 255.255.255.255:13400, version 0xFF, collecting for `A_DoIP_Ctrl` (2 s).
    fn default() -> Self {
        Self::to(SocketAddr::new(IpAddr::V4(Ipv4Addr::BROADCAST), DISCOVERY_PORT))
    }
}

impl Discovery {
    /// A request to `destination` (unicast, directed or limited broadcast, or IPv6 multicast).
    #[must_use]
    pub const fn to(destination: SocketAddr) -> Self {
        Self {
            destination,
            timeout: timing::A_DOIP_CTRL,
            version: ProtocolVersion::VehicleIdentificationDefault,
            eid: None,
            vin: None,
        }
    }

    /// IPv6 multicast to `FF02::1` on interface index `interface`.
    #[must_use]
    pub const fn ipv6_multicast(interface: u32) -> Self {
        Self::to(SocketAddr::V6(SocketAddrV6::new(ALL_NODES_V6, DISCOVERY_PORT, 0, interface)))
    }

    /// IPv6 multicast to `FF02::1` on the interface named `interface` (`eth0`).
    ///
    /// # Errors
    /// [`Error::UnknownInterface`].
    pub fn ipv6_multicast_on(interface: &str) -> Result<Self> {
        Ok(Self::ipv6_multicast(interface_index(interface)?))
    }

    /// How long answers are collected.
    #[must_use]
    pub const fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The header version of the request (0xFF by default: "any").
    #[must_use]
    pub const fn version(mut self, version: ProtocolVersion) -> Self {
        self.version = version;
        self
    }

    /// Only the entity with this EID answers.
    #[must_use]
    pub const fn eid(mut self, eid: Eid) -> Self {
        self.eid = Some(eid);
        self
    }

    /// Only entities of the vehicle with this VIN answer.
    #[must_use]
    pub const fn vin(mut self, vin: Vin) -> Self {
        self.vin = Some(vin);
        self
    }

    fn request(&self) -> Message<'static> {
        identification_request(self.eid, self.vin)
    }

    /// Sends the request and returns every entity that answered within the timeout, one
    /// entry per EID (the first answer wins; at most [`Discovery::MAX_ENTITIES`]), sorted by
    /// address.
    ///
    /// # Errors
    /// Socket errors; no answer is an empty list.
    pub fn run(&self) -> Result<Vec<Entity>> {
        self.collect(usize::MAX)
    }

    /// The first entity that answers.
    ///
    /// # Errors
    /// [`Error::Timeout`] when none answers in time; socket errors.
    pub fn first(&self) -> Result<Entity> {
        self.collect(1)?.into_iter().next().ok_or(Error::Timeout {
            peer: self.destination,
            what: "a vehicle identification response",
        })
    }

    /// The most entities one discovery keeps (a flood of invented EIDs stops growing here).
    pub const MAX_ENTITIES: usize = 4096;

    fn collect(&self, most: usize) -> Result<Vec<Entity>> {
        let most = most.min(Self::MAX_ENTITIES);
        let mut lp = EventLoop::new()?;
        let any: SocketAddr = if self.destination.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let udp = lp.bind_udp(
            UdpOptions::new(any).broadcast(self.destination.is_ipv4()).answer_nacks(false),
        )?;
        lp.send_to_with_version(udp, self.destination, self.version, &self.request())?;
        let deadline = Deadline::after(Instant::now(), self.timeout);
        let mut found: BTreeMap<Eid, Entity> = BTreeMap::new();
        while found.len() < most {
            let now = Instant::now();
            if deadline.passed(now) {
                break;
            }
            lp.poll(deadline.remaining(now))?;
            while let Some(event) = lp.next_event() {
                if let Event::Datagram { from, frame, .. } = event
                    && let Message::VehicleAnnouncement(announcement) = frame.message
                {
                    log::debug!("{from} answered: {announcement:?}");
                    found.entry(announcement.eid).or_insert(Entity { address: from, announcement });
                }
            }
        }
        let mut entities: Vec<Entity> = found.into_values().collect();
        entities.sort_by_key(|e| e.address);
        Ok(entities)
    }
}

/// The vehicle identification request for an EID (preferred), a VIN, or anyone.
pub(crate) fn identification_request(eid: Option<Eid>, vin: Option<Vin>) -> Message<'static> {
    match (eid, vin) {
        (Some(eid), _) => VehicleIdentificationRequestWithEid::new(eid).into(),
        (None, Some(vin)) => VehicleIdentificationRequestWithVin::new(vin).into(),
        (None, None) => VehicleIdentificationRequest.into(),
    }
}

/// doipclient's `get_entity`: the first entity answering a request to `ip` (broadcast when
/// `None`), optionally by EID or VIN.
///
/// # Errors
/// As [`Discovery::first`].
pub fn get_entity(
    ip: Option<IpAddr>,
    protocol_version: Option<ProtocolVersion>,
    eid: Option<Eid>,
    vin: Option<Vin>,
) -> Result<Entity> {
    let mut d = match ip {
        Some(ip) => Discovery::to(SocketAddr::new(ip, DISCOVERY_PORT)),
        None => Discovery::default(),
    };
    if let Some(v) = protocol_version {
        d = d.version(v);
    }
    if let Some(eid) = eid {
        d = d.eid(eid);
    }
    if let Some(vin) = vin {
        d = d.vin(vin);
    }
    d.first()
}

/// Listens for vehicle announcements on a UDP port shared with other programs (IPv4
/// broadcast, or IPv6 with `FF02::1` joined on an interface).
#[derive(Debug)]
pub struct AnnouncementListener {
    lp: EventLoop,
    port: u16,
}

impl AnnouncementListener {
    /// Binds `udp_port` (13400 for real vehicles; 0 picks a free one) with address reuse;
    /// with `ipv6`, joins `FF02::1` on the interface named `interface` (`eth0`; the
    /// default multicast interface when `None`).
    ///
    /// # Errors
    /// [`Error::UnknownInterface`]; socket errors.
    pub fn bind_on(udp_port: u16, ipv6: bool, interface: Option<&str>) -> Result<Self> {
        let index = match interface {
            Some(name) if ipv6 => interface_index(name)?,
            _ => 0,
        };
        Self::bind(udp_port, ipv6, index)
    }

    /// Binds `udp_port` with address reuse; with `ipv6`, joins `FF02::1` on interface index
    /// `interface` (0: the default).
    ///
    /// # Errors
    /// Socket errors.
    pub fn bind(udp_port: u16, ipv6: bool, interface: u32) -> Result<Self> {
        let mut lp = EventLoop::new()?;
        let options = if ipv6 {
            UdpOptions::new((Ipv6Addr::UNSPECIFIED, udp_port).into())
                .join_multicast_v6(ALL_NODES_V6, interface)
        } else {
            UdpOptions::new((Ipv4Addr::UNSPECIFIED, udp_port).into()).broadcast(true)
        };
        let h = lp.bind_udp(options.reuse_address(true).answer_nacks(false))?;
        let port = lp.local_addr(h)?.port();
        Ok(Self { lp, port })
    }

    /// The port listened on.
    #[must_use]
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// The next announcement (other datagrams are ignored), waiting up to `timeout`.
    ///
    /// # Errors
    /// [`Error::Timeout`]; socket errors.
    pub fn next(&mut self, timeout: Duration) -> Result<Entity> {
        let deadline = Deadline::after(Instant::now(), timeout);
        loop {
            while let Some(event) = self.lp.next_event() {
                if let Event::Datagram { from, frame, .. } = event
                    && let Message::VehicleAnnouncement(announcement) = frame.message
                {
                    return Ok(Entity { address: from, announcement });
                }
            }
            let now = Instant::now();
            if deadline.passed(now) {
                return Err(Error::Timeout {
                    peer: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), self.port),
                    what: "a vehicle announcement",
                });
            }
            self.lp.poll(deadline.remaining(now))?;
        }
    }
}

/// doipclient's `await_vehicle_announcement`: the next announcement on `udp_port`, over IPv4
/// or IPv6 (joining `FF02::1` on the interface named `source_interface`), waiting up to
/// `timeout` (`Duration::MAX`: forever).
///
/// # Errors
/// [`Error::Timeout`]; [`Error::UnknownInterface`]; socket errors.
pub fn await_vehicle_announcement(
    udp_port: u16,
    timeout: Duration,
    ipv6: bool,
    source_interface: Option<&str>,
) -> Result<Entity> {
    AnnouncementListener::bind_on(udp_port, ipv6, source_interface)?.next(timeout)
}
