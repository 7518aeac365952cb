//! [`Tester`]: many ECUs behind many entities on one event loop, from one thread.
//!
//! One TCP connection per entity (routing activated once), any number of ECUs addressed over
//! it. Non-blocking: [`Tester::start_request`], [`Tester::poll`], [`Tester::take_result`] fit
//! another event loop's rhythm; [`Tester::connect_all`] and [`Tester::request_all`] are the
//! blocking conveniences built on them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use doip_proto::{DiagnosticMessage, LogicalAddress, Message, RoutingActivationRequest};
use doip_transport::{ConnectOptions, Event, EventLoop, Handle};

use crate::{Error, Result};

/// Identifies one ECU of a [`Tester`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EcuId(usize);

#[derive(Debug)]
enum LinkState {
    Connecting,
    Activating,
    Ready,
    Failed(String),
}

/// One entity connection.
#[derive(Debug)]
struct Link {
    peer: SocketAddr,
    state: LinkState,
}

/// One ECU and its request in flight.
#[derive(Debug)]
struct Ecu {
    link: Handle,
    address: LogicalAddress,
    /// Service id and deadline of the request in flight.
    waiting: Option<(u8, Instant)>,
    result: Option<Result<Vec<u8>>>,
}

/// Many ECU sessions on one event loop.
#[derive(Debug)]
pub struct Tester {
    lp: EventLoop,
    source: LogicalAddress,
    links: HashMap<Handle, Link>,
    by_entity: HashMap<SocketAddr, Handle>,
    ecus: Vec<Ecu>,
    /// UDS P2* applied after a "response pending".
    p2_star: Duration,
}

impl Tester {
    /// A tester with source address `tester`.
    ///
    /// # Errors
    /// When the event loop cannot be created.
    pub fn new(tester: LogicalAddress) -> Result<Self> {
        if !tester.is_tester() {
            return Err(Error::InvalidTesterAddress(tester));
        }
        Ok(Self {
            lp: EventLoop::new()?,
            source: tester,
            links: HashMap::new(),
            by_entity: HashMap::new(),
            ecus: Vec::new(),
            p2_star: Duration::from_secs(5),
        })
    }

    /// Adds the ECU `ecu` behind the entity at `entity` (one connection per entity, opened
    /// and activated in the background).
    ///
    /// # Errors
    /// When no socket can be opened.
    pub fn add(&mut self, entity: SocketAddr, ecu: LogicalAddress) -> Result<EcuId> {
        let link = if let Some(h) = self.by_entity.get(&entity) {
            *h
        } else {
            let options = ConnectOptions::default().tester_address(self.source);
            let h = self.lp.connect(entity, options)?;
            self.links.insert(h, Link { peer: entity, state: LinkState::Connecting });
            self.by_entity.insert(entity, h);
            h
        };
        self.ecus.push(Ecu { link, address: ecu, waiting: None, result: None });
        Ok(EcuId(self.ecus.len() - 1))
    }

    /// Whether the ECU's connection has routing activated.
    #[must_use]
    pub fn is_ready(&self, id: EcuId) -> bool {
        self.ecus
            .get(id.0)
            .and_then(|e| self.links.get(&e.link))
            .is_some_and(|l| matches!(l.state, LinkState::Ready))
    }

