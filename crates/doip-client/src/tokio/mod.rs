//! The tokio driver (feature `tokio`): the tester [`Session`] driven by one task on the
//! caller's runtime, for async services that talk to many ECUs at once.
//!
//! [`Client`] is a cheap `Clone + Send + Sync` handle: tasks may call [`Client::request`] on
//! clones at once; requests to different ECUs are in flight together on the one connection
//! (the session matches every answer to its request), requests to one ECU queue in order.
//! Dropping a request's future (a `tokio::time::timeout`, a `select!`) cancels it in the
//! session: its late answer becomes unsolicited, never the next caller's. The driver task
//! answers alive checks at all times and reconnects as the blocking client does.
//!
//! ```no_run
//! use doip_client::{LogicalAddress, tokio::Client};
//!
//! # async fn demo() -> doip_client::Result<()> {
//! let client = Client::connect("192.0.2.10".parse().unwrap(), LogicalAddress(0x4010)).await?;
//! let (a, b) = (client.clone(), client.clone());
//! // Two ECUs behind one gateway, asked at once on one connection.
//! let (engine, brakes) = tokio::join!(
//!     a.request(LogicalAddress(0x4011), &[0x22, 0xF1, 0x90]),
//!     b.request(LogicalAddress(0x4012), &[0x22, 0xF1, 0x90]),
//! );
//! println!("{:02x?} {:02x?}", engine?, brakes?);
//! client.close().await?;
//! # Ok(())
//! # }
//! ```

mod driver;
mod streams;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use doip_proto::{
    ActivationType, AliveCheckResponse, DiagnosticPowerModeRequest, DiagnosticPowerModeResponse,
    Eid, EntityStatusRequest, EntityStatusResponse, Frame, LogicalAddress, Message, PayloadType,
    ProtocolVersion, RoutingActivationResponse, VehicleAnnouncement, Vin,
};
use tokio::sync::{Notify, oneshot};

use crate::client::{unexpected, unexpected_message};
use crate::session::{
    Counters, Outcome, Request, RequestId, Session, SessionConfig, TransportKind, UdsTiming,
    Unsolicited,
};
use crate::wire::Dial;
use crate::{ClientBuilder, Error, Result};

pub use streams::{Announcements, UnsolicitedStream, announcements};

/// The session's clock: tokio's (a paused test clock included), as a std `Instant`, so the
/// session's deadlines and the driver's sleeps agree.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// What the handles and the driver task share.
#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// The driver has something to do (a request started, a cancel, a close).
    wake: Notify,
    /// Something arrived or finished: waiters for unsolicited frames look again.
    arrived: Notify,
    /// Every handle is gone, or `close` was called.
    closing: AtomicBool,
}

#[derive(Debug)]
struct State {
    session: Session,
    /// Who waits for which request.
    replies: HashMap<RequestId, oneshot::Sender<Result<Outcome>>>,
    /// The driver task has ended.
    ended: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The handles' common part: the driver stops when the last handle is dropped.
#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    peer: SocketAddr,
    ecu: LogicalAddress,
    tester: LogicalAddress,
    version: ProtocolVersion,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
    }
}

/// A tester connection to one DoIP entity, driven by a task on the caller's tokio runtime:
/// the async counterpart of [`crate::Client`], same operations, same names.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

/// Cancels a request whose future was dropped before it finished.
struct Pending<'a> {
    shared: &'a Shared,
    id: Option<RequestId>,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let mut state = self.shared.lock();
            if state.replies.remove(&id).is_some() {
                state.session.cancel(now(), id);
            }
            drop(state);
            self.shared.wake.notify_one();
        }
    }
}

impl Client {
    /// [`ClientBuilder::new`]`(ip, ecu).connect_tokio().await`.
    ///
    /// # Errors
    /// As [`ClientBuilder::connect`].
    pub async fn connect(ip: IpAddr, ecu: LogicalAddress) -> Result<Self> {
        ClientBuilder::new(ip, ecu).connect_tokio().await
    }

