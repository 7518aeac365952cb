//! DoIP messages between doip-proto and the classes of `doip_rs.messages`, whose constructor
//! arguments are doipclient's. This is the one place that knows both layouts: a message
//! becomes a Python object by calling its class with the fields in constructor order, and an
//! object becomes a message from the same fields (`_fields`, read by `DoIPMessage.pack`).

use std::borrow::Cow;

use doip_proto::{
    ActivationType, AliveCheckRequest, AliveCheckResponse, DiagnosticAckCode,
    DiagnosticAcknowledgement, DiagnosticMessage, DiagnosticNackCode, DiagnosticPowerModeRequest,
    DiagnosticPowerModeResponse, Eid, EntityStatusRequest, EntityStatusResponse, Frame,
    FurtherAction, GenericNack, GenericNackCode, Gid, LogicalAddress, Message, NodeType,
    PayloadType, PowerMode, ProtocolVersion, RoutingActivationRequest, RoutingActivationResponse,
    RoutingActivationResponseCode, SyncStatus, VehicleAnnouncement, VehicleIdentificationRequest,
    VehicleIdentificationRequestWithEid, VehicleIdentificationRequestWithVin, Vin,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString, PyTuple};

use crate::convert::bytes_of;

/// The `doip_rs.messages` class of a payload type (`ReservedMessage` for the others).
fn class_name(payload_type: PayloadType) -> &'static str {
    match u16::from(payload_type) {
        0x0000 => "GenericDoIPNegativeAcknowledge",
        0x0001 => "VehicleIdentificationRequest",
        0x0002 => "VehicleIdentificationRequestWithEID",
        0x0003 => "VehicleIdentificationRequestWithVIN",
        0x0004 => "VehicleIdentificationResponse",
        0x0005 => "RoutingActivationRequest",
        0x0006 => "RoutingActivationResponse",
        0x0007 => "AliveCheckRequest",
        0x0008 => "AliveCheckResponse",
        0x4001 => "DoipEntityStatusRequest",
        0x4002 => "EntityStatusResponse",
        0x4003 => "DiagnosticPowerModeRequest",
        0x4004 => "DiagnosticPowerModeResponse",
        0x8001 => "DiagnosticMessage",
        0x8002 => "DiagnosticMessagePositiveAcknowledgement",
        0x8003 => "DiagnosticMessageNegativeAcknowledgement",
        _ => "ReservedMessage",
    }
}

fn oem(value: Option<[u8; 4]>) -> Option<u32> {
    value.map(u32::from_be_bytes)
}

/// A message as an instance of its `doip_rs.messages` class.
pub(crate) fn to_py<'py>(py: Python<'py>, message: &Message<'_>) -> PyResult<Bound<'py, PyAny>> {
    let class =
        PyModule::import(py, "doip_rs.messages")?.getattr(class_name(message.payload_type()))?;
    let bytes = |b: &[u8]| PyBytes::new(py, b).into_any();
    let bytearray = |b: &[u8]| PyByteArray::new(py, b).into_any();
    let args: Bound<'py, PyTuple> = match message {
        Message::GenericNack(m) => (u8::from(m.code),).into_pyobject(py)?,
        Message::VehicleIdentificationRequestWithEid(m) => (bytes(&m.eid.0),).into_pyobject(py)?,
        Message::VehicleIdentificationRequestWithVin(m) => (bytes(&m.vin.0),).into_pyobject(py)?,
        Message::VehicleAnnouncement(m) => (
            bytes(&m.vin.0),
            m.logical_address.0,
            bytes(&m.eid.0),
            bytes(&m.gid.0),
            u8::from(m.further_action),
            m.sync_status.map(u8::from),
        )
            .into_pyobject(py)?,
        Message::RoutingActivationRequest(m) => {
            (m.source_address.0, u8::from(m.activation_type), m.reserved, oem(m.oem_specific))
                .into_pyobject(py)?
        }
        Message::RoutingActivationResponse(m) => (
            m.tester_address.0,
            m.entity_address.0,
            u8::from(m.response_code),
            m.reserved,
            oem(m.oem_specific),
        )
            .into_pyobject(py)?,
        Message::AliveCheckResponse(m) => (m.source_address.0,).into_pyobject(py)?,
        Message::EntityStatusResponse(m) => {
            (u8::from(m.node_type), m.max_open_sockets, m.currently_open_sockets, m.max_data_size)
                .into_pyobject(py)?
        }
        Message::DiagnosticPowerModeResponse(m) => (u8::from(m.power_mode),).into_pyobject(py)?,
        Message::DiagnosticMessage(m) => {
            (m.source_address.0, m.target_address.0, bytearray(&m.user_data)).into_pyobject(py)?
        }
        Message::DiagnosticMessagePositiveAck(m) => (
            m.source_address.0,
            m.target_address.0,
            u8::from(m.code),
            bytearray(&m.previous_message),
        )
            .into_pyobject(py)?,
        Message::DiagnosticMessageNegativeAck(m) => (
            m.source_address.0,
            m.target_address.0,
            u8::from(m.code),
            bytearray(&m.previous_message),
        )
            .into_pyobject(py)?,
        Message::Unknown { payload_type, payload } => {
            (u16::from(*payload_type), bytearray(payload)).into_pyobject(py)?
        }
        // The requests without fields.
        _ => PyTuple::empty(py),
    };
    class.call1(args)
}

