//! Python values to Rust ones and back: bytes-likes, addresses, seconds.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use doip_proto::LogicalAddress;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView};

/// The longest list or tuple of ints taken as bytes (16 MiB).
const MAX_SEQUENCE: usize = 16 << 20;

/// The bytes of a `bytes`, `bytearray`, `memoryview`, or list or tuple of ints.
pub(crate) fn bytes_of(value: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = value.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(b) = value.cast::<PyByteArray>() {
        return Ok(b.to_vec());
    }
    if value.is_instance_of::<PyMemoryView>() {
        let b = value.call_method0("tobytes")?;
        return Ok(b.cast::<PyBytes>()?.as_bytes().to_vec());
    }
    if value.is_instance_of::<pyo3::types::PyString>() {
        return Err(PyTypeError::new_err("expected bytes, not str"));
    }
    // A list or tuple of ints, no longer than a DoIP frame can be (no huge allocation for
    // an arbitrary sequence such as range(2**40)).
    let is_list = value.is_instance_of::<pyo3::types::PyList>()
        || value.is_instance_of::<pyo3::types::PyTuple>();
    if is_list && value.len().is_ok_and(|n| n > MAX_SEQUENCE) {
        return Err(PyValueError::new_err(format!("more than {MAX_SEQUENCE} bytes in a sequence")));
    }
    if !is_list {
        return Err(PyTypeError::new_err(format!(
            "expected a bytes-like object, not {}",
            value.get_type().name().map_or_else(|_| "?".into(), |n| n.to_string())
        )));
    }
    value.extract::<Vec<u8>>().map_err(|_| {
        PyTypeError::new_err(format!(
            "expected a bytes-like object, not {}",
            value.get_type().name().map_or_else(|_| "?".into(), |n| n.to_string())
        ))
    })
}

/// An IPv4 or IPv6 address given as text (ipaddress's message on failure).
pub(crate) fn ip(text: &str) -> PyResult<IpAddr> {
    text.trim().parse().map_err(|_| {
        PyValueError::new_err(format!("{text:?} does not appear to be an IPv4 or IPv6 address"))
    })
}

/// A 16-bit logical address from a Python int.
pub(crate) fn address(what: &str, value: i64) -> PyResult<LogicalAddress> {
    u16::try_from(value)
        .map(LogicalAddress)
        .map_err(|_| PyValueError::new_err(format!("{what} {value:#x} is not a 16-bit address")))
}

/// Seconds as a `Duration`; `None` (and infinity) is forever (`Duration::MAX`).
pub(crate) fn seconds(what: &str, value: Option<f64>) -> PyResult<Duration> {
    match value {
        None => Ok(Duration::MAX),
        Some(v) if v.is_infinite() && v > 0.0 => Ok(Duration::MAX),
        Some(v) => Duration::try_from_secs_f64(v)
            .map_err(|_| PyValueError::new_err(format!("{what} must be seconds >= 0, not {v}"))),
    }
}

/// A socket address the way Python's `socket.recvfrom` gives it: `(ip, port)` or, for IPv6,
/// `(ip, port, flowinfo, scope_id)`.
pub(crate) fn socket_address(py: Python<'_>, addr: SocketAddr) -> PyResult<Bound<'_, PyAny>> {
    match addr {
        SocketAddr::V4(a) => (a.ip().to_string(), a.port()).into_pyobject(py).map(Bound::into_any),
        SocketAddr::V6(a) => (a.ip().to_string(), a.port(), a.flowinfo(), a.scope_id())
            .into_pyobject(py)
            .map(Bound::into_any),
    }
}

/// How long one slice of a long wait lasts before Python's signal handlers get a turn.
const SLICE: Duration = Duration::from_millis(100);

/// Waits up to `timeout` (forever: `Duration::MAX`) for `attempt`, calling it with the GIL
/// released and a slice of at most 100 ms of the time left; between slices that timed out,
/// Python's signal handlers run (Ctrl-C). The last slice's timeout is the result when time
/// is up.
pub(crate) fn sliced<T: Send>(
    py: Python<'_>,
    timeout: Duration,
    mut attempt: impl FnMut(Duration) -> doip_client::Result<T> + Send,
) -> PyResult<doip_client::Result<T>> {
    let deadline = Instant::now().checked_add(timeout);
    loop {
        let left = deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(Instant::now()));
        let slice = left.min(SLICE);
        match py.detach(|| attempt(slice)) {
            Err(doip_client::Error::Timeout { .. }) if left > slice => py.check_signals()?,
            result => return Ok(result),
        }
    }
}
