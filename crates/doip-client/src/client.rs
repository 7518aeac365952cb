//! [`Client`]: one tester connection to one DoIP entity, blocking — a thin driver of a
//! [`Session`] on a [`LoopDriver`] (whose background thread answers alive checks and reads
//! the socket while the caller is idle).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use doip_proto::{
    ActivationType, AliveCheckResponse, DiagnosticPowerModeRequest, DiagnosticPowerModeResponse,
    Eid, EntityStatusRequest, EntityStatusResponse, Frame, LogicalAddress, Message, PayloadType,
    ProtocolVersion, RoutingActivationResponse, VehicleAnnouncement, Vin,
};
use doip_transport::{
    ConnectOptions, DISCOVERY_PORT, Event, EventLoop, Handler, LoopDriver, TlsClient,
};

use crate::session::{
    Counters, Deadline, Outcome, Request, RequestId, Session, SessionConfig, TransportKind,
    UdsTiming, Unsolicited,
};
use crate::tap::FrameTap;
use crate::wire::{Dial, Wire};
use crate::{Error, Result};

/// TCP_DATA port without TLS.
pub const TCP_PORT: u16 = 13400;

/// Everything [`Client`] needs to connect, with doipclient's defaults.
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    ip: IpAddr,
    ecu: LogicalAddress,
    tcp_port: Option<u16>,
    udp_port: u16,
    client_ip_address: Option<IpAddr>,
    tls: Option<TlsClient>,
    tls_port: u16,
    connect_timeout: Duration,
    background: bool,
    busy_poll: Duration,
    session: SessionConfig,
    tap: Option<FrameTap>,
}

impl ClientBuilder {
    /// A client for the ECU `ecu` behind the entity at `ip`: TCP 13400 (3496 with TLS), UDP
    /// 13400, default activation, version 0x02, tester 0x0E00, the spec's timeouts
    /// ([`SessionConfig::new`]), and a background thread that answers alive checks while
    /// the caller is idle.
    #[must_use]
    pub fn new(ip: IpAddr, ecu: LogicalAddress) -> Self {
        Self {
            ip,
            ecu,
            tcp_port: None,
            udp_port: DISCOVERY_PORT,
            client_ip_address: None,
            tls: None,
            tls_port: doip_transport::tls::TLS_PORT,
            connect_timeout: doip_transport::timing::A_DOIP_CTRL,
            background: true,
            busy_poll: Duration::ZERO,
            session: SessionConfig::new(SocketAddr::new(ip, TCP_PORT)),
            tap: None,
        }
    }

    /// Gives every DoIP frame sent and received to `tap` (plaintext, also over TLS), e.g. to
    /// write a capture; see [`crate::tap`]. Frames are also logged at debug level on the
    /// target [`crate::tap::LOG_TARGET`], tap or not.
    #[must_use]
    pub fn frame_tap(mut self, tap: FrameTap) -> Self {
        self.tap = Some(tap);
        self
    }

    /// TCP port (default 13400, or 3496 with TLS).
    #[must_use]
    pub const fn tcp_port(mut self, port: u16) -> Self {
        self.tcp_port = Some(port);
        self
    }

    /// UDP port of the entity (default 13400).
    #[must_use]
    pub const fn udp_port(mut self, port: u16) -> Self {
        self.udp_port = port;
        self
    }

    /// Activation type sent on connect (and every reconnect); `None` skips routing
    /// activation.
    #[must_use]
    pub const fn activation_type(mut self, activation_type: Option<ActivationType>) -> Self {
        self.session.activation = activation_type;
        self
    }

    /// OEM-specific bytes sent with activation requests that give none.
    #[must_use]
    pub const fn vm_specific(mut self, data: Option<[u8; 4]>) -> Self {
        self.session.oem_specific = data;
        self
    }

    /// Protocol version (0x02 default; 0x01 and 0x03 also spoken).
    #[must_use]
    pub const fn protocol_version(mut self, version: ProtocolVersion) -> Self {
        self.session.version = version;
        self
    }

    /// The tester's logical address (default 0x0E00; must be in 0x0E00–0x0FFF).
    #[must_use]
    pub const fn client_logical_address(mut self, address: LogicalAddress) -> Self {
        self.session.tester = address;
        self
    }

