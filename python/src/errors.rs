//! doip-client and doip-uds errors as the exceptions doipclient raises (and subclasses of
//! them that carry the codes): activation refused → `ConnectionRefusedError`, diagnostic NACK →
//! `OSError`, no answer → `TimeoutError`, bad argument → `ValueError`.

use doip_client::Error;
use pyo3::exceptions::{
    PyConnectionError, PyConnectionRefusedError, PyOSError, PyRuntimeError, PyTimeoutError,
    PyValueError,
};
use pyo3::prelude::*;

/// An instance of `doip_rs.exceptions.<class>` built from `args`, as a `PyErr`; the plain
/// `fallback` exception when that module cannot be imported.
fn ours<'py, A>(py: Python<'py>, class: &str, args: A, fallback: fn(String) -> PyErr) -> PyErr
where
    A: pyo3::call::PyCallArgs<'py>,
{
    let made = PyModule::import(py, "doip_rs.exceptions")
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.call1(args));
    match made {
        Ok(instance) => PyErr::from_value(instance),
        Err(e) => fallback(e.to_string()),
    }
}

/// The exception for a doip-client error.
pub(crate) fn client_error(py: Python<'_>, error: Error) -> PyErr {
    let text = error.to_string();
    match error {
        Error::ActivationDenied { code, .. } => {
            ours(py, "ActivationDeniedError", (text, u8::from(code)), |m| {
                PyConnectionRefusedError::new_err(m)
            })
        }
        Error::DiagnosticNack { code, target, .. } => {
            ours(py, "DiagnosticNackError", (text, u8::from(code), target.0), PyOSError::new_err)
        }
        Error::Timeout { .. } => PyTimeoutError::new_err(text),
        Error::PendingLimit { service, .. } => {
            ours(py, "PendingLimitError", (text, service), PyTimeoutError::new_err)
        }
        Error::MaybeDelivered { target, .. } => {
            ours(py, "MaybeDeliveredError", (text, target.0), PyConnectionError::new_err)
        }
        Error::Closed { .. } => PyConnectionError::new_err(text),
        Error::InvalidTesterAddress(_) | Error::EmptyPayload | Error::UnknownInterface(_) => {
            PyValueError::new_err(text)
        }
        Error::TooManyRequests { .. } | Error::UnknownSession(_) => PyRuntimeError::new_err(text),
        Error::Transport(e) => transport_error(e),
        _ => PyOSError::new_err(text),
    }
}

/// A transport error: a socket error keeps its errno and a refused connect is Python's
/// `ConnectionRefusedError` (as with doipclient's socket), a closed connection a
/// `ConnectionError`, a timeout a `TimeoutError`, the rest are `OSError`s.
pub(crate) fn transport_error(error: doip_transport::Error) -> PyErr {
    let text = error.to_string();
    match &error {
        doip_transport::Error::Io { source, .. } => match source.raw_os_error() {
            Some(errno) => PyOSError::new_err((errno, text)),
            None if source.kind() == std::io::ErrorKind::TimedOut => PyTimeoutError::new_err(text),
            None => PyOSError::new_err(text),
        },
        doip_transport::Error::Encode(_) => PyValueError::new_err(text),
        doip_transport::Error::Refused { .. } => PyConnectionRefusedError::new_err(text),
        doip_transport::Error::ClosedByPeer { .. } | doip_transport::Error::NotConnected { .. } => {
            PyConnectionError::new_err(text)
        }
        doip_transport::Error::Timeout { .. } => PyTimeoutError::new_err(text),
        _ => PyOSError::new_err(text),
    }
}

/// The exception for a doip-uds error: UDS refusals carry their service and NRC, a failed
/// flash step names the step, segment and block; DoIP errors underneath are as above.
pub(crate) fn uds_error(py: Python<'_>, error: doip_uds::Error) -> PyErr {
    let text = error.to_string();
    let nrc = error.nrc().map(u8::from);
    match error {
        doip_uds::Error::Step { step, segment, block, source } => {
            let cause = uds_error(py, *source);
            let err = ours(py, "FlashError", (text, step, segment, block, nrc), PyOSError::new_err);
            err.set_cause(py, Some(cause));
            err
        }
        doip_uds::Error::Negative { service, .. } => {
            ours(py, "NegativeResponseError", (text, u8::from(service), nrc), PyOSError::new_err)
        }
        doip_uds::Error::Doip(e) => client_error(py, e),
        doip_uds::Error::Image(_) | doip_uds::Error::InvalidRequest(_) => {
            PyValueError::new_err(text)
        }
        _ => ours(py, "UdsError", (text,), PyOSError::new_err),
    }
}
