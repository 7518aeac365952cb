//! Finding entities from Python: doipclient's `get_entity` and `await_vehicle_announcement`,
//! and `discover` (every responder, which doipclient cannot).

use std::net::{IpAddr, SocketAddr};

use doip_client::{
    AnnouncementListener, Discovery, Eid, Entity, Error, Message, ProtocolVersion, Vin,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::convert::{bytes_of, ip, seconds, sliced, socket_address};
use crate::errors::client_error;

/// An EID (6 bytes) and a VIN (17 characters or bytes), each optional.
pub(crate) fn eid_vin(
    eid: Option<&Bound<'_, PyAny>>,
    vin: Option<&Bound<'_, PyAny>>,
) -> PyResult<(Option<Eid>, Option<Vin>)> {
    let eid = match eid.filter(|e| !e.is_none()) {
        None => None,
        Some(value) => {
            let raw = bytes_of(value)?;
            let n = raw.len();
            Some(Eid(raw
                .try_into()
                .map_err(|_| PyValueError::new_err(format!("an EID has 6 bytes, not {n}")))?))
        }
    };
    let vin = match vin.filter(|v| !v.is_none()) {
        None => None,
        Some(value) => {
            let raw = match value.extract::<String>() {
                Ok(s) => s.into_bytes(),
                Err(_) => bytes_of(value)?,
            };
            let n = raw.len();
            Some(Vin(raw
                .try_into()
                .map_err(|_| PyValueError::new_err(format!("a VIN has 17 characters, not {n}")))?))
        }
    };
    Ok((eid, vin))
}

/// `(address, VehicleIdentificationResponse)` for an entity.
fn entity<'py>(py: Python<'py>, e: &Entity) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    Ok((
        socket_address(py, e.address)?,
        crate::messages::to_py(py, &Message::VehicleAnnouncement(e.announcement))?,
    ))
}

/// The discovery request of these arguments.
fn discovery(
    ecu_ip_address: &str,
    protocol_version: u8,
    eid: Option<&Bound<'_, PyAny>>,
    vin: Option<&Bound<'_, PyAny>>,
    udp_port: u16,
    timeout: f64,
) -> PyResult<Discovery> {
    let to: IpAddr = ip(ecu_ip_address)?;
    let mut d = Discovery::to(SocketAddr::new(to, udp_port))
        .version(ProtocolVersion::from(protocol_version))
        .timeout(seconds("timeout", Some(timeout))?);
    let (eid, vin) = eid_vin(eid, vin)?;
    if let Some(eid) = eid {
        d = d.eid(eid);
    }
    if let Some(vin) = vin {
        d = d.vin(vin);
    }
    Ok(d)
}

/// The first entity answering a vehicle identification request to `ecu_ip_address`
/// (broadcast by default): `(address, VehicleIdentificationResponse)`; `TimeoutError` when
/// none answers within `timeout`.
#[pyfunction]
#[pyo3(signature = (ecu_ip_address, protocol_version, eid, vin, udp_port, timeout))]
pub(crate) fn get_entity<'py>(
    py: Python<'py>,
    ecu_ip_address: &str,
    protocol_version: u8,
    eid: Option<&Bound<'py, PyAny>>,
    vin: Option<&Bound<'py, PyAny>>,
    udp_port: u16,
    timeout: f64,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let d = discovery(ecu_ip_address, protocol_version, eid, vin, udp_port, timeout)?;
    let found = py.detach(|| d.first()).map_err(|e| client_error(py, e))?;
    entity(py, &found)
}

/// Every entity answering within `timeout`, one per EID, sorted by address.
#[pyfunction]
#[pyo3(signature = (ecu_ip_address, protocol_version, eid, vin, udp_port, timeout))]
pub(crate) fn discover<'py>(
    py: Python<'py>,
    ecu_ip_address: &str,
    protocol_version: u8,
    eid: Option<&Bound<'py, PyAny>>,
    vin: Option<&Bound<'py, PyAny>>,
    udp_port: u16,
    timeout: f64,
) -> PyResult<Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>> {
    let d = discovery(ecu_ip_address, protocol_version, eid, vin, udp_port, timeout)?;
    let found = py.detach(|| d.run()).map_err(|e| client_error(py, e))?;
    found.iter().map(|e| entity(py, e)).collect()
}

/// The next vehicle announcement on `udp_port` (IPv4 broadcast, or IPv6 `FF02::1` joined on
/// `source_interface`), waiting up to `timeout` seconds (forever when `None`), Ctrl-C
/// interrupting: `(address, VehicleIdentificationResponse)`.
#[pyfunction]
#[pyo3(signature = (udp_port, timeout, ipv6, source_interface))]
pub(crate) fn await_vehicle_announcement<'py>(
    py: Python<'py>,
    udp_port: u16,
    timeout: Option<f64>,
    ipv6: bool,
    source_interface: Option<&str>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let timeout = seconds("timeout", timeout)?;
    let mut listener = AnnouncementListener::bind_on(udp_port, ipv6, source_interface)
        .map_err(|e| client_error(py, e))?;
    match sliced(py, timeout, |slice| listener.next(slice))? {
        Ok(found) => entity(py, &found),
        Err(Error::Timeout { .. }) => Err(pyo3::exceptions::PyTimeoutError::new_err(
            "Timed out waiting for Vehicle Announcement broadcast",
        )),
        Err(e) => Err(client_error(py, e)),
    }
}
