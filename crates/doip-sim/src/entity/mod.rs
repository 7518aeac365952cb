//! The simulated DoIP entity, driven by a `doip-transport` event loop.
//!
//! Here: the [`Simulator`] and its [`SimHandle`], per-socket state, the loop and the dispatch
//! of its events. Each concern of the entity's behaviour is a module of `impl Simulator`
//! methods over that state: `activation`, `diagnostic`, `discovery`, `faults`, `timers`;
//! `settings` is the configuration they read.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use doip_proto::{
    AliveCheckResponse, DiagnosticPowerModeResponse, EntityStatusResponse, HeaderPolicy,
    LogicalAddress, Message,
};
use doip_transport::{Event, EventLoop, Handle, UdpOptions};

use crate::config::{Faults, SimConfig, ms};
use crate::uds::UdsHandler;
use crate::{Error, SimEvent};

mod activation;
mod diagnostic;
mod discovery;
mod faults;
mod settings;
mod timers;

use activation::PendingActivation;
use settings::{Settings, address};
use timers::Timer;

/// One TCP_DATA socket's state (PROTOCOL.md §6).
struct Socket {
    peer: SocketAddr,
    tls: bool,
    /// The tester address registered on this socket.
    source: Option<LogicalAddress>,
    /// Routing active (registered and neither pending authentication nor confirmation).
    active: bool,
    confirmation_since: Option<Instant>,
    last_activity: Instant,
    received: u32,
    faults: Faults,
}

/// Shared between the simulator thread and its [`SimHandle`].
#[derive(Debug, Default)]
struct Control {
    stop: AtomicBool,
    faults: Mutex<Option<(Option<LogicalAddress>, Faults)>>,
}

/// The simulated entity. Create it with [`Simulator::new`], then [`Simulator::run`] it on the
/// current thread or [`Simulator::spawn`] it on its own.
pub struct Simulator {
    lp: EventLoop,
    cfg: Settings,
    tcp: Option<Handle>,
    tcp_addr: SocketAddr,
    tls: Option<(Handle, SocketAddr, Arc<doip_transport::rustls::ServerConfig>)>,
    udp: Handle,
    udp_addr: SocketAddr,
    announce_to: Option<SocketAddr>,
    announce_count: u32,
    announce_interval: Duration,
    sockets: HashMap<Handle, Socket>,
    ecus: BTreeMap<u16, (String, Box<dyn UdsHandler>)>,
    timers: HashMap<u64, Timer>,
    next_timer: u64,
    pending: HashMap<u64, PendingActivation>,
    events: Option<mpsc::Sender<SimEvent>>,
    control: Arc<Control>,
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("tcp", &self.tcp_addr)
            .field("udp", &self.udp_addr)
            .field("sockets", &self.sockets.len())
            .finish_non_exhaustive()
    }
}

/// A running simulator on its own thread; stops when dropped.
#[derive(Debug)]
pub struct SimHandle {
    /// TCP_DATA address.
    pub tcp: SocketAddr,
    /// UDP_DISCOVERY address.
    pub udp: SocketAddr,
    /// TLS address, when TLS is configured.
    pub tls: Option<SocketAddr>,
    control: Arc<Control>,
    waker: Arc<doip_transport::mio::Waker>,
    thread: Option<JoinHandle<Result<(), Error>>>,
}

impl SimHandle {
    /// Sets the faults of one tester's connections (`Some(address)`) or of all connections
    /// (`None`), from now on.
    pub fn set_faults(&self, tester: Option<LogicalAddress>, faults: Faults) {
        *self.control.faults.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((tester, faults));
        let _ = self.waker.wake();
    }

    /// Stops the simulator and waits for its thread.
    ///
    /// # Errors
    /// The error the simulator stopped with, if any.
    pub fn stop(mut self) -> Result<(), Error> {
        self.halt()
    }

