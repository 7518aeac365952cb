//! [`Client`]: one tester connection to one DoIP entity, blocking.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use doip_proto::{
    ActivationType, AliveCheckRequest, AliveCheckResponse, DiagnosticMessage,
    DiagnosticPowerModeRequest, DiagnosticPowerModeResponse, Eid, EntityStatusRequest,
    EntityStatusResponse, Frame, LogicalAddress, Message, ProtocolVersion,
    RoutingActivationRequest, RoutingActivationResponse, VehicleAnnouncement, Vin,
};
use doip_transport::{
    Blocking, ConnectOptions, DISCOVERY_PORT, Handle, TlsClient, UdpOptions, timing,
};

use crate::{Error, Result};

/// TCP_DATA port without TLS.
pub const TCP_PORT: u16 = 13400;

/// Which socket a raw DoIP message goes over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// The TCP_DATA connection.
    Tcp,
    /// UDP to the entity's discovery port.
    Udp,
}

/// Counters a caller can read at any time ([`Client::counters`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// DoIP messages sent (TCP and UDP).
    pub frames_sent: u64,
    /// DoIP messages received.
    pub frames_received: u64,
    /// Bytes sent (DoIP headers included).
    pub bytes_sent: u64,
    /// Bytes received (DoIP headers included).
    pub bytes_received: u64,
    /// Diagnostic NACKs received.
    pub nacks: u64,
    /// Reconnects performed.
    pub reconnects: u64,
}

/// Everything [`Client`] needs to connect, with doipclient's defaults.
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    ip: IpAddr,
    ecu: LogicalAddress,
    tcp_port: Option<u16>,
    udp_port: u16,
    activation_type: Option<ActivationType>,
    vm_specific: Option<[u8; 4]>,
    protocol_version: ProtocolVersion,
    client_logical_address: LogicalAddress,
    client_ip_address: Option<IpAddr>,
    tls: Option<TlsClient>,
    auto_reconnect_tcp: bool,
    connect_timeout: Duration,
    ack_timeout: Duration,
    udp_timeout: Duration,
    p2: Duration,
    p2_star: Duration,
    background: bool,
    busy_poll: Duration,
}

