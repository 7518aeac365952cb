//! [`Tester`]: many ECUs behind many entities on one event loop, from one thread — a thin
//! driver of one [`Session`] per entity.
//!
//! One TCP connection per entity (routing activated once), any number of ECUs addressed over
//! it, their requests in flight together. Non-blocking: [`Tester::start_request`],
//! [`Tester::poll`], [`Tester::take_result`] fit another event loop's rhythm;
//! [`Tester::connect_all`] and [`Tester::request_all`] are the blocking conveniences built on
//! them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use doip_proto::LogicalAddress;
use doip_transport::{ConnectOptions, EventLoop, Handle};

use crate::session::{Deadline, Event, Outcome, Request, RequestId, Session, SessionConfig};
use crate::wire::{Dial, Wire};
use crate::{Error, Result};

/// Identifies one ECU of a [`Tester`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EcuId(usize);

/// One entity: its wire, and why its first connection failed, if it did.
#[derive(Debug)]
struct Link {
    wire: Wire,
    failed: Option<String>,
    /// The ECU waiting for each request in flight.
    requests: HashMap<RequestId, EcuId>,
}

/// One ECU.
#[derive(Debug)]
struct Ecu {
    link: usize,
    address: LogicalAddress,
    busy: bool,
    result: Option<Result<Vec<u8>>>,
}

/// Many ECU sessions on one event loop.
#[derive(Debug)]
pub struct Tester {
    lp: EventLoop,
    config: SessionConfig,
    links: Vec<Link>,
    by_entity: HashMap<SocketAddr, usize>,
    by_handle: HashMap<Handle, usize>,
    ecus: Vec<Ecu>,
}

impl Tester {
    /// A tester with source address `tester` and the spec's timeouts.
    ///
    /// # Errors
    /// An address outside the tester range; when the event loop cannot be created.
    pub fn new(tester: LogicalAddress) -> Result<Self> {
        let mut config = SessionConfig::new(SocketAddr::from(([0, 0, 0, 0], 0)));
        config.tester = tester;
        Self::with_config(config)
    }

    /// A tester whose sessions use `config` (its peer addresses are set per entity).
    ///
    /// # Errors
    /// As [`Tester::new`].
    pub fn with_config(config: SessionConfig) -> Result<Self> {
        if !config.tester.is_tester() {
            return Err(Error::InvalidTesterAddress(config.tester));
        }
        Ok(Self {
            lp: EventLoop::new()?,
            config,
            links: Vec::new(),
            by_entity: HashMap::new(),
            by_handle: HashMap::new(),
            ecus: Vec::new(),
        })
    }

    /// Adds the ECU `ecu` behind the entity at `entity` (one connection per entity, opened
    /// and activated in the background).
    ///
    /// # Errors
    /// When no socket can be opened.
    pub fn add(&mut self, entity: SocketAddr, ecu: LogicalAddress) -> Result<EcuId> {
        let link = if let Some(&i) = self.by_entity.get(&entity) {
            i
        } else {
            let mut config = self.config.clone();
            config.peer = entity;
            config.udp_peer = SocketAddr::new(entity.ip(), doip_transport::DISCOVERY_PORT);
            let options =
                ConnectOptions::default().version(config.version).tester_address(config.tester);
            let dial = Dial { peer: entity, tls: None, options, local_ip: None, tap: None };
            let mut wire = Wire::new(Session::new(config), dial);
            wire.session.start(Instant::now(), Request::connect())?;
            wire.flush(&mut self.lp);
            let i = self.links.len();
            self.links.push(Link { wire, failed: None, requests: HashMap::new() });
            self.by_entity.insert(entity, i);
            self.settle(i);
            i
        };
        self.ecus.push(Ecu { link, address: ecu, busy: false, result: None });
        Ok(EcuId(self.ecus.len() - 1))
    }

    /// Whether the ECU's connection has routing activated.
    #[must_use]
    pub fn is_ready(&self, id: EcuId) -> bool {
        self.ecus
            .get(id.0)
            .and_then(|e| self.links.get(e.link))
            .is_some_and(|l| l.wire.session.is_ready())
    }

    /// Sends `payload` to the ECU (once its connection is up); its answer becomes available
    /// through [`Tester::take_result`] after [`Tester::poll`]s. `timeout` caps the whole
    /// exchange (any `Duration`; `Duration::MAX` leaves only the session's own timers). Each
    /// ECU has one result slot: one request per ECU id at a time.
    ///
    /// # Errors
    /// Unknown id, [`Error::TooManyRequests`] while the ECU's last result is outstanding, or
    /// the session's refusal.
    pub fn start_request(&mut self, id: EcuId, payload: &[u8], timeout: Duration) -> Result<()> {
        let Some(ecu) = self.ecus.get_mut(id.0) else { return Err(Error::UnknownSession(id.0)) };
        let Some(link) = self.links.get_mut(ecu.link) else {
            return Err(Error::UnknownSession(id.0));
        };
        if ecu.busy {
            let peer = link.wire.session.config().peer;
            return Err(Error::TooManyRequests { peer, limit: 1 });
        }
        let request = Request::uds(ecu.address, payload).timeout(timeout);
        let request = link.wire.session.start(Instant::now(), request)?;
        link.requests.insert(request, id);
        ecu.busy = true;
        ecu.result = None;
        let i = ecu.link;
        self.links[i].wire.flush(&mut self.lp);
        self.settle(i);
        Ok(())
    }