    fn halt(&mut self) -> Result<(), Error> {
        self.control.stop.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
        match self.thread.take() {
            Some(t) => t.join().unwrap_or(Err(Error::Config("simulator thread panicked".into()))),
            None => Ok(()),
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

impl Simulator {
    /// Binds the sockets and builds the ECUs of `config`.
    ///
    /// # Errors
    /// An invalid configuration, unreadable TLS files, or a socket that cannot be bound.
    pub fn new(config: &SimConfig) -> Result<Self, Error> {
        let cfg = Settings::new(config)?;
        let mut lp = EventLoop::new()?;
        let listen = cfg.listen_options();
        let tcp = lp.listen(SocketAddr::new(config.bind, config.tcp_port), listen.clone())?;
        let tcp_addr = lp.local_addr(tcp)?;
        let tls = match &config.tls {
            Some(files) => {
                let server = Arc::new(crate::tls_config(files)?);
                let h = lp
                    .listen(SocketAddr::new(config.bind, files.port), listen.tls(server.clone()))?;
                Some((h, lp.local_addr(h)?, server))
            }
            None => None,
        };
        let udp = lp.bind_udp(
            UdpOptions::new(SocketAddr::new(config.bind, config.udp_port))
                .reuse_address(true)
                .broadcast(true)
                .version(cfg.version)
                .policy(HeaderPolicy::udp().with_supported_versions(&[cfg.version])),
        )?;
        let udp_addr = lp.local_addr(udp)?;
        let mut ecus = BTreeMap::new();
        for e in &config.ecus {
            let r = settings::responder(e, cfg.vin.as_bytes())?;
            let handler: Box<dyn UdsHandler> = Box::new(r);
            ecus.insert(address("ECU address", &e.logical_address)?.0, (e.name.clone(), handler));
        }
        let mut sim = Self {
            lp,
            cfg,
            tcp: Some(tcp),
            tcp_addr,
            tls,
            udp,
            udp_addr,
            announce_to: config.announce.to,
            announce_count: config.announce.count,
            announce_interval: ms(config.announce.interval_ms),
            sockets: HashMap::new(),
            ecus,
            timers: HashMap::new(),
            next_timer: 1,
            pending: HashMap::new(),
            events: None,
            control: Arc::new(Control::default()),
        };
        if sim.announce_to.is_some() && sim.announce_count > 0 {
            let wait = sim.random_wait();
            sim.after(wait, Timer::Announce(0));
        }
        Ok(sim)
    }

    /// Replaces the UDS behaviour of the ECU at `address` (adding it if new).
    pub fn set_ecu(&mut self, address: LogicalAddress, name: &str, handler: Box<dyn UdsHandler>) {
        self.ecus.insert(address.0, (name.to_owned(), handler));
    }

    /// Sends every [`SimEvent`] to `sink` as it happens.
    pub fn set_event_sink(&mut self, sink: mpsc::Sender<SimEvent>) {
        self.events = Some(sink);
    }

    /// The TCP_DATA address.
    #[must_use]
    pub const fn tcp_addr(&self) -> SocketAddr {
        self.tcp_addr
    }

    /// The UDP_DISCOVERY address.
    #[must_use]
    pub const fn udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }

    /// The TLS address, when configured.
    #[must_use]
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().map(|t| t.1)
    }

    /// One line per fact of the identity and every address, for start-up output.
    #[must_use]
    pub fn describe(&self) -> Vec<String> {
        let c = &self.cfg;
        let mut lines = vec![
            format!(
                "DoIP entity {} ({}), VIN {}, EID {}, GID {}, protocol version {:#04x}",
                c.address,
                c.node_type,
                c.vin,
                c.eid,
                c.gid,
                c.version.value()
            ),
            format!("TCP_DATA on {}, UDP_DISCOVERY on {}", self.tcp_addr, self.udp_addr),
        ];
        if let Some((_, addr, _)) = &self.tls {
            lines.push(format!("TLS on {addr}"));
        }
        for (address, (name, _)) in &self.ecus {
            lines.push(format!("ECU {} {name}", LogicalAddress(*address)));
        }
        lines.push(format!("functional address {}", c.functional_address));
        lines
    }

    /// Runs on a new thread until the handle is stopped or dropped.
    ///
    /// # Errors
    /// When the thread cannot be started.
    pub fn spawn(mut self) -> Result<SimHandle, Error> {
        let (control, waker) = (self.control.clone(), self.lp.waker());
        let (tcp, udp, tls) = (self.tcp_addr, self.udp_addr, self.tls_addr());
        let thread = std::thread::Builder::new()
            .name("doip-sim".into())
            .spawn(move || self.run())
            .map_err(|e| Error::Transport(doip_transport::Error::Io { peer: None, source: e }))?;
        Ok(SimHandle { tcp, udp, tls, control, waker, thread: Some(thread) })
    }

    /// Runs on this thread until stopped through a [`SimHandle`] (never, when run directly:
    /// a command-line simulator runs until the process is interrupted).
    ///
    /// # Errors
    /// When the event loop fails.
    pub fn run(&mut self) -> Result<(), Error> {
        while !self.control.stop.load(Ordering::SeqCst) {
            self.lp.poll(Some(Duration::from_millis(200)))?;
            let update = self.control.faults.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some((tester, faults)) = update {
                self.apply_faults(tester, &faults);
            }
            while let Some(event) = self.lp.next_event() {
                self.on_event(event);
            }
        }
        Ok(())
    }

    fn emit(&self, event: SimEvent) {
        log::info!("{event}");
        if let Some(sink) = &self.events {
            let _ = sink.send(event);
        }
    }

    fn send<'m>(&mut self, h: Handle, message: impl Into<Message<'m>>) {
        if let Err(e) = self.lp.send(h, &message.into()) {
            log::warn!("send to {h} failed: {e}");
        }
    }