    /// Local IP address to connect from, for TCP and UDP alike (doipclient's
    /// `client_ip_address`).
    #[must_use]
    pub const fn client_ip_address(mut self, ip: IpAddr) -> Self {
        self.client_ip_address = Some(ip);
        self
    }

    /// DoIP over TLS from the start, with this configuration (see [`crate::tls`]).
    #[must_use]
    pub fn tls(mut self, tls: TlsClient) -> Self {
        self.tls = Some(tls);
        self.session.tls = true;
        self
    }

    /// Plain TCP first; when the entity answers activation with 0x07 (TLS required),
    /// reconnect to `port` (3496) over TLS with this configuration and activate again.
    #[must_use]
    pub fn tls_fallback(mut self, tls: TlsClient, port: u16) -> Self {
        self.tls = Some(tls);
        self.tls_port = port;
        self.session.tls = false;
        self.session.tls_fallback = true;
        self
    }

    /// When a request finds the connection closed, reconnect (re-activating routing) and send
    /// it, as doipclient's `auto_reconnect_tcp`. A request that was already written when the
    /// connection dropped is never sent again: it fails with [`Error::MaybeDelivered`].
    #[must_use]
    pub const fn auto_reconnect_tcp(mut self, on: bool) -> Self {
        self.session.auto_reconnect = on;
        self
    }

    /// How long connecting (and a TLS handshake) may take, and for how long a reconnect
    /// keeps dialing (2 s).
    #[must_use]
    pub const fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self.session.reconnect_window = timeout;
        self
    }

    /// How long to wait for the routing activation response (2 s).
    #[must_use]
    pub const fn activation_timeout(mut self, timeout: Duration) -> Self {
        self.session.activation_timeout = timeout;
        self
    }

    /// How long to wait for a diagnostic ACK/NACK (`A_DoIP_Diagnostic_Message`, 2 s).
    #[must_use]
    pub const fn ack_timeout(mut self, timeout: Duration) -> Self {
        self.session.ack_timeout = timeout;
        self
    }

    /// How long to wait for an answer over UDP (entity status, power mode, identification;
    /// `A_DoIP_Ctrl`, 2 s) and for an alive check response.
    #[must_use]
    pub const fn udp_timeout(mut self, timeout: Duration) -> Self {
        self.session.udp_timeout = timeout;
        self.session.alive_check_timeout = timeout;
        self
    }

    /// UDS P2 (first answer) and P2* (after each "response pending").
    #[must_use]
    pub const fn uds_timing(mut self, p2: Duration, p2_star: Duration) -> Self {
        self.session.p2 = p2;
        self.session.p2_star = p2_star;
        self
    }

    /// The longest an ECU may keep answering "response pending" (120 s).
    #[must_use]
    pub const fn max_pending(mut self, cap: Duration) -> Self {
        self.session.max_pending = cap;
        self
    }

    /// Every session setting at once (see [`SessionConfig`]): replaces the activation,
    /// timing, reconnect and bound settings made so far (call it first, then the setters
    /// you want on top). The entity's addresses and the TLS choice stay the builder's.
    #[must_use]
    pub fn session_config(mut self, mut config: SessionConfig) -> Self {
        config.tls = self.session.tls;
        config.tls_fallback = self.session.tls_fallback;
        self.session = config;
        self
    }

    /// Whether a background thread runs the event loop (default on: alive checks are
    /// answered even while the caller does nothing). Off: everything runs inside calls.
    #[must_use]
    pub const fn background(mut self, on: bool) -> Self {
        self.background = on;
        self
    }

    /// Low-latency mode: the caller's thread runs the event loop and busy-polls for up to
    /// `spin` before sleeping while it waits for an answer (backing off when the machine is
    /// too busy for it to pay). Beats the scheduler's wake-up latency at the price of a busy
    /// core; implies `background(false)` (alive checks are then answered during calls only):
    /// call [`ClientBuilder::background`]`(true)` after it to keep the thread as well.
    #[must_use]
    pub const fn busy_poll(mut self, spin: Duration) -> Self {
        self.busy_poll = spin;
        self.background = false;
        self
    }

    /// Connects, and activates routing unless the activation type is `None`.
    ///
    /// # Errors
    /// An invalid tester address, the connect error, or the activation refusal.
    pub fn connect(self) -> Result<Client> {
        let (config, dial) = self.parts()?;
        let peer = dial.peer;
        let core = Core { wire: Wire::new(Session::new(config), dial), done: HashMap::new() };
        let mut driver =
            if self.background { LoopDriver::spawn(core)? } else { LoopDriver::inline(core)? };
        driver.set_busy_poll(self.busy_poll);
        let mut client = Client { driver, peer, ecu: self.ecu, settings: self };
        client.execute(Request::connect())?;
        Ok(client)
    }

    /// The same connection driven by a task on the caller's tokio runtime (see
    /// [`crate::tokio`]): every option of this builder applies but `background` and
    /// `busy_poll`, which are the blocking driver's.
    ///
    /// # Errors
    /// As [`ClientBuilder::connect`].
    #[cfg(feature = "tokio")]
    pub async fn connect_tokio(self) -> Result<crate::tokio::Client> {
        let (config, dial) = self.parts()?;
        crate::tokio::Client::start(config, dial, self.ecu, self.connect_timeout).await
    }

    /// The session configuration and how to dial, checked.
    fn parts(&self) -> Result<(SessionConfig, Dial)> {
        let mut config = self.session.clone();
        if !config.tester.is_tester() {
            return Err(Error::InvalidTesterAddress(config.tester));
        }
        let port = self.tcp_port.unwrap_or(if self.session.tls { self.tls_port } else { TCP_PORT });
        let peer = SocketAddr::new(self.ip, port);
        config.peer = peer;
        config.udp_peer = SocketAddr::new(self.ip, self.udp_port);
        let mut options = ConnectOptions::default()
            .connect_timeout(self.connect_timeout)
            .version(config.version)
            .policy(Dial::tcp_policy())
            .max_queued_bytes(Dial::TCP_QUEUE_LIMIT)
            .tester_address(config.tester);
        if let Some(ip) = self.client_ip_address {
            options = options.bind(SocketAddr::new(ip, 0));
        }
        let tls_peer = SocketAddr::new(self.ip, if config.tls { port } else { self.tls_port });
        let dial = Dial {
            peer,
            tls: self.tls.clone().map(|tls| (tls_peer, tls)),
            options,
            local_ip: self.client_ip_address,
            tap: self.tap.clone(),
        };
        Ok((config, dial))
    }
}