impl ClientBuilder {
    /// A client for the ECU `ecu` behind the entity at `ip`: TCP 13400 (3496 with TLS), UDP
    /// 13400, default activation, version 0x02, tester 0x0E00, 2 s timeouts, P2* 5 s, and a
    /// background thread that answers alive checks while the caller is idle.
    #[must_use]
    pub fn new(ip: IpAddr, ecu: LogicalAddress) -> Self {
        Self {
            ip,
            ecu,
            tcp_port: None,
            udp_port: DISCOVERY_PORT,
            activation_type: Some(ActivationType::Default),
            vm_specific: None,
            protocol_version: ProtocolVersion::Iso2012,
            client_logical_address: LogicalAddress::DEFAULT_TESTER,
            client_ip_address: None,
            tls: None,
            auto_reconnect_tcp: false,
            connect_timeout: timing::A_DOIP_CTRL,
            ack_timeout: timing::A_DOIP_DIAGNOSTIC_MESSAGE,
            udp_timeout: timing::A_DOIP_CTRL,
            p2: timing::A_PROCESSING_TIME,
            p2_star: Duration::from_secs(5),
            background: true,
            busy_poll: Duration::ZERO,
        }
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

    /// Activation type sent on connect; `None` skips routing activation.
    #[must_use]
    pub const fn activation_type(mut self, activation_type: Option<ActivationType>) -> Self {
        self.activation_type = activation_type;
        self
    }

    /// OEM-specific bytes sent with the activation request.
    #[must_use]
    pub const fn vm_specific(mut self, data: Option<[u8; 4]>) -> Self {
        self.vm_specific = data;
        self
    }

    /// Protocol version (0x02 default; 0x01 and 0x03 also spoken).
    #[must_use]
    pub const fn protocol_version(mut self, version: ProtocolVersion) -> Self {
        self.protocol_version = version;
        self
    }

    /// The tester's logical address (default 0x0E00; must be in 0x0E00–0x0FFF).
    #[must_use]
    pub const fn client_logical_address(mut self, address: LogicalAddress) -> Self {
        self.client_logical_address = address;
        self
    }

    /// Local IP address to connect from.
    #[must_use]
    pub const fn client_ip_address(mut self, ip: IpAddr) -> Self {
        self.client_ip_address = Some(ip);
        self
    }

    /// DoIP over TLS with this configuration (see `doip_transport::tls`).
    #[must_use]
    pub fn tls(mut self, tls: TlsClient) -> Self {
        self.tls = Some(tls);
        self
    }

    /// When a request finds the connection closed, reconnect (re-activating routing) and
    /// retry once, as doipclient's `auto_reconnect_tcp`.
    #[must_use]
    pub const fn auto_reconnect_tcp(mut self, on: bool) -> Self {
        self.auto_reconnect_tcp = on;
        self
    }

    /// How long connecting (and a TLS handshake) may take.
    #[must_use]
    pub const fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long to wait for a diagnostic ACK/NACK (`A_DoIP_Diagnostic_Message`, 2 s).
    #[must_use]
    pub const fn ack_timeout(mut self, timeout: Duration) -> Self {
        self.ack_timeout = timeout;
        self
    }

    /// How long to wait for an answer over UDP (entity status, power mode, identification;
    /// `A_DoIP_Ctrl`, 2 s).
    #[must_use]
    pub const fn udp_timeout(mut self, timeout: Duration) -> Self {
        self.udp_timeout = timeout;
        self
    }

    /// UDS P2 (first answer) and P2* (after each "response pending").
    #[must_use]
    pub const fn uds_timing(mut self, p2: Duration, p2_star: Duration) -> Self {
        self.p2 = p2;
        self.p2_star = p2_star;
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
    /// `spin` before sleeping while it waits for an answer. Beats the scheduler's wake-up
    /// latency at the price of a busy core; implies `background(false)` (alive checks are
    /// then answered during calls only).
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
        if !self.client_logical_address.is_tester() {
            return Err(Error::InvalidTesterAddress(self.client_logical_address));
        }
        let mut transport = if self.background { Blocking::spawn()? } else { Blocking::new()? };
        transport.set_busy_poll(self.busy_poll);
        let port = self.tcp_port.unwrap_or(if self.tls.is_some() {
            doip_transport::tls::TLS_PORT
        } else {
            TCP_PORT
        });
        let peer = SocketAddr::new(self.ip, port);
        let mut client = Client {
            transport,
            tcp: None,
            udp: None,
            peer,
            settings: self,
            queued: VecDeque::new(),
            counters: Counters::default(),
        };
        client.open()?;
        Ok(client)
    }
}

/// A tester connection to one DoIP entity: the Rust counterpart of doipclient's `DoIPClient`.
/// Closed on drop.
#[derive(Debug)]
pub struct Client {
    transport: Blocking,
    tcp: Option<Handle>,
    udp: Option<Handle>,
    peer: SocketAddr,
    settings: ClientBuilder,
    /// Messages that arrived while waiting for something else, oldest first.
    queued: VecDeque<Frame<'static>>,
    counters: Counters,
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

    /// The frames, bytes and errors counted so far.
    #[must_use]
    pub const fn counters(&self) -> Counters {
        self.counters
    }

    /// TCP connect (+ TLS) and, unless disabled, routing activation.
    fn open(&mut self) -> Result<()> {
        let s = &self.settings;
        let mut options = ConnectOptions::default()
            .connect_timeout(s.connect_timeout)
            .version(s.protocol_version)
            .tester_address(s.client_logical_address);
        if let Some(ip) = s.client_ip_address {
            options = options.bind(SocketAddr::new(ip, 0));
        }
        if let Some(tls) = &s.tls {
            options = options.tls(tls.clone());
        }
        self.tcp = Some(self.transport.connect(self.peer, options)?);
        if let Some(kind) = s.activation_type {
            let vm = s.vm_specific;
            self.request_activation(kind, vm, true)?;
        }
        Ok(())
    }