    /// Sends `payload` to the ECU; its answer becomes available through
    /// [`Tester::take_result`] after [`Tester::poll`]s.
    ///
    /// # Errors
    /// Unknown id, connection not ready, a request already in flight, or the send error.
    pub fn start_request(&mut self, id: EcuId, payload: &[u8], timeout: Duration) -> Result<()> {
        let tester = self.source;
        let Some(ecu) = self.ecus.get_mut(id.0) else { return Err(Error::UnknownSession(id.0)) };
        let Some(&sid) = payload.first() else { return Err(Error::EmptyPayload) };
        let link = self.links.get(&ecu.link);
        let peer = link.map_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)), |l| l.peer);
        if !link.is_some_and(|l| matches!(l.state, LinkState::Ready)) || ecu.waiting.is_some() {
            return Err(Error::Transport(doip_transport::Error::NotConnected { peer }));
        }
        self.lp.send(ecu.link, &DiagnosticMessage::new(tester, ecu.address, payload).into())?;
        ecu.result = None;
        ecu.waiting = Some((sid, Instant::now() + timeout));
        Ok(())
    }

    /// The finished request's result, once.
    pub fn take_result(&mut self, id: EcuId) -> Option<Result<Vec<u8>>> {
        self.ecus.get_mut(id.0).and_then(|e| e.result.take())
    }

    /// Runs the loop for up to `timeout` and applies what happened to the sessions.
    ///
    /// # Errors
    /// When the OS poll fails.
    pub fn poll(&mut self, timeout: Duration) -> Result<()> {
        self.lp.poll(Some(timeout))?;
        while let Some(event) = self.lp.next_event() {
            self.on_event(event);
        }
        let now = Instant::now();
        for ecu in &mut self.ecus {
            if let Some((_, deadline)) = ecu.waiting
                && now >= deadline
            {
                let peer = self
                    .links
                    .get(&ecu.link)
                    .map_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)), |l| l.peer);
                ecu.waiting = None;
                ecu.result = Some(Err(Error::Timeout { peer, what: "UDS response" }));
            }
        }
        Ok(())
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Connected { handle, .. } => {
                let request = RoutingActivationRequest::new(self.source);
                if self.lp.send(handle, &request.into()).is_ok()
                    && let Some(l) = self.links.get_mut(&handle)
                {
                    l.state = LinkState::Activating;
                }
            }
            Event::Message { handle, frame } => self.on_message(handle, frame.message),
            Event::Disconnected { handle, error, .. } => {
                let Some(link) = self.links.get_mut(&handle) else { return };
                link.state = LinkState::Failed(error.to_string());
                let peer = link.peer;
                for ecu in self.ecus.iter_mut().filter(|e| e.link == handle && e.waiting.is_some())
                {
                    ecu.waiting = None;
                    ecu.result =
                        Some(Err(Error::Transport(doip_transport::Error::NotConnected { peer })));
                }
            }
            _ => {}
        }
    }

    fn on_message(&mut self, handle: Handle, message: Message<'static>) {
        let peer =
            self.links.get(&handle).map_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)), |l| l.peer);
        match message {
            Message::RoutingActivationResponse(r) => {
                if let Some(l) = self.links.get_mut(&handle) {
                    l.state = if r.response_code.is_success() {
                        LinkState::Ready
                    } else {
                        LinkState::Failed(r.response_code.to_string())
                    };
                }
            }
            Message::DiagnosticMessageNegativeAck(n) => {
                if let Some(ecu) = self.waiting_ecu(handle, n.source_address) {
                    ecu.waiting = None;
                    ecu.result = Some(Err(Error::DiagnosticNack {
                        peer,
                        target: n.source_address,
                        code: n.code,
                    }));
                }
            }
            Message::DiagnosticMessage(d) => {
                let p2_star = self.p2_star;
                if let Some(ecu) = self.waiting_ecu(handle, d.source_address) {
                    let data = d.user_data.into_owned();
                    match (&mut ecu.waiting, data.as_slice()) {
                        (Some((sid, deadline)), [0x7F, s, 0x78]) if s == sid => {
                            *deadline = Instant::now() + p2_star;
                        }
                        _ => {
                            ecu.waiting = None;
                            ecu.result = Some(Ok(data));
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn waiting_ecu(&mut self, link: Handle, address: LogicalAddress) -> Option<&mut Ecu> {
        self.ecus.iter_mut().find(|e| e.link == link && e.address == address && e.waiting.is_some())
    }

    /// Waits until every connection is activated or failed (or `timeout`); returns the ids
    /// whose connection failed, with the reason.
    ///
    /// # Errors
    /// When the OS poll fails.
    pub fn connect_all(&mut self, timeout: Duration) -> Result<Vec<(EcuId, String)>> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline
            && self
                .links
                .values()
                .any(|l| matches!(l.state, LinkState::Connecting | LinkState::Activating))
        {
            self.poll(
                deadline.saturating_duration_since(Instant::now()).min(Duration::from_millis(50)),
            )?;
        }
        Ok(self
            .ecus
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match self.links.get(&e.link).map(|l| &l.state) {
                Some(LinkState::Ready) => None,
                Some(LinkState::Failed(reason)) => Some((EcuId(i), reason.clone())),
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