/// The loop thread's part: the wire, and the outcomes of finished requests until their
/// caller takes them.
#[derive(Debug)]
struct Core {
    wire: Wire,
    done: HashMap<RequestId, Result<Outcome>>,
}

impl Core {
    /// Moves the session's events out: outcomes are kept for their callers.
    fn collect(&mut self) {
        while let Some(event) = self.wire.session.poll_event() {
            if let crate::session::Event::Done { id, result } = event {
                self.wire.forget(id);
                self.done.insert(id, result);
            }
        }
    }
}

impl Handler for Core {
    fn on_event(&mut self, event_loop: &mut EventLoop, event: Event) {
        self.wire.on_event(event_loop, event);
        self.collect();
    }

    fn deadline(&self) -> Option<Instant> {
        self.wire.session.poll_timeout()
    }

    fn on_deadline(&mut self, event_loop: &mut EventLoop, now: Instant) {
        self.wire.on_timeout(event_loop, now);
        self.collect();
    }
}

/// A tester connection to one DoIP entity: the Rust counterpart of doipclient's `DoIPClient`.
/// Closed on drop.
#[derive(Debug)]
pub struct Client {
    driver: LoopDriver<Core>,
    peer: SocketAddr,
    ecu: LogicalAddress,
    settings: ClientBuilder,
}

impl Client {
    /// [`ClientBuilder::new`]`(ip, ecu).connect()`.
    ///
    /// # Errors
    /// As [`ClientBuilder::connect`].
    pub fn connect(ip: IpAddr, ecu: LogicalAddress) -> Result<Self> {
        ClientBuilder::new(ip, ecu).connect()
    }