    fn tcp(&self) -> Result<Handle> {
        self.tcp.ok_or(Error::Transport(doip_transport::Error::NotConnected { peer: self.peer }))
    }

    /// Runs `op`; when it fails because the connection is gone and auto-reconnect is on (and
    /// `retry`), reconnects, re-activates and runs it once more.
    fn retrying<T>(
        &mut self,
        retry: bool,
        mut op: impl FnMut(&mut Self) -> Result<T>,
    ) -> Result<T> {
        match op(self) {
            Err(Error::Transport(e))
                if retry && self.settings.auto_reconnect_tcp && e.is_transient() =>
            {
                log::info!("connection to {} lost ({e}); reconnecting", self.peer);
                self.reconnect(Duration::ZERO)?;
                op(self)
            }
            other => other,
        }
    }

    /// Closes the TCP connection, waits `close_delay`, connects again (retrying until the
    /// connect timeout, e.g. while an ECU resets) and re-activates routing.
    ///
    /// # Errors
    /// The last connect or activation error.
    pub fn reconnect(&mut self, close_delay: Duration) -> Result<()> {
        if let Some(h) = self.tcp.take() {
            self.transport.close(h)?;
        }
        std::thread::sleep(close_delay);
        self.queued.clear();
        let until = Instant::now() + self.settings.connect_timeout;
        loop {
            match self.open() {
                Ok(()) => {
                    self.counters.reconnects += 1;
                    return Ok(());
                }
                Err(Error::Transport(e)) if e.is_transient() && Instant::now() < until => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn send_tcp(&mut self, message: &Message<'_>) -> Result<()> {
        let h = self.tcp()?;
        log::debug!("{} <- {message}", self.peer);
        if let Err(e) = self.transport.send(h, message) {
            // A connection the peer closed is gone from the loop: report it as such.
            return Err(match e {
                doip_transport::Error::UnknownHandle(_) => {
                    self.tcp = None;
                    doip_transport::Error::NotConnected { peer: self.peer }.into()
                }
                e => e.into(),
            });
        }
        self.count_sent(message);
        Ok(())
    }

    fn count_sent(&mut self, message: &Message<'_>) {
        self.counters.frames_sent += 1;
        self.counters.bytes_sent += message.encoded_len() as u64;
    }

    fn count_received(&mut self, frame: &Frame<'_>) {
        self.counters.frames_received += 1;
        self.counters.bytes_received += 8 + u64::from(frame.header.payload_length);
    }

    /// Waits for a TCP message matching `want`; others are queued for later reads.
    fn wait_for(
        &mut self,
        what: &'static str,
        deadline: Instant,
        want: impl Fn(&Message<'_>) -> bool,
    ) -> Result<Frame<'static>> {
        if let Some(i) = self.queued.iter().position(|f| want(&f.message)) {
            return Ok(self.queued.remove(i).unwrap_or_else(|| unreachable!()));
        }
        let h = self.tcp()?;
        loop {
            let frame = match self.transport.recv_frame(h, deadline) {
                Ok(frame) => frame,
                Err(doip_transport::Error::Timeout { .. }) => {
                    return Err(Error::Timeout { peer: self.peer, what });
                }
                Err(e) => {
                    if connection_lost(&e) {
                        // The transport has dropped the handle; a reconnect makes a new one.
                        self.tcp = None;
                    }
                    return Err(e.into());
                }
            };
            self.count_received(&frame);
            log::debug!("{} -> {}", self.peer, frame.message);
            if want(&frame.message) {
                return Ok(frame);
            }
            self.queued.push_back(frame);
        }
    }

    /// Sends a routing activation request and checks the answer (doipclient's
    /// `request_activation`).
    ///
    /// # Errors
    /// [`Error::ActivationDenied`] for any code but 0x10 (0x11 included: ask again after
    /// confirmation); [`Error::ActivationMismatch`]; timeouts and transport errors.
    pub fn request_activation(
        &mut self,
        activation_type: ActivationType,
        vm_specific: Option<[u8; 4]>,
        disable_retry: bool,
    ) -> Result<RoutingActivationResponse> {
        let tester = self.settings.client_logical_address;
        let mut request =
            RoutingActivationRequest::new(tester).with_activation_type(activation_type);
        request.oem_specific = vm_specific;
        let timeout = self.settings.p2;
        let frame = self.retrying(!disable_retry, |c| {
            c.send_tcp(&request.into())?;
            c.wait_for("routing activation response", Instant::now() + timeout, |m| {
                matches!(m, Message::RoutingActivationResponse(_))
            })
        })?;
        let Message::RoutingActivationResponse(response) = frame.message else { unreachable!() };
        if response.tester_address != tester {
            return Err(Error::ActivationMismatch {
                peer: self.peer,
                expected: tester,
                got: response.tester_address,
            });
        }
        if !response.response_code.is_success() {
            return Err(Error::ActivationDenied { peer: self.peer, code: response.response_code });
        }
        if let Some(h) = self.tcp {
            self.transport.with_loop(move |l| l.set_tester_address(h, tester))??;
        }
        Ok(response)
    }

    /// Asks the entity for an alive check response over TCP (as doipclient does).
    ///
    /// # Errors
    /// Timeouts and transport errors.
    pub fn request_alive_check(&mut self) -> Result<AliveCheckResponse> {
        let timeout = self.settings.p2;
        let frame = self.retrying(true, |c| {
            c.send_tcp(&AliveCheckRequest.into())?;
            c.wait_for("alive check response", Instant::now() + timeout, |m| {
                matches!(m, Message::AliveCheckResponse(_))
            })
        })?;
        match frame.message {
            Message::AliveCheckResponse(r) => Ok(r),
            _ => unreachable!(),
        }
    }

    /// The UDP endpoint for requests to the entity, bound on first use.
    fn udp_handle(&mut self) -> Result<Handle> {
        if let Some(h) = self.udp {
            return Ok(h);
        }
        let any: SocketAddr = if self.peer.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let options = UdpOptions::new(any)
            .answer_nacks(false)
            .policy(doip_proto::HeaderPolicy::udp().with_unknown_payload_types(true));
        let h = self.transport.with_loop(move |l| l.bind_udp(options))??;
        self.udp = Some(h);
        Ok(h)
    }

    /// Sends `message` over UDP to the entity and waits (the UDP timeout) for the answer
    /// `want` accepts.
    fn udp_request(
        &mut self,
        version: ProtocolVersion,
        message: &Message<'_>,
        what: &'static str,
        want: impl Fn(&Message<'_>) -> bool,
    ) -> Result<Frame<'static>> {
        self.udp_send(version, message)?;
        self.udp_wait(what, Instant::now() + self.settings.udp_timeout, want)
    }

    /// Sends one datagram to the entity's UDP port.
    fn udp_send(&mut self, version: ProtocolVersion, message: &Message<'_>) -> Result<()> {
        let to = SocketAddr::new(self.peer.ip(), self.settings.udp_port);
        let h = self.udp_handle()?;
        self.transport.with_loop(|l| l.send_to_with_version(h, to, version, message))??;
        self.count_sent(message);
        Ok(())
    }

    /// The next datagram `want` accepts (others are dropped), until `deadline`.
    fn udp_wait(
        &mut self,
        what: &'static str,
        deadline: Instant,
        want: impl Fn(&Message<'_>) -> bool,
    ) -> Result<Frame<'static>> {
        let h = self.udp_handle()?;
        loop {
            match self.transport.recv_frame(h, deadline) {
                Ok(frame) if want(&frame.message) => {
                    self.count_received(&frame);
                    return Ok(frame);
                }
                Ok(_) => {}
                Err(doip_transport::Error::Timeout { .. }) => {
                    let peer = SocketAddr::new(self.peer.ip(), self.settings.udp_port);
                    return Err(Error::Timeout { peer, what });
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The entity's status (node type, sockets, max data size), asked over UDP.
    ///
    /// # Errors
    /// Timeouts and transport errors.
    pub fn request_entity_status(&mut self) -> Result<EntityStatusResponse> {
        let v = self.settings.protocol_version;
        let frame = self.udp_request(v, &EntityStatusRequest.into(), "entity status", |m| {
            matches!(m, Message::EntityStatusResponse(_))
        })?;
        match frame.message {
            Message::EntityStatusResponse(r) => Ok(r),
            _ => unreachable!(),
        }
    }

    /// The entity's diagnostic power mode, asked over UDP.
    ///
    /// # Errors
    /// Timeouts and transport errors.
    pub fn request_diagnostic_power_mode(&mut self) -> Result<DiagnosticPowerModeResponse> {
        let v = self.settings.protocol_version;
        let frame = self.udp_request(v, &DiagnosticPowerModeRequest.into(), "power mode", |m| {
            matches!(m, Message::DiagnosticPowerModeResponse(_))
        })?;
        match frame.message {
            Message::DiagnosticPowerModeResponse(r) => Ok(r),
            _ => unreachable!(),
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
        let frame = self.udp_request(
            ProtocolVersion::VehicleIdentificationDefault,
            &request,
            "vehicle identification",
            |m| matches!(m, Message::VehicleAnnouncement(_)),
        )?;
        match frame.message {
            Message::VehicleAnnouncement(a) => Ok(a),
            _ => unreachable!(),
        }
    }

    /// Sends UDS `payload` to the client's ECU and waits for the diagnostic ACK.
    ///
    /// # Errors
    /// [`Error::DiagnosticNack`] with the entity's code; timeouts; transport errors.
    pub fn send_diagnostic(&mut self, payload: &[u8]) -> Result<()> {
        let ecu = self.settings.ecu;
        self.send_diagnostic_to(ecu, payload)
    }

    /// Sends UDS `payload` to any target address (physical or functional) and waits for the
    /// diagnostic ACK.
    ///
    /// # Errors
    /// As [`Client::send_diagnostic`].
    pub fn send_diagnostic_to(&mut self, target: LogicalAddress, payload: &[u8]) -> Result<()> {
        if payload.is_empty() {
            return Err(Error::EmptyPayload);
        }
        let tester = self.settings.client_logical_address;
        let timeout = self.settings.ack_timeout;
        let peer = self.peer;
        let frame = self.retrying(true, |c| {
            c.send_tcp(&DiagnosticMessage::new(tester, target, payload).into())?;
            c.wait_for("diagnostic ACK", Instant::now() + timeout, |m| {
                matches!(
                    m,
                    Message::DiagnosticMessagePositiveAck(_)
                        | Message::DiagnosticMessageNegativeAck(_)
                )
            })
        })?;
        match frame.message {
            Message::DiagnosticMessageNegativeAck(nack) => {
                self.counters.nacks += 1;
                Err(Error::DiagnosticNack { peer, target, code: nack.code })
            }
            _ => Ok(()),
        }
    }

    /// The next UDS payload from any ECU, waiting up to `timeout` (queued ones first).
    ///
    /// # Errors
    /// Timeouts and transport errors.
    pub fn receive_diagnostic(&mut self, timeout: Duration) -> Result<Vec<u8>> {
        self.receive_from(None, Instant::now() + timeout).map(|(_, data)| data)
    }

    /// The next UDS payload from `source` (any ECU when `None`), with its sender.
    ///
    /// # Errors
    /// Timeouts and transport errors.
    pub fn receive_diagnostic_from(
        &mut self,
        source: Option<LogicalAddress>,
        timeout: Duration,
    ) -> Result<(LogicalAddress, Vec<u8>)> {
        self.receive_from(source, Instant::now() + timeout)
    }

    fn receive_from(
        &mut self,
        source: Option<LogicalAddress>,
        deadline: Instant,
    ) -> Result<(LogicalAddress, Vec<u8>)> {
        let frame = self.wait_for("UDS response", deadline, |m| {
            matches!(m, Message::DiagnosticMessage(d) if source.is_none_or(|s| s == d.source_address))
        })?;
        match frame.message {
            Message::DiagnosticMessage(d) => Ok((d.source_address, d.user_data.into_owned())),
            _ => unreachable!(),
        }
    }

    /// A UDS request/response exchange with `target`: waits for the ACK, then for the answer
    /// within P2, extending by P2* after each "response pending" (7F sid 78). Negative
    /// answers are returned as received.
    ///
    /// # Errors
    /// Diagnostic NACK, timeouts, transport errors.
    pub fn request(&mut self, target: LogicalAddress, payload: &[u8]) -> Result<Vec<u8>> {
        self.send_diagnostic_to(target, payload)?;
        let mut deadline = Instant::now() + self.settings.p2;
        loop {
            let (_, answer) = self.receive_from(Some(target), deadline)?;
            if is_pending(&answer, payload) {
                deadline = Instant::now() + self.settings.p2_star;
                continue;
            }
            return Ok(answer);
        }
    }

    /// Sends `payload` once to a functional `target` and collects every ECU's final answer
    /// until `timeout` passes (an ECU's "response pending" extends the wait by P2*). When the
    /// entity closes the connection after answering, the collection ends with the answers
    /// received.
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
        self.send_diagnostic_to(target, payload)?;
        let mut deadline = Instant::now() + timeout;
        let mut answers = Vec::new();
        loop {
            match self.receive_from(None, deadline) {
                Ok((ecu, answer)) if is_pending(&answer, payload) => {
                    deadline = deadline.max(Instant::now() + self.settings.p2_star);
                    log::debug!("{ecu}: response pending");
                }
                Ok(pair) => answers.push(pair),
                Err(Error::Timeout { .. }) => return Ok(answers),
                Err(Error::Transport(e)) if connection_lost(&e) && !answers.is_empty() => {
                    log::info!("{}: connection closed after {} answers", self.peer, answers.len());
                    return Ok(answers);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends any DoIP message over TCP or UDP, as doipclient's `send_doip_message`.
    ///
    /// # Errors
    /// Transport errors.
    pub fn send_doip_message(
        &mut self,
        message: &Message<'_>,
        transport: TransportKind,
    ) -> Result<()> {
        match transport {
            TransportKind::Tcp => self.send_tcp(message),
            TransportKind::Udp => self.udp_send(self.settings.protocol_version, message),
        }
    }

    /// The next DoIP message on TCP (queued ones first) or on the UDP socket, as
    /// doipclient's `read_doip`.
    ///
    /// # Errors
    /// Timeouts and transport errors.
    pub fn read_doip(
        &mut self,
        timeout: Duration,
        transport: TransportKind,
    ) -> Result<Frame<'static>> {
        let deadline = Instant::now() + timeout;
        match transport {
            TransportKind::Tcp => self.wait_for("a DoIP message", deadline, |_| true),
            TransportKind::Udp => self.udp_wait("a datagram", deadline, |_| true),
        }
    }

    /// Drops every message received and not yet read.
    pub fn empty_rxqueue(&mut self) {
        self.queued.clear();
        if let Some(h) = self.tcp {
            while let Ok(frame) = self.transport.recv_frame(h, Instant::now()) {
                log::debug!("dropping {}", frame.message);
            }
        }
    }

    /// Nothing is ever left unsent between calls; kept for doipclient parity.
    pub fn empty_txqueue(&mut self) {}

    /// Closes the connection (also done on drop).
    ///
    /// # Errors
    /// When the background loop is gone.
    pub fn close(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        if let Some(h) = self.tcp.take() {
            self.transport.close(h)?;
        }
        if let Some(h) = self.udp.take() {
            self.transport.close(h)?;
        }
        Ok(())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Whether the error means the TCP connection is gone.
fn connection_lost(e: &doip_transport::Error) -> bool {
    use doip_transport::Error as E;
    matches!(e, E::ClosedByPeer { .. } | E::TlsTruncated { .. } | E::Tls { .. } | E::Io { .. })
}

/// Whether `answer` is "response pending" (7F sid 78) for `request`.
fn is_pending(answer: &[u8], request: &[u8]) -> bool {
    matches!(answer, [0x7F, sid, 0x78] if Some(sid) == request.first())
}
