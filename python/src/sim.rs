//! `_native.Simulator`: doip-sim's simulated entity on its own thread, started and stopped
//! from Python (a pytest fixture, a bench, a demo).

use std::sync::{Mutex, PoisonError};

use doip_client::LogicalAddress;
use doip_sim::{Faults, SimConfig, SimHandle};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use serde_json::Value;

/// Writes `over` onto `base`, table by table (arrays and values replace).
fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

fn invalid(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(format!("simulator configuration: {e}"))
}

/// The simulator configuration: doip-sim's test configuration (ports picked by the OS, no
/// announcement delay, quick resets) with `toml` and then `json` written over it.
fn config(toml: Option<&str>, json: Option<&str>) -> PyResult<SimConfig> {
    let mut value = serde_json::to_value(SimConfig::for_tests()).map_err(invalid)?;
    if let Some(text) = toml {
        merge(&mut value, ::toml::from_str::<Value>(text).map_err(invalid)?);
    }
    if let Some(text) = json {
        merge(&mut value, serde_json::from_str::<Value>(text).map_err(invalid)?);
    }
    serde_json::from_value(value).map_err(invalid)
}

/// A running simulated DoIP entity (see `doip_rs.Simulator`).
#[pyclass(module = "doip_rs._native", frozen)]
pub(crate) struct Simulator {
    handle: Mutex<Option<SimHandle>>,
    config: SimConfig,
}

#[pymethods]
impl Simulator {
    /// Binds the sockets and starts the entity on its own thread.
    #[new]
    #[pyo3(signature = (toml=None, json=None))]
    fn new(py: Python<'_>, toml: Option<&str>, json: Option<&str>) -> PyResult<Self> {
        let config = config(toml, json)?;
        let handle = py
            .detach(|| doip_sim::Simulator::new(&config).and_then(doip_sim::Simulator::spawn))
            .map_err(|e| PyRuntimeError::new_err(format!("simulator: {e}")))?;
        Ok(Self { handle: Mutex::new(Some(handle)), config })
    }

    /// The address the sockets are bound to.
    #[getter]
    fn ip(&self) -> String {
        self.config.bind.to_string()
    }

    /// The TCP_DATA port.
    #[getter]
    fn tcp_port(&self) -> PyResult<u16> {
        self.running(|h| h.tcp.port())
    }

    /// The UDP_DISCOVERY port.
    #[getter]
    fn udp_port(&self) -> PyResult<u16> {
        self.running(|h| h.udp.port())
    }

    /// The TLS port, when TLS is configured.
    #[getter]
    fn tls_port(&self) -> PyResult<Option<u16>> {
        self.running(|h| h.tls.map(|a| a.port()))
    }

    /// The entity's logical address.
    #[getter]
    fn logical_address(&self) -> PyResult<u16> {
        parse_address(&self.config.identity.logical_address)
    }

    /// The VIN.
    #[getter]
    fn vin(&self) -> String {
        self.config.identity.vin.clone()
    }

    /// The logical addresses of the ECUs that answer UDS.
    #[getter]
    fn ecus(&self) -> PyResult<Vec<u16>> {
        self.config.ecus.iter().map(|e| parse_address(&e.logical_address)).collect()
    }

    /// The functional address every ECU answers.
    #[getter]
    fn functional_address(&self) -> PyResult<u16> {
        parse_address(&self.config.routing.functional_address)
    }

    /// Sets the faults (JSON object of doip-sim's `Faults` fields) of one tester's
    /// connections, or of all when `tester` is `None`, from now on.
    #[pyo3(signature = (json, tester=None))]
    fn set_faults(&self, json: &str, tester: Option<u16>) -> PyResult<()> {
        let faults: Faults = serde_json::from_str(json).map_err(invalid)?;
        self.running(|h| h.set_faults(tester.map(LogicalAddress), faults))
    }

    /// Whether it runs.
    #[getter]
    fn is_running(&self) -> bool {
        self.handle.lock().unwrap_or_else(PoisonError::into_inner).is_some()
    }

    /// Stops it and waits for its thread; stopping twice is fine.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        let handle = self.handle.lock().unwrap_or_else(PoisonError::into_inner).take();
        match handle {
            Some(h) => py
                .detach(|| h.stop())
                .map_err(|e| PyRuntimeError::new_err(format!("simulator: {e}"))),
            None => Ok(()),
        }
    }
}

impl Simulator {
    fn running<T>(&self, f: impl FnOnce(&SimHandle) -> T) -> PyResult<T> {
        let guard = self.handle.lock().unwrap_or_else(PoisonError::into_inner);
        guard.as_ref().map(f).ok_or_else(|| PyRuntimeError::new_err("the simulator is stopped"))
    }
}

/// A logical address from configuration text (`0x4010` or decimal).
fn parse_address(text: &str) -> PyResult<u16> {
    let t = text.trim();
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u16::from_str_radix(hex, 16),
        None => t.parse(),
    };
    parsed.map_err(|_| invalid(format!("bad logical address {text:?}")))
}