    /// The entity's TCP address.
    #[must_use]
    pub const fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The ECU this client addresses by default.
    #[must_use]
    pub const fn ecu(&self) -> LogicalAddress {
        self.ecu
    }

    /// This tester's logical address.
    #[must_use]
    pub const fn tester(&self) -> LogicalAddress {
        self.settings.session.tester
    }

    /// The frames, bytes and errors counted so far.
    #[must_use]
    pub fn counters(&self) -> Counters {
        self.driver.inspect(|_, core| core.wire.session.counters()).unwrap_or_default()
    }

    /// Uses `timing` for the UDS answers of `ecu` from now on (`None`: the configured P2 and
    /// P2* again); see [`Session::set_uds_timing`].
    ///
    /// # Errors
    /// [`Error::Transport`] when the background driver has stopped.
    pub fn set_uds_timing(&mut self, ecu: LogicalAddress, timing: Option<UdsTiming>) -> Result<()> {
        self.driver.call(|_, core| core.wire.session.set_uds_timing(ecu, timing))?;
        Ok(())
    }

    /// Keeps `target`'s UDS session alive with TesterPresent (`3E 80`) whenever nothing was
    /// sent to it for `every` (`None` stops); sent by the background driver while the caller
    /// does anything else. See [`Session::keep_alive`].
    ///
    /// # Errors
    /// [`Error::Transport`] when the background driver has stopped.
    pub fn keep_alive(&mut self, target: LogicalAddress, every: Option<Duration>) -> Result<()> {
        self.driver.call(|event_loop, core| {
            core.wire.session.keep_alive(Instant::now(), target, every);
            core.wire.flush(event_loop);
        })?;
        Ok(())
    }

    /// Runs any session [`Request`] (with its own [`Request::timeout`] or
    /// [`Request::no_retry`], say) and waits until it is done: what every other method
    /// here does with its own request.
    ///
    /// # Errors
    /// The request's failure; [`Error::Closed`] when the client was closed meanwhile.
    pub fn execute(&mut self, request: Request) -> Result<Outcome> {
        let id = self.driver.call(|event_loop, core| {
            // What arrived while the caller was away (a close, say) reaches the session
            // before the request does.
            event_loop.poll(Some(Duration::ZERO))?;
            while let Some(event) = event_loop.next_event() {
                core.on_event(event_loop, event);
            }
            let id = core.wire.session.start(Instant::now(), request)?;
            core.wire.flush(event_loop);
            core.collect();
            Ok::<_, Error>(id)
        })??;
        let result = self.driver.run_until(None, |_, core| core.done.remove(&id))?;
        result.unwrap_or(Err(Error::Closed { peer: self.peer }))
    }

    /// Waits up to `timeout` for the oldest unsolicited frame `want` accepts.
    fn wait_unsolicited(
        &mut self,
        timeout: Duration,
        what: &'static str,
        mut want: impl FnMut(&Unsolicited) -> bool,
    ) -> Result<Unsolicited> {
        let deadline = Deadline::after(Instant::now(), timeout).instant();
        let found = self
            .driver
            .run_until(deadline, |_, core| core.wire.session.take_unsolicited(&mut want))?;
        found.ok_or(Error::Timeout { peer: self.peer, what })
    }

    /// Closes the TCP connection, waits `close_delay`, connects again (retrying for the
    /// connect timeout, e.g. while an ECU resets) and re-activates routing.
    ///
    /// # Errors
    /// The last connect or activation error.
    pub fn reconnect(&mut self, close_delay: Duration) -> Result<()> {
        self.execute(Request::reconnect(close_delay)).map(drop)
    }

    /// Sends a routing activation request and waits for the answer (doipclient's
    /// `request_activation`). Without `vm_specific`, the builder's OEM bytes are sent.
    /// `disable_retry`: never reconnect for it.
    ///
    /// # Errors
    /// [`Error::ActivationDenied`] for any code but 0x10 (0x11 is waited through);
    /// timeouts and transport errors.
    pub fn request_activation(
        &mut self,
        activation_type: ActivationType,
        vm_specific: Option<[u8; 4]>,
        disable_retry: bool,
    ) -> Result<RoutingActivationResponse> {
        let request = retry(Request::activation(activation_type, vm_specific), disable_retry);
        match self.execute(request)? {
            Outcome::Activation(response) => Ok(response),
            other => Err(unexpected(self.peer, &other)),
        }
    }