    /// Spawns the driver task and connects.
    pub(crate) async fn start(
        config: SessionConfig,
        dial: Dial,
        ecu: LogicalAddress,
        connect_timeout: Duration,
    ) -> Result<Self> {
        let (peer, tester, version) = (config.peer, config.tester, config.version);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                session: Session::new(config),
                replies: HashMap::new(),
                ended: false,
            }),
            wake: Notify::new(),
            arrived: Notify::new(),
            closing: AtomicBool::new(false),
        });
        let link = driver::Link::new(dial, tester, version, connect_timeout);
        tokio::spawn(driver::run(shared.clone(), link));
        let client = Self { inner: Arc::new(Inner { shared, peer, ecu, tester, version }) };
        client.execute(Request::connect()).await?;
        Ok(client)
    }

    /// The entity's TCP address.
    #[must_use]
    pub fn peer(&self) -> SocketAddr {
        self.inner.peer
    }

    /// The ECU this client addresses by default.
    #[must_use]
    pub fn ecu(&self) -> LogicalAddress {
        self.inner.ecu
    }

    /// This tester's logical address.
    #[must_use]
    pub fn tester(&self) -> LogicalAddress {
        self.inner.tester
    }

    /// The frames, bytes and errors counted so far.
    #[must_use]
    pub fn counters(&self) -> Counters {
        self.inner.shared.lock().session.counters()
    }

    /// Runs any session [`Request`] and waits until it is done (what every other method does
    /// with its own request). Dropping the future cancels the request.
    ///
    /// # Errors
    /// The request's failure; [`Error::Closed`] when the client was closed meanwhile.
    pub async fn execute(&self, request: Request) -> Result<Outcome> {
        let shared = &*self.inner.shared;
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut state = shared.lock();
            if state.ended {
                return Err(Error::Closed { peer: self.inner.peer });
            }
            let id = state.session.start(now(), request)?;
            state.replies.insert(id, tx);
            id
        };
        shared.wake.notify_one();
        let mut pending = Pending { shared, id: Some(id) };
        let result = rx.await;
        pending.id = None;
        result.unwrap_or(Err(Error::Closed { peer: self.inner.peer }))
    }

    /// Waits up to `timeout` (`Duration::MAX`: forever) for the oldest unsolicited frame
    /// `want` accepts.
    async fn wait_unsolicited(
        &self,
        timeout: Duration,
        what: &'static str,
        want: impl FnMut(&Unsolicited) -> bool,
    ) -> Result<Unsolicited> {
        wait_unsolicited(&self.inner.shared, self.inner.peer, timeout, what, want).await
    }

    /// Closes the TCP connection, waits `close_delay`, connects again and re-activates
    /// routing.
    ///
    /// # Errors
    /// The last connect or activation error.
    pub async fn reconnect(&self, close_delay: Duration) -> Result<()> {
        self.execute(Request::reconnect(close_delay)).await.map(drop)
    }

    /// Routing activation (see [`crate::Client::request_activation`]).
    ///
    /// # Errors
    /// [`Error::ActivationDenied`] for any code but 0x10; timeouts and transport errors.
    pub async fn request_activation(
        &self,
        activation_type: ActivationType,
        vm_specific: Option<[u8; 4]>,
        disable_retry: bool,
    ) -> Result<RoutingActivationResponse> {
        let mut request = Request::activation(activation_type, vm_specific);
        if disable_retry {
            request = request.no_retry();
        }
        match self.execute(request).await? {
            Outcome::Activation(response) => Ok(response),
            other => Err(unexpected(self.inner.peer, &other)),
        }
    }

    /// An alive check request to the entity over TCP.
    ///
    /// # Errors
    /// Timeouts and transport errors.
    pub async fn request_alive_check(&self) -> Result<AliveCheckResponse> {
        match self.execute(Request::alive_check()).await? {
            Outcome::Frame(Frame { message: Message::AliveCheckResponse(r), .. }) => Ok(r),
            other => Err(unexpected(self.inner.peer, &other)),
        }
    }

    async fn udp_request(
        &self,
        version: ProtocolVersion,
        message: &Message<'_>,
        expect: PayloadType,
        what: &'static str,
    ) -> Result<Message<'static>> {
        match self.execute(Request::udp(message, version, expect, None, what)?).await? {
            Outcome::Frame(frame) => Ok(frame.message),
            other => Err(unexpected(self.inner.peer, &other)),
        }
    }

    /// The entity's status, asked over UDP.
    ///
    /// # Errors
    /// Timeouts and transport errors.
    pub async fn request_entity_status(&self) -> Result<EntityStatusResponse> {
        let expect = PayloadType::EntityStatusResponse;
        let m = EntityStatusRequest.into();
        match self.udp_request(self.inner.version, &m, expect, "entity status").await? {
            Message::EntityStatusResponse(r) => Ok(r),
            other => Err(unexpected_message(self.inner.peer, &other)),
        }
    }

    /// The entity's diagnostic power mode, asked over UDP.
    ///
    /// # Errors
    /// Timeouts and transport errors.
    pub async fn request_diagnostic_power_mode(&self) -> Result<DiagnosticPowerModeResponse> {
        let expect = PayloadType::DiagnosticPowerModeResponse;
        let m = DiagnosticPowerModeRequest.into();
        match self.udp_request(self.inner.version, &m, expect, "power mode").await? {
            Message::DiagnosticPowerModeResponse(r) => Ok(r),
            other => Err(unexpected_message(self.inner.peer, &other)),
        }
    }

    /// Vehicle identification, unicast to the entity, optionally by EID or VIN.
    ///
    /// # Errors
    /// Timeouts and transport errors.
    pub async fn request_vehicle_identification(
        &self,
        eid: Option<Eid>,
        vin: Option<Vin>,
    ) -> Result<VehicleAnnouncement> {
        let request = crate::discovery::identification_request(eid, vin);
        let v = ProtocolVersion::VehicleIdentificationDefault;
        let expect = PayloadType::VehicleAnnouncement;
        match self.udp_request(v, &request, expect, "vehicle identification").await? {
            Message::VehicleAnnouncement(a) => Ok(a),
            other => Err(unexpected_message(self.inner.peer, &other)),
        }
    }

    /// Sends UDS `payload` to the client's ECU and waits for the diagnostic ACK; the answer
    /// is read with [`Client::receive_diagnostic`].
    ///
    /// # Errors
    /// [`Error::DiagnosticNack`]; timeouts; transport errors.
    pub async fn send_diagnostic(&self, payload: &[u8]) -> Result<()> {
        self.send_diagnostic_to(self.inner.ecu, payload).await
    }

    /// Sends UDS `payload` to any target address and waits for the diagnostic ACK.
    ///
    /// # Errors
    /// As [`Client::send_diagnostic`].
    pub async fn send_diagnostic_to(&self, target: LogicalAddress, payload: &[u8]) -> Result<()> {
        self.execute(Request::diagnostic(target, payload)).await.map(drop)
    }

    /// The next UDS payload from the client's ECU, waiting up to `timeout`.
    ///
    /// # Errors
    /// Timeouts and transport errors.
    pub async fn receive_diagnostic(&self, timeout: Duration) -> Result<Vec<u8>> {
        self.receive_diagnostic_from(Some(self.inner.ecu), timeout).await.map(|(_, data)| data)
    }

    /// The next UDS payload to this tester from `source` (any ECU when `None`), with its
    /// sender.
    ///
    /// # Errors
    /// Timeouts and transport errors.
    pub async fn receive_diagnostic_from(
        &self,
        source: Option<LogicalAddress>,
        timeout: Duration,
    ) -> Result<(LogicalAddress, Vec<u8>)> {
        let tester = self.inner.tester;
        let found = self
            .wait_unsolicited(timeout, "UDS response", |u| {
                matches!(&u.frame.message, Message::DiagnosticMessage(d)
                if d.target_address == tester && source.is_none_or(|s| s == d.source_address))
            })
            .await?;
        match found.frame.message {
            Message::DiagnosticMessage(d) => Ok((d.source_address, d.user_data.into_owned())),
            other => Err(unexpected_message(self.inner.peer, &other)),
        }
    }

    /// A UDS request/response exchange with `target` (see [`crate::Client::request`]): only
    /// this request's own answer is taken, "response pending" is waited through.
    ///
    /// # Errors
    /// Diagnostic NACK, timeouts, [`Error::PendingLimit`], [`Error::MaybeDelivered`],
    /// transport errors.
    pub async fn request(&self, target: LogicalAddress, payload: &[u8]) -> Result<Vec<u8>> {
        match self.execute(Request::uds(target, payload)).await? {
            Outcome::Answer(answer) => Ok(answer),
            Outcome::Acknowledged => Ok(Vec::new()),
            other => Err(unexpected(self.inner.peer, &other)),
        }
    }

    /// One request to a functional `target`, every ECU's final answer collected until
    /// `timeout` after the ACK.
    ///
    /// # Errors
    /// Diagnostic NACK and transport errors; no answer at all is an empty list.
    pub async fn functional_request(
        &self,
        target: LogicalAddress,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<Vec<(LogicalAddress, Vec<u8>)>> {
        match self.execute(Request::functional(target, payload, timeout)).await? {
            Outcome::Answers(answers) => Ok(answers),
            other => Err(unexpected(self.inner.peer, &other)),
        }
    }

    /// Any DoIP message over TCP or UDP.
    ///
    /// # Errors
    /// Encoding and transport errors.
    pub async fn send_doip_message(
        &self,
        message: &Message<'_>,
        transport: TransportKind,
        disable_retry: bool,
    ) -> Result<()> {
        let bytes = message.to_bytes(self.inner.version).map_err(doip_transport::Error::Encode)?;
        let mut request = Request::raw(transport, bytes);
        if disable_retry {
            request = request.no_retry();
        }
        self.execute(request).await.map(drop)
    }

    /// The next DoIP message that answered no request on `transport`.
    ///
    /// # Errors
    /// Timeouts and transport errors.
    pub async fn read_doip(
        &self,
        timeout: Duration,
        transport: TransportKind,
    ) -> Result<Frame<'static>> {
        self.wait_unsolicited(timeout, "a DoIP message", |u| u.transport == transport)
            .await
            .map(|u| u.frame)
    }

    /// Every frame that answered no request, as it arrives (periodic data, late answers).
    #[must_use]
    pub fn unsolicited(&self) -> UnsolicitedStream {
        UnsolicitedStream::new(self.inner.shared.clone(), self.inner.peer)
    }

    /// Uses `timing` for the UDS answers of `ecu` from now on (`None`: the configured P2/P2*).
    pub fn set_uds_timing(&self, ecu: LogicalAddress, timing: Option<UdsTiming>) {
        self.inner.shared.lock().session.set_uds_timing(ecu, timing);
    }

    /// TesterPresent (`3E 80`) to `target` whenever nothing was sent to it for `every`
    /// (`None` stops), sent by the driver task.
    pub fn keep_alive(&self, target: LogicalAddress, every: Option<Duration>) {
        self.inner.shared.lock().session.keep_alive(now(), target, every);
        self.inner.shared.wake.notify_one();
    }

    /// Drops every received message not yet read; how many.
    #[must_use]
    pub fn empty_rxqueue(&self) -> usize {
        self.inner.shared.lock().session.clear_unsolicited()
    }

    /// Closes the connection for every handle; their pending requests fail with
    /// [`Error::Closed`]. Also done when the last handle is dropped.
    ///
    /// # Errors
    /// None yet; kept fallible like [`crate::Client::close`].
    pub async fn close(&self) -> Result<()> {
        let shared = &*self.inner.shared;
        shared.closing.store(true, Ordering::SeqCst);
        shared.wake.notify_one();
        loop {
            let arrived = shared.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if shared.lock().ended {
                return Ok(());
            }
            arrived.await;
        }
    }
}

/// Waits up to `timeout` (`Duration::MAX`: forever) for the oldest unsolicited frame `want`
/// accepts; [`Error::Closed`] once the driver ended and none is left.
async fn wait_unsolicited(
    shared: &Shared,
    peer: SocketAddr,
    timeout: Duration,
    what: &'static str,
    mut want: impl FnMut(&Unsolicited) -> bool,
) -> Result<Unsolicited> {
    let deadline = tokio::time::Instant::now().checked_add(timeout);
    loop {
        let arrived = shared.arrived.notified();
        tokio::pin!(arrived);
        arrived.as_mut().enable();
        {
            let mut state = shared.lock();
            if let Some(found) = state.session.take_unsolicited(&mut want) {
                return Ok(found);
            }
            if state.ended {
                return Err(Error::Closed { peer });
            }
        }
        match deadline {
            Some(at) => {
                if tokio::time::timeout_at(at, arrived).await.is_err() {
                    return Err(Error::Timeout { peer, what });
                }
            }
            None => arrived.await,
        }
    }
}