/// Reads the `i`-th field of a message's constructor arguments.
struct Fields<'a, 'py> {
    values: &'a Bound<'py, PyTuple>,
    class: &'static str,
}

impl<'py> Fields<'_, 'py> {
    fn get(&self, i: usize) -> PyResult<Bound<'py, PyAny>> {
        self.values.get_item(i).map_err(|_| {
            PyTypeError::new_err(format!("{} needs at least {} fields", self.class, i + 1))
        })
    }

    fn opt(&self, i: usize) -> Option<Bound<'py, PyAny>> {
        self.values.get_item(i).ok().filter(|v| !v.is_none())
    }

    fn int<T: for<'a> FromPyObject<'a, 'py>>(&self, i: usize, what: &str) -> PyResult<T> {
        self.get(i)?.extract().map_err(|_| {
            PyValueError::new_err(format!("{}.{what} is out of range or not an int", self.class))
        })
    }

    fn address(&self, i: usize, what: &str) -> PyResult<LogicalAddress> {
        self.int::<u16>(i, what).map(LogicalAddress)
    }

    fn fixed<const N: usize>(&self, i: usize, what: &str) -> PyResult<[u8; N]> {
        let value = self.get(i)?;
        let raw = if value.is_instance_of::<PyString>() {
            value.extract::<String>()?.into_bytes()
        } else {
            bytes_of(&value)?
        };
        raw.try_into().map_err(|raw: Vec<u8>| {
            PyValueError::new_err(format!(
                "{}.{what} must be {N} bytes, not {}",
                self.class,
                raw.len()
            ))
        })
    }

    fn oem(&self, i: usize) -> PyResult<Option<[u8; 4]>> {
        match self.opt(i) {
            None => Ok(None),
            Some(v) => v.extract::<u32>().map(|v| Some(v.to_be_bytes())).map_err(|_| {
                PyValueError::new_err(format!(
                    "{}.vm_specific must be an int in 0..=0xFFFFFFFF",
                    self.class
                ))
            }),
        }
    }
}