    /// Asks the entity for an alive check response over TCP (as doipclient does).
    ///
    /// # Errors
    /// Timeouts and transport errors.
    pub fn request_alive_check(&mut self) -> Result<AliveCheckResponse> {
        match self.execute(Request::alive_check())? {
            Outcome::Frame(Frame { message: Message::AliveCheckResponse(r), .. }) => Ok(r),
            other => Err(unexpected(self.peer, &other)),
        }
    }

    /// Sends `message` over UDP to the entity and waits for the answer of type `expect`.
    fn udp_request(
        &mut self,
        version: ProtocolVersion,
        message: &Message<'_>,
        expect: PayloadType,
        what: &'static str,
    ) -> Result<Message<'static>> {
        match self.execute(Request::udp(message, version, expect, None, what)?)? {
            Outcome::Frame(frame) => Ok(frame.message),
            other => Err(unexpected(self.peer, &other)),
        }
    }

    /// The entity's status (node type, sockets, max data size), asked over UDP.
    ///
    /// # Errors
    /// Timeouts and transport errors.
    pub fn request_entity_status(&mut self) -> Result<EntityStatusResponse> {
        let v = self.settings.session.version;
        let expect = PayloadType::EntityStatusResponse;
        match self.udp_request(v, &EntityStatusRequest.into(), expect, "entity status")? {
            Message::EntityStatusResponse(r) => Ok(r),
            other => Err(unexpected_message(self.peer, &other)),
        }
    }

    /// The entity's diagnostic power mode, asked over UDP.
    ///
    /// # Errors
    /// Timeouts and transport errors.
    pub fn request_diagnostic_power_mode(&mut self) -> Result<DiagnosticPowerModeResponse> {
        let v = self.settings.session.version;
        let expect = PayloadType::DiagnosticPowerModeResponse;
        match self.udp_request(v, &DiagnosticPowerModeRequest.into(), expect, "power mode")? {
            Message::DiagnosticPowerModeResponse(r) => Ok(r),
            other => Err(unexpected_message(self.peer, &other)),
        }
    }

    /// Vehicle identification, unicast to the entity, optionally by EID or VIN (version 0xFF).
    ///
    /// # Errors
    /// Timeouts (e.g. no entity with that EID/VIN) and transport errors.
    pub fn request_vehicle_identification(
        &mut self,
        eid: Option<Eid>,
        vin: Option<Vin>,
    ) -> Result<VehicleAnnouncement> {
        let request = crate::discovery::identification_request(eid, vin);
        let message = self.udp_request(
            ProtocolVersion::VehicleIdentificationDefault,
            &request,
            PayloadType::VehicleAnnouncement,
            "vehicle identification",
        )?;
        match message {
            Message::VehicleAnnouncement(a) => Ok(a),
            other => Err(unexpected_message(self.peer, &other)),
        }
    }

    /// Sends UDS `payload` to the client's ECU and waits for the diagnostic ACK
    /// (doipclient's `send_diagnostic`); read the answer with
    /// [`Client::receive_diagnostic`].
    ///
    /// # Errors
    /// [`Error::DiagnosticNack`] with the entity's code; timeouts; transport errors.
    pub fn send_diagnostic(&mut self, payload: &[u8]) -> Result<()> {
        self.send_diagnostic_to(self.ecu, payload)
    }

    /// Sends UDS `payload` to any target address (physical or functional) and waits for the
    /// diagnostic ACK (doipclient's `send_diagnostic_to_address`).
    ///
    /// # Errors
    /// As [`Client::send_diagnostic`].
    pub fn send_diagnostic_to(&mut self, target: LogicalAddress, payload: &[u8]) -> Result<()> {
        self.execute(Request::diagnostic(target, payload)).map(drop)
    }

    /// The next UDS payload from the client's ECU to this tester, waiting up to `timeout`
    /// (doipclient's `receive_diagnostic`). Messages from other ECUs stay queued for
    /// [`Client::receive_diagnostic_from_any`].
    ///
    /// # Errors
    /// Timeouts and transport errors.
    pub fn receive_diagnostic(&mut self, timeout: Duration) -> Result<Vec<u8>> {
        self.receive_diagnostic_from(Some(self.ecu), timeout).map(|(_, data)| data)
    }

    /// The next UDS payload to this tester from any ECU, with its sender.
    ///
    /// # Errors
    /// Timeouts and transport errors.
    pub fn receive_diagnostic_from_any(
        &mut self,
        timeout: Duration,
    ) -> Result<(LogicalAddress, Vec<u8>)> {
        self.receive_diagnostic_from(None, timeout)
    }

    /// The next UDS payload to this tester from `source` (any ECU when `None`), with its
    /// sender.
    ///
    /// # Errors
    /// Timeouts and transport errors.
    pub fn receive_diagnostic_from(
        &mut self,
        source: Option<LogicalAddress>,
        timeout: Duration,
    ) -> Result<(LogicalAddress, Vec<u8>)> {
        let tester = self.tester();
        let found = self.wait_unsolicited(timeout, "UDS response", |u| {
            matches!(&u.frame.message, Message::DiagnosticMessage(d)
                if d.target_address == tester && source.is_none_or(|s| s == d.source_address))
        })?;
        match found.frame.message {
            Message::DiagnosticMessage(d) => Ok((d.source_address, d.user_data.into_owned())),
            other => Err(unexpected_message(self.peer, &other)),
        }
    }

    /// A UDS request/response exchange with `target`: waits for the ACK, then for the
    /// answer within P2, extending by P2* after each "response pending" (7F sid 78), up to
    /// the pending cap. Only the ECU's answer to this request is taken: SID + 0x40
    /// (repeating the request's identifier where the service does) or `7F SID`; anything
    /// else is unsolicited ([`Client::read_doip`]). Negative answers are returned as
    /// received; a request with the suppress-positive-response bit returns an empty answer
    /// once acknowledged.
    ///
    /// # Errors
    /// Diagnostic NACK, timeouts, [`Error::PendingLimit`], [`Error::MaybeDelivered`],
    /// transport errors.
    pub fn request(&mut self, target: LogicalAddress, payload: &[u8]) -> Result<Vec<u8>> {
        self.request_with(Request::uds(target, payload))
    }

    /// [`Client::request`] for a UDS request built by the caller (with its own
    /// [`Request::timeout`], say).
    ///
    /// # Errors
    /// As [`Client::request`].
    pub fn request_with(&mut self, request: Request) -> Result<Vec<u8>> {
        match self.execute(request)? {
            Outcome::Answer(answer) => Ok(answer),
            Outcome::Acknowledged => Ok(Vec::new()),
            other => Err(unexpected(self.peer, &other)),
        }
    }

    /// Sends `payload` once to a functional `target` and collects every ECU's final answer
    /// until `timeout` passes after the ACK (an ECU's "response pending" extends the wait by
    /// P2*). When the entity closes the connection after answering, the collection ends with
    /// the answers received.
    ///
    /// # Errors
    /// Diagnostic NACK and transport errors (a connection lost before any answer); no answer
    /// at all is an empty list.
    pub fn functional_request(
        &mut self,
        target: LogicalAddress,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<Vec<(LogicalAddress, Vec<u8>)>> {
        match self.execute(Request::functional(target, payload, timeout))? {
            Outcome::Answers(answers) => Ok(answers),
            other => Err(unexpected(self.peer, &other)),
        }
    }

    /// Sends any DoIP message over TCP or UDP, as doipclient's `send_doip_message`.
    /// `disable_retry`: never reconnect for it.
    ///
    /// # Errors
    /// Encoding and transport errors.
    pub fn send_doip_message(
        &mut self,
        message: &Message<'_>,
        transport: TransportKind,
        disable_retry: bool,
    ) -> Result<()> {
        let bytes = message
            .to_bytes(self.settings.session.version)
            .map_err(doip_transport::Error::Encode)?;
        self.execute(retry(Request::raw(transport, bytes), disable_retry)).map(drop)
    }

    /// Sends a DoIP message of any payload type with these payload bytes over TCP or UDP, as
    /// doipclient's `send_doip` (the header is added with the configured version).
    ///
    /// # Errors
    /// Encoding and transport errors.
    pub fn send_doip(
        &mut self,
        payload_type: PayloadType,
        payload: &[u8],
        transport: TransportKind,
        disable_retry: bool,
    ) -> Result<()> {
        let message = Message::unknown(payload_type, payload.to_vec());
        self.send_doip_message(&message, transport, disable_retry)
    }

    /// The next DoIP message that answered no request, on TCP or on the UDP socket
    /// (doipclient's `read_doip`); a generic NACK the entity sent is one too.
    ///
    /// # Errors
    /// Timeouts and transport errors.
    pub fn read_doip(
        &mut self,
        timeout: Duration,
        transport: TransportKind,
    ) -> Result<Frame<'static>> {
        self.wait_unsolicited(timeout, "a DoIP message", |u| u.transport == transport)
            .map(|u| u.frame)
    }

    /// The oldest frame that answered no request, if one is queued (late or stale answers,
    /// periodic data, answers to [`Client::send_diagnostic`]); does not wait.
    ///
    /// # Errors
    /// When the background loop is gone.
    pub fn take_unsolicited(&mut self) -> Result<Option<Unsolicited>> {
        Ok(self.driver.call(|_, core| core.wire.session.poll_unsolicited())?)
    }

    /// Drops every received message not yet read; returns how many.
    ///
    /// # Errors
    /// When the background loop is gone.
    pub fn empty_rxqueue(&mut self) -> Result<usize> {
        Ok(self.driver.call(|_, core| core.wire.session.clear_unsolicited())?)
    }

    /// Drops the received UDS messages from `source` to this tester not yet read (stale
    /// answers before a new request, udsoncan's `empty_rxqueue`); returns how many. Other
    /// ECUs' messages stay queued.
    ///
    /// # Errors
    /// When the background loop is gone.
    pub fn empty_rxqueue_from(&mut self, source: LogicalAddress) -> Result<usize> {
        let tester = self.tester();
        Ok(self.driver.call(|_, core| {
            let mut dropped = 0;
            while core
                .wire
                .session
                .take_unsolicited(|u| {
                    matches!(&u.frame.message, Message::DiagnosticMessage(d)
                        if d.source_address == source && d.target_address == tester)
                })
                .is_some()
            {
                dropped += 1;
            }
            dropped
        })?)
    }

    /// Sets the OEM-specific bytes of routing activation for every later activation and
    /// reconnect (doipclient's `vm_specific` setter).
    ///
    /// # Errors
    /// When the background loop is gone.
    pub fn set_vm_specific(&mut self, data: Option<[u8; 4]>) -> Result<()> {
        self.settings.session.oem_specific = data;
        Ok(self.driver.call(|_, core| core.wire.session.set_oem_specific(data))?)
    }

    /// Drops every request not yet sent and returns how many (doipclient's
    /// `empty_txqueue`). A blocking client sends each call's request before the call
    /// returns, so between calls this is 0.
    ///
    /// # Errors
    /// When the background loop is gone.
    pub fn empty_txqueue(&mut self) -> Result<usize> {
        Ok(self.driver.call(|_, core| core.wire.session.cancel_waiting(Instant::now()))?)
    }

    /// Closes the connection (also done on drop).
    ///
    /// # Errors
    /// When the background loop is gone.
    pub fn close(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        Ok(self.driver.call(|event_loop, core| {
            core.wire.session.close(Instant::now());
            core.wire.flush(event_loop);
            core.wire.shutdown(event_loop);
            core.collect();
        })?)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// `request`, without reconnects when `disable_retry`.
fn retry(request: Request, disable_retry: bool) -> Request {
    if disable_retry { request.no_retry() } else { request }
}

pub(crate) fn unexpected(peer: SocketAddr, outcome: &Outcome) -> Error {
    Error::Transport(doip_transport::Error::Io {
        peer: Some(peer),
        source: std::io::Error::other(format!("unexpected outcome {outcome:?}")),
    })
}

pub(crate) fn unexpected_message(peer: SocketAddr, message: &Message<'_>) -> Error {
    Error::Transport(doip_transport::Error::Io {
        peer: Some(peer),
        source: std::io::Error::other(format!("unexpected message {message}")),
    })
}
