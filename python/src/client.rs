//! `_native.Client`: one doip-client [`doip_client::Client`] (one tester connection, its
//! background thread answering alive checks), shared safely between Python threads (calls
//! run one at a time). Every call releases the GIL for as long as it waits; waits for
//! received messages wake every 100 ms to let Ctrl-C through, the others end at their
//! timeouts.

use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use doip_client::{
    ActivationType, ClientBuilder, Error, LogicalAddress, Message, PayloadType, ProtocolVersion,
    Request, TransportKind,
};
use pyo3::exceptions::{PyConnectionError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyTuple};

use crate::convert::{address, bytes_of, ip, seconds, sliced, socket_address};
use crate::errors::client_error;
use crate::messages::{from_fields, to_py};

thread_local! {
    /// Set while this thread runs a flash, whose Python callbacks must not call back into
    /// the client (its lock is held): they get an error instead of a deadlock.
    static FLASHING: Cell<bool> = const { Cell::new(false) };
}

/// The error of a call made from inside a flash's callback.
fn reentered() -> PyErr {
    PyRuntimeError::new_err("the DoIP client is busy flashing; its callbacks cannot use it")
}

/// A tester connection to one DoIP entity (see `doip_rs.DoIPClient`).
#[pyclass(module = "doip_rs._native", frozen)]
pub(crate) struct Client {
    inner: Mutex<Option<doip_client::Client>>,
    /// `close` was called (read without the lock, so never while another call holds it).
    closed: AtomicBool,
    ecu: LogicalAddress,
    tester: LogicalAddress,
    peer: SocketAddr,
}

/// `1` (doipclient's `TRANSPORT_UDP`) or `2` (`TRANSPORT_TCP`).
fn transport(value: u8) -> PyResult<TransportKind> {
    match value {
        1 => Ok(TransportKind::Udp),
        2 => Ok(TransportKind::Tcp),
        other => Err(PyValueError::new_err(format!(
            "transport must be TransportType.TRANSPORT_UDP (1) or TRANSPORT_TCP (2), not {other}"
        ))),
    }
}

impl Client {
    /// Runs `f` on the connection with the GIL released.
    fn with<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut doip_client::Client) -> doip_client::Result<T> + Send,
    ) -> PyResult<T> {
        if FLASHING.get() {
            return Err(reentered());
        }
        let result = py.detach(|| {
            let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            guard.as_mut().map(f)
        });
        match result {
            Some(Ok(value)) => Ok(value),
            Some(Err(e)) => Err(client_error(py, e)),
            None => Err(PyConnectionError::new_err("the DoIP client is closed")),
        }
    }

    /// Waits up to `timeout` (forever: `Duration::MAX`) for `f` in slices (see
    /// [`sliced`]); a closed client is [`Error::Closed`].
    fn wait<T: Send>(
        &self,
        py: Python<'_>,
        timeout: Duration,
        f: impl Fn(&mut doip_client::Client, Duration) -> doip_client::Result<T> + Send + Sync,
    ) -> PyResult<T> {
        if FLASHING.get() {
            return Err(reentered());
        }
        let peer = self.peer;
        let result = sliced(py, timeout, |slice| {
            let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            guard.as_mut().map_or(Err(Error::Closed { peer }), |c| f(c, slice))
        })?;
        result.map_err(|e| client_error(py, e))
    }
}