/// The message of payload type `payload_type` with constructor fields `values`.
pub(crate) fn from_fields(
    payload_type: u16,
    values: &Bound<'_, PyTuple>,
) -> PyResult<Message<'static>> {
    let class = class_name(PayloadType::from(payload_type));
    let f = Fields { values, class };
    Ok(match payload_type {
        0x0000 => GenericNack { code: GenericNackCode::from(f.int::<u8>(0, "nack_code")?) }.into(),
        0x0001 => VehicleIdentificationRequest.into(),
        0x0002 => VehicleIdentificationRequestWithEid { eid: Eid(f.fixed(0, "eid")?) }.into(),
        0x0003 => VehicleIdentificationRequestWithVin { vin: Vin(f.fixed(0, "vin")?) }.into(),
        0x0004 => VehicleAnnouncement {
            vin: Vin(f.fixed(0, "vin")?),
            logical_address: f.address(1, "logical_address")?,
            eid: Eid(f.fixed(2, "eid")?),
            gid: Gid(f.fixed(3, "gid")?),
            further_action: FurtherAction::from(f.int::<u8>(4, "further_action_required")?),
            sync_status: match f.opt(5) {
                Some(_) => Some(SyncStatus::from(f.int::<u8>(5, "vin_sync_status")?)),
                None => None,
            },
        }
        .into(),
        0x0005 => RoutingActivationRequest {
            source_address: f.address(0, "source_address")?,
            activation_type: ActivationType::from(f.int::<u8>(1, "activation_type")?),
            activation_type_high: 0,
            reserved: if f.opt(2).is_some() { f.int(2, "reserved")? } else { 0 },
            oem_specific: f.oem(3)?,
        }
        .into(),
        0x0006 => RoutingActivationResponse {
            tester_address: f.address(0, "client_logical_address")?,
            entity_address: f.address(1, "logical_address")?,
            response_code: RoutingActivationResponseCode::from(f.int::<u8>(2, "response_code")?),
            reserved: if f.opt(3).is_some() { f.int(3, "reserved")? } else { 0 },
            oem_specific: f.oem(4)?,
        }
        .into(),
        0x0007 => AliveCheckRequest.into(),
        0x0008 => AliveCheckResponse { source_address: f.address(0, "source_address")? }.into(),
        0x4001 => EntityStatusRequest.into(),
        0x4002 => EntityStatusResponse {
            node_type: NodeType::from(f.int::<u8>(0, "node_type")?),
            max_open_sockets: f.int(1, "max_concurrent_sockets")?,
            currently_open_sockets: f.int(2, "currently_open_sockets")?,
            max_data_size: match f.opt(3) {
                Some(_) => Some(f.int(3, "max_data_size")?),
                None => None,
            },
        }
        .into(),
        0x4003 => DiagnosticPowerModeRequest.into(),
        0x4004 => DiagnosticPowerModeResponse {
            power_mode: PowerMode::from(f.int::<u8>(0, "diagnostic_power_mode")?),
        }
        .into(),
        0x8001 => DiagnosticMessage {
            source_address: f.address(0, "source_address")?,
            target_address: f.address(1, "target_address")?,
            user_data: Cow::Owned(bytes_of(&f.get(2)?)?),
        }
        .into(),
        0x8002 => Message::DiagnosticMessagePositiveAck(DiagnosticAcknowledgement {
            source_address: f.address(0, "source_address")?,
            target_address: f.address(1, "target_address")?,
            code: DiagnosticAckCode::from(f.int::<u8>(2, "ack_code")?),
            previous_message: Cow::Owned(f.opt(3).map_or(Ok(Vec::new()), |v| bytes_of(&v))?),
        }),
        0x8003 => Message::DiagnosticMessageNegativeAck(DiagnosticAcknowledgement {
            source_address: f.address(0, "source_address")?,
            target_address: f.address(1, "target_address")?,
            code: DiagnosticNackCode::from(f.int::<u8>(2, "nack_code")?),
            previous_message: Cow::Owned(f.opt(3).map_or(Ok(Vec::new()), |v| bytes_of(&v))?),
        }),
        other => Message::unknown(PayloadType::from(other), bytes_of(&f.get(1)?)?),
    })
}

/// `pack(payload_type, fields) -> bytes`: the payload (no header) of the message of this type
/// with these constructor fields, in the layout of protocol version 0x02.
#[pyfunction]
pub(crate) fn pack<'py>(
    py: Python<'py>,
    payload_type: u16,
    fields: &Bound<'py, PyTuple>,
) -> PyResult<Bound<'py, PyBytes>> {
    let message = from_fields(payload_type, fields)?;
    let frame = message
        .to_bytes(ProtocolVersion::Iso2012)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(PyBytes::new(py, frame.get(doip_proto::HEADER_LEN..).unwrap_or_default()))
}

/// `unpack(payload_type, payload) -> DoIPMessage`: parses a payload (no header) with
/// doip-proto; a length that does not fit the type is a `ValueError`.
#[pyfunction]
pub(crate) fn unpack<'py>(
    py: Python<'py>,
    payload_type: u16,
    payload: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let payload = bytes_of(payload)?;
    let message = Message::parse(PayloadType::from(payload_type), &payload)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    to_py(py, &message)
}

/// `frame(data) -> (protocol_version, DoIPMessage)`: one whole DoIP frame (header and
/// payload, e.g. a datagram) checked and parsed as an entity's tester would.
#[pyfunction]
pub(crate) fn frame<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
) -> PyResult<(u8, Bound<'py, PyAny>)> {
    let data = bytes_of(data)?;
    let (frame, _) = Frame::parse(&data).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok((u8::from(frame.header.version), to_py(py, &frame.message)?))
}