    fn close(&mut self, h: Handle, why: &str) {
        if let Some(s) = self.sockets.remove(&h) {
            if s.faults.abrupt_close {
                self.lp.abort(h);
            } else {
                self.lp.close(h);
            }
            self.emit(SimEvent::Closed { peer: s.peer, reason: why.to_owned() });
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Accepted { handle, peer, listener } => self.accepted(handle, peer, listener),
            Event::Message { handle, frame } => self.message(handle, frame.message),
            Event::Datagram { from, frame, .. } => self.datagram(from, &frame.message),
            Event::Refused { handle, from, error } => {
                self.emit(SimEvent::Refused { peer: from, error: error.to_string() });
                if error.closes_connection() {
                    self.sockets.remove(&handle);
                }
            }
            Event::Disconnected { handle, error, .. } => {
                if let Some(s) = self.sockets.remove(&handle) {
                    self.emit(SimEvent::Closed { peer: s.peer, reason: error.to_string() });
                }
            }
            Event::Timer { id, .. } => {
                if let Some(timer) = self.timers.remove(&id) {
                    self.timer(timer);
                }
            }
            _ => {}
        }
    }

    fn accepted(&mut self, h: Handle, peer: SocketAddr, listener: Handle) {
        let tls = self.tls.as_ref().is_some_and(|t| t.0 == listener);
        let faults = self.cfg.faults.clone();
        self.sockets.insert(
            h,
            Socket {
                peer,
                tls,
                source: None,
                active: false,
                confirmation_since: None,
                last_activity: Instant::now(),
                received: 0,
                faults: Faults::default(),
            },
        );
        self.set_socket_faults(h, faults);
        self.after(self.cfg.initial_inactivity, Timer::InitialInactivity(h));
        self.emit(SimEvent::Connected { peer, tls });
    }

    fn message(&mut self, h: Handle, message: Message<'static>) {
        let Some(s) = self.sockets.get_mut(&h) else { return };
        s.last_activity = Instant::now();
        s.received += 1;
        let limit = s.faults.close_after_messages;
        let reset_after = s.faults.reset_after_messages;
        let received = s.received;
        match message {
            Message::RoutingActivationRequest(r) => self.activation(h, r),
            Message::AliveCheckResponse(_) => self.alive(h),
            Message::AliveCheckRequest(_) => {
                // Not in the spec's direction, but testers such as doipclient ask it.
                let me = self.cfg.address;
                self.send(h, AliveCheckResponse::new(me));
            }
            Message::EntityStatusRequest(_) => {
                let status = self.entity_status();
                self.send(h, status);
            }
            Message::DiagnosticPowerModeRequest(_) => {
                self.send(h, DiagnosticPowerModeResponse::new(self.cfg.power_mode));
            }
            Message::DiagnosticMessage(m) => self.diagnostic(h, &m),
            other => log::debug!("{h}: ignoring {other}"),
        }
        if reset_after.is_some_and(|n| received == n) {
            return self.fault_reset();
        }
        if limit.is_some_and(|n| received >= n) {
            self.close(h, "fault: close after N messages");
        }
    }

    fn entity_status(&self) -> Message<'static> {
        EntityStatusResponse {
            node_type: self.cfg.node_type,
            max_open_sockets: self.cfg.max_sockets,
            currently_open_sockets: u8::try_from(self.sockets.len()).unwrap_or(u8::MAX),
            max_data_size: Some(self.cfg.max_data_size),
        }
        .into()
    }
}