#[pymethods]
impl Client {
    /// Connects (TCP, or TLS with `tls`) and activates routing unless `activation_type` is
    /// `None`; a refusal raises `ActivationDeniedError` (a `ConnectionRefusedError`).
    #[new]
    #[pyo3(signature = (ecu_ip_address, ecu_logical_address, tcp_port, udp_port,
        activation_type, protocol_version, client_logical_address, client_ip_address,
        tls, auto_reconnect_tcp, vm_specific, busy_poll))]
    #[allow(clippy::too_many_arguments, clippy::fn_params_excessive_bools)]
    fn new(
        py: Python<'_>,
        ecu_ip_address: &str,
        ecu_logical_address: i64,
        tcp_port: u16,
        udp_port: u16,
        activation_type: Option<u8>,
        protocol_version: u8,
        client_logical_address: i64,
        client_ip_address: Option<&str>,
        tls: Option<crate::tls::TlsSpec>,
        auto_reconnect_tcp: bool,
        vm_specific: Option<u32>,
        busy_poll: f64,
    ) -> PyResult<Self> {
        let ecu = address("ecu_logical_address", ecu_logical_address)?;
        let tester = address("client_logical_address", client_logical_address)?;
        let entity = ip(ecu_ip_address)?;
        let mut builder = ClientBuilder::new(entity, ecu)
            .tcp_port(tcp_port)
            .udp_port(udp_port)
            .activation_type(activation_type.map(ActivationType::from))
            .protocol_version(ProtocolVersion::from(protocol_version))
            .client_logical_address(tester)
            .auto_reconnect_tcp(auto_reconnect_tcp)
            .vm_specific(vm_specific.map(u32::to_be_bytes))
            // Spin while waiting (when it pays), keeping the thread that answers alive checks.
            .busy_poll(seconds("busy_poll", Some(busy_poll))?)
            .background(true);
        if let Some(local) = client_ip_address {
            builder = builder.client_ip_address(ip(local)?);
        }
        if let Some(spec) = tls {
            builder = builder.tls(crate::tls::client(spec)?);
        }
        let client = py.detach(|| builder.connect()).map_err(|e| client_error(py, e))?;
        let peer = client.peer();
        Ok(Self {
            inner: Mutex::new(Some(client)),
            closed: AtomicBool::new(false),
            ecu,
            tester,
            peer,
        })
    }

    /// The ECU addressed by default.
    #[getter]
    fn ecu_logical_address(&self) -> u16 {
        self.ecu.0
    }

    /// This tester's logical address.
    #[getter]
    fn client_logical_address(&self) -> u16 {
        self.tester.0
    }

    /// The entity's TCP address, `(ip, port)`.
    #[getter]
    fn peer<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        socket_address(py, self.peer)
    }

    /// Routing activation; the entity's answer, also when it refuses.
    #[pyo3(signature = (activation_type, vm_specific, disable_retry))]
    fn request_activation<'py>(
        &self,
        py: Python<'py>,
        activation_type: u8,
        vm_specific: Option<u32>,
        disable_retry: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let oem = vm_specific.map(u32::to_be_bytes);
        let kind = ActivationType::from(activation_type);
        let answer = py.detach(|| {
            let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            guard.as_mut().map(|c| c.request_activation(kind, oem, disable_retry))
        });
        match answer {
            Some(Ok(response) | Err(Error::ActivationDenied { response, .. })) => {
                to_py(py, &Message::RoutingActivationResponse(response))
            }
            Some(Err(e)) => Err(client_error(py, e)),
            None => Err(PyConnectionError::new_err("the DoIP client is closed")),
        }
    }

    /// Alive check request over TCP; the response.
    fn request_alive_check<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let r = self.with(py, doip_client::Client::request_alive_check)?;
        to_py(py, &Message::AliveCheckResponse(r))
    }

    /// Entity status over UDP; the response.
    fn request_entity_status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let r = self.with(py, doip_client::Client::request_entity_status)?;
        to_py(py, &Message::EntityStatusResponse(r))
    }

    /// Diagnostic power mode over UDP; the response.
    fn request_diagnostic_power_mode<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let r = self.with(py, doip_client::Client::request_diagnostic_power_mode)?;
        to_py(py, &Message::DiagnosticPowerModeResponse(r))
    }

    /// Vehicle identification unicast to the entity, by EID or VIN or neither.
    #[pyo3(signature = (eid=None, vin=None))]
    fn request_vehicle_identification<'py>(
        &self,
        py: Python<'py>,
        eid: Option<&Bound<'py, PyAny>>,
        vin: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (eid, vin) = crate::discovery::eid_vin(eid, vin)?;
        let r = self.with(py, move |c| c.request_vehicle_identification(eid, vin))?;
        to_py(py, &Message::VehicleAnnouncement(r))
    }

    /// A diagnostic message to `target` (the ECU when `None`), waiting for its ACK up to
    /// `timeout` (forever when `None`).
    #[pyo3(signature = (payload, target=None, timeout=None))]
    fn send_diagnostic(
        &self,
        py: Python<'_>,
        payload: &Bound<'_, PyAny>,
        target: Option<i64>,
        timeout: Option<f64>,
    ) -> PyResult<()> {
        let target = target.map_or(Ok(self.ecu), |t| address("target", t))?;
        let request =
            Request::diagnostic(target, bytes_of(payload)?).timeout(seconds("timeout", timeout)?);
        self.with(py, move |c| c.execute(request)).map(drop)
    }

    /// The next UDS payload from `source` (the ECU when `None`, anyone when `-1`), waiting up
    /// to `timeout` (forever when `None`): `(source, bytearray)`.
    #[pyo3(signature = (timeout=None, source=None))]
    fn receive_diagnostic<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
        source: Option<i64>,
    ) -> PyResult<(u16, Bound<'py, PyByteArray>)> {
        let source = match source {
            None => Some(self.ecu),
            Some(-1) => None,
            Some(s) => Some(address("source", s)?),
        };
        let (from, data) = self
            .wait(py, seconds("timeout", timeout)?, |c, t| c.receive_diagnostic_from(source, t))?;
        Ok((from.0, PyByteArray::new(py, &data)))
    }

    /// A UDS exchange with `target` (the ECU when `None`): waits through "response pending"
    /// with P2/P2*; `timeout` caps the whole exchange (no cap when `None`).
    #[pyo3(signature = (payload, target=None, timeout=None))]
    fn request<'py>(
        &self,
        py: Python<'py>,
        payload: &Bound<'py, PyAny>,
        target: Option<i64>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let target = target.map_or(Ok(self.ecu), |t| address("target", t))?;
        let mut request = Request::uds(target, bytes_of(payload)?);
        if timeout.is_some() {
            request = request.timeout(seconds("timeout", timeout)?);
        }
        let answer = self.with(py, move |c| c.request_with(request))?;
        Ok(PyBytes::new(py, &answer))
    }

    /// A UDS request to a functional address, collecting every ECU's final answer for
    /// `timeout` after the ACK: `[(source, bytes), …]`.
    #[pyo3(signature = (payload, target, timeout))]
    fn functional_request<'py>(
        &self,
        py: Python<'py>,
        payload: &Bound<'py, PyAny>,
        target: i64,
        timeout: f64,
    ) -> PyResult<Vec<(u16, Bound<'py, PyBytes>)>> {
        let target = address("target", target)?;
        let window = seconds("timeout", Some(timeout))?;
        let payload = bytes_of(payload)?;
        let answers = self.with(py, move |c| c.functional_request(target, &payload, window))?;
        Ok(answers.into_iter().map(|(a, d)| (a.0, PyBytes::new(py, &d))).collect())
    }

    /// Any payload type with these payload bytes, header added.
    #[pyo3(signature = (payload_type, payload, transport, disable_retry))]
    fn send_doip(
        &self,
        py: Python<'_>,
        payload_type: u16,
        payload: &Bound<'_, PyAny>,
        transport: u8,
        disable_retry: bool,
    ) -> PyResult<()> {
        let (kind, payload) = (self::transport(transport)?, bytes_of(payload)?);
        let pt = PayloadType::from(payload_type);
        self.with(py, move |c| c.send_doip(pt, &payload, kind, disable_retry))
    }

    /// A message given as its payload type and constructor fields.
    #[pyo3(signature = (payload_type, fields, transport, disable_retry))]
    fn send_doip_message(
        &self,
        py: Python<'_>,
        payload_type: u16,
        fields: &Bound<'_, PyTuple>,
        transport: u8,
        disable_retry: bool,
    ) -> PyResult<()> {
        let (kind, message) = (self::transport(transport)?, from_fields(payload_type, fields)?);
        self.with(py, move |c| c.send_doip_message(&message, kind, disable_retry))
    }

    /// The next message that answered no request on `transport`, waiting up to `timeout`;
    /// a generic NACK raises `GenericNackError` (an `OSError`), as doipclient does.
    #[pyo3(signature = (timeout, transport))]
    fn read_doip<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
        transport: u8,
    ) -> PyResult<Bound<'py, PyAny>> {
        let kind = self::transport(transport)?;
        let frame = self.wait(py, seconds("timeout", timeout)?, |c, t| c.read_doip(t, kind))?;
        if let Message::GenericNack(nack) = &frame.message {
            let text = format!("DoIP Negative Acknowledge. NACK Code: {}", u8::from(nack.code));
            let class = PyModule::import(py, "doip_rs.exceptions")?.getattr("GenericNackError")?;
            return Err(PyErr::from_value(class.call1((text, u8::from(nack.code)))?));
        }
        to_py(py, &frame.message)
    }

    /// Drops every received message not yet read, or only the UDS messages from `source`;
    /// how many.
    #[pyo3(signature = (source=None))]
    fn empty_rxqueue(&self, py: Python<'_>, source: Option<i64>) -> PyResult<usize> {
        match source {
            None => self.with(py, doip_client::Client::empty_rxqueue),
            Some(s) => {
                let source = address("source", s)?;
                self.with(py, move |c| c.empty_rxqueue_from(source))
            }
        }
    }

    /// The OEM-specific value of later activations and reconnects.
    fn set_vm_specific(&self, py: Python<'_>, value: Option<u32>) -> PyResult<()> {
        self.with(py, move |c| c.set_vm_specific(value.map(u32::to_be_bytes)))
    }

    /// Drops every request not yet sent; how many.
    fn empty_txqueue(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, doip_client::Client::empty_txqueue)
    }

    /// Closes, waits `close_delay` seconds, connects and activates again.
    fn reconnect(&self, py: Python<'_>, close_delay: f64) -> PyResult<()> {
        let delay = seconds("close_delay", Some(close_delay))?;
        self.with(py, move |c| c.reconnect(delay))
    }

    /// TesterPresent (`3E 80`) to `target` whenever nothing was sent to it for `every`
    /// seconds, sent by the background thread (`None` stops).
    #[pyo3(signature = (target, every))]
    fn keep_alive(&self, py: Python<'_>, target: i64, every: Option<f64>) -> PyResult<()> {
        let target = address("target", target)?;
        let every = every.map(|e| seconds("every", Some(e))).transpose()?;
        self.with(py, move |c| c.keep_alive(target, every))
    }

    /// Frames, bytes, NACKs and reconnects counted so far.
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.with(py, |c| Ok(c.counters()))?;
        let d = PyDict::new(py);
        d.set_item("frames_sent", c.frames_sent)?;
        d.set_item("frames_received", c.frames_received)?;
        d.set_item("bytes_sent", c.bytes_sent)?;
        d.set_item("bytes_received", c.bytes_received)?;
        d.set_item("nacks", c.nacks)?;
        d.set_item("generic_nacks", c.generic_nacks)?;
        d.set_item("reconnects", c.reconnects)?;
        d.set_item("unsolicited", c.unsolicited)?;
        d.set_item("unsolicited_dropped", c.unsolicited_dropped)?;
        Ok(d)
    }

    /// Flashes an image to `target` (see `doip_rs.DoIPClient.flash`).
    #[pyo3(signature = (options, progress=None))]
    fn flash<'py>(
        &self,
        py: Python<'py>,
        options: crate::flash::FlashOptions,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        if FLASHING.get() {
            return Err(reentered());
        }
        let target = options.target.map_or(Ok(self.ecu), |t| address("target", t))?;
        let plan = options.plan()?;
        let result = py.detach(|| {
            let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            FLASHING.set(true);
            let result =
                guard.as_mut().map(|c| crate::flash::run(c, target, &plan, progress.as_ref()));
            FLASHING.set(false);
            result
        });
        match result {
            Some(Ok(report)) => crate::flash::report(py, &report),
            Some(Err(e)) => Err(crate::errors::uds_error(py, e)),
            None => Err(PyConnectionError::new_err("the DoIP client is closed")),
        }
    }

    /// Closes the connection; later calls raise `ConnectionError`. Closing twice is fine.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        if FLASHING.get() {
            return Err(reentered());
        }
        self.closed.store(true, Ordering::SeqCst);
        let client = py.detach(|| self.inner.lock().unwrap_or_else(PoisonError::into_inner).take());
        match client {
            Some(c) => py.detach(|| c.close()).map_err(|e| client_error(py, e)),
            None => Ok(()),
        }
    }

    /// Whether `close` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}