    /// The finished request's result, once.
    pub fn take_result(&mut self, id: EcuId) -> Option<Result<Vec<u8>>> {
        self.ecus.get_mut(id.0).and_then(|e| e.result.take())
    }

    /// Runs the loop for up to `timeout` (any `Duration`) and applies what happened to the
    /// sessions.
    ///
    /// # Errors
    /// When the OS poll fails.
    pub fn poll(&mut self, timeout: Duration) -> Result<()> {
        let now = Instant::now();
        let next = self.links.iter().filter_map(|l| l.wire.session.poll_timeout()).min();
        let until_next = next.map(|at| at.saturating_duration_since(now));
        self.lp.poll(Some(until_next.map_or(timeout, |t| t.min(timeout))))?;
        while let Some(event) = self.lp.next_event() {
            let Some(&i) = event.handle().and_then(|h| self.by_handle.get(&h)) else { continue };
            self.links[i].wire.on_event(&mut self.lp, event);
            self.settle(i);
        }
        let now = Instant::now();
        for i in 0..self.links.len() {
            if self.links[i].wire.session.poll_timeout().is_some_and(|at| at <= now) {
                self.links[i].wire.on_timeout(&mut self.lp, now);
                self.settle(i);
            }
        }
        Ok(())
    }

    /// After link `i`'s wire did something: its connection in the handle map, its session's
    /// events applied.
    fn settle(&mut self, i: usize) {
        self.sync(i);
        self.collect(i);
    }

    /// Keeps the handle map in step with link `i`'s connection.
    fn sync(&mut self, i: usize) {
        self.by_handle.retain(|_, link| *link != i);
        if let Some(h) = self.links[i].wire.tcp() {
            self.by_handle.insert(h, i);
        }
    }

    /// Applies link `i`'s session events to its state and ECUs.
    fn collect(&mut self, i: usize) {
        let link = &mut self.links[i];
        while let Some(event) = link.wire.session.poll_event() {
            let Event::Done { id, result } = event else { continue };
            link.wire.forget(id);
            match link.requests.remove(&id) {
                Some(ecu) => {
                    let answer = result.map(|outcome| match outcome {
                        Outcome::Answer(answer) => answer,
                        _ => Vec::new(),
                    });
                    if let Some(e) = self.ecus.get_mut(ecu.0) {
                        e.busy = false;
                        e.result = Some(answer);
                    }
                }
                None => link.failed = result.err().map(|e| e.to_string()),
            }
        }
    }

    /// Waits until every connection is activated or failed (or `timeout`); returns the ids
    /// whose connection failed, with the reason.
    ///
    /// # Errors
    /// When the OS poll fails.
    pub fn connect_all(&mut self, timeout: Duration) -> Result<Vec<(EcuId, String)>> {
        let deadline = Deadline::after(Instant::now(), timeout);
        let connecting = |l: &Link| l.failed.is_none() && !l.wire.session.is_ready();
        while !deadline.passed(Instant::now()) && self.links.iter().any(connecting) {
            let left = deadline.remaining(Instant::now()).unwrap_or(Duration::MAX);
            self.poll(left.min(Duration::from_millis(50)))?;
        }
        Ok(self
            .ecus
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match self.links.get(e.link) {
                Some(l) if l.wire.session.is_ready() => None,
                Some(Link { failed: Some(reason), .. }) => Some((EcuId(i), reason.clone())),
                _ => Some((EcuId(i), "not activated in time".to_owned())),
            })
            .collect())
    }

    /// Sends `payload` to every ready ECU at once and collects each one's result (answer,
    /// NACK, timeout or disconnect), in id order.
    ///
    /// # Errors
    /// When the OS poll fails; per-ECU failures are in the list.
    pub fn request_all(
        &mut self,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<Vec<(EcuId, Result<Vec<u8>>)>> {
        let mut results: Vec<(EcuId, Result<Vec<u8>>)> = Vec::new();
        let mut open = Vec::new();
        for i in 0..self.ecus.len() {
            match self.start_request(EcuId(i), payload, timeout) {
                Ok(()) => open.push(EcuId(i)),
                Err(e) => results.push((EcuId(i), Err(e))),
            }
        }
        while !open.is_empty() {
            self.poll(Duration::from_millis(20))?;
            open.retain(|&id| match self.take_result(id) {
                Some(r) => {
                    results.push((id, r));
                    false
                }
                None => true,
            });
        }
        results.sort_by_key(|(id, _)| *id);
        Ok(results)
    }
}
