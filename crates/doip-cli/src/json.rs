//! The `--json` shapes: one object per line, keys named after the spec's fields in snake case.

use std::fmt::Write as _;

use doip_client::Entity;
use doip_proto::{GenericNackCode, Header, Message};
use serde_json::{Map, Value, json};

/// Lower-case hex without separators.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The header keys of a decoded message.
pub(crate) fn header(map: &mut Map<String, Value>, header: &Header) {
    map.insert("version".into(), header.version.value().into());
    map.insert("inverse_version".into(), header.inverse_version.into());
    map.insert("payload_type".into(), header.payload_type.value().into());
    map.insert("payload_type_name".into(), header.payload_type.description().into());
    map.insert("payload_length".into(), header.payload_length.into());
}

/// The `"error"` object of a malformed frame: the rule it breaks, the generic NACK a DoIP
/// entity answers (`null` when none applies, e.g. a gap in a capture) and whether the entity
/// then closes the TCP connection, e.g.
/// `{"rule":"protocol version 0xff is only for …","nack":{"code":0,"name":"incorrect pattern format"},"closes":true}`.
pub(crate) fn error(rule: &str, nack: Option<GenericNackCode>, closes: bool) -> Value {
    let nack = nack.map(|code| json!({ "code": code.value(), "name": code.description() }));
    json!({ "rule": rule, "nack": nack, "closes": closes })
}

/// The payload's fields, by type.
pub(crate) fn message(map: &mut Map<String, Value>, message: &Message<'_>) {
    let mut put = |key: &str, value: Value| {
        map.insert(key.to_owned(), value);
    };
    match message {
        Message::GenericNack(m) => {
            put("generic_nack_code", m.code.value().into());
            put("nack_code", m.code.value().into());
        }
        Message::VehicleIdentificationRequest(_)
        | Message::AliveCheckRequest(_)
        | Message::EntityStatusRequest(_)
        | Message::DiagnosticPowerModeRequest(_) => {}
        Message::VehicleIdentificationRequestWithEid(m) => put("eid", m.eid.to_string().into()),
        Message::VehicleIdentificationRequestWithVin(m) => put("vin", m.vin.to_string().into()),
        Message::VehicleAnnouncement(a) => {
            put("vin", a.vin.to_string().into());
            put("logical_address", a.logical_address.0.into());
            put("eid", a.eid.to_string().into());
            put("gid", a.gid.to_string().into());
            put("further_action", a.further_action.value().into());
            put("sync_status", a.sync_status.map(doip_proto::SyncStatus::value).into());
        }
        Message::RoutingActivationRequest(m) => {
            put("source_address", m.source_address.0.into());
            // 2 bytes under version 0x01 (Wireshark's `doip.activation_type_v1`).
            put("activation_type", m.activation_type_v1().into());
            put("reserved", m.reserved.into());
            put("oem_specific", m.oem_specific.map(|o| hex(&o)).into());
        }
        Message::RoutingActivationResponse(m) => {
            // The answer travels from the entity (source) to the tester (target).
            put("source_address", m.entity_address.0.into());
            put("target_address", m.tester_address.0.into());
            put("response_code", m.response_code.value().into());
            put("response_code_name", m.response_code.description().into());
            put("reserved", m.reserved.into());
            put("oem_specific", m.oem_specific.map(|o| hex(&o)).into());
        }
        Message::AliveCheckResponse(m) => put("source_address", m.source_address.0.into()),
        Message::EntityStatusResponse(m) => {
            put("node_type", m.node_type.value().into());
            put("max_sockets", m.max_open_sockets.into());
            put("open_sockets", m.currently_open_sockets.into());
            put("max_data_size", m.max_data_size.into());
        }
        Message::DiagnosticPowerModeResponse(m) => {
            put("power_mode", m.power_mode.value().into());
        }
        Message::DiagnosticMessage(m) => {
            put("source_address", m.source_address.0.into());
            put("target_address", m.target_address.0.into());
            put("user_data", hex(&m.user_data).into());
            put("uds", uds(&m.user_data));
        }
        Message::DiagnosticMessagePositiveAck(m) => {
            put("source_address", m.source_address.0.into());
            put("target_address", m.target_address.0.into());
            put("ack_code", m.code.value().into());
            put("previous_message", hex(&m.previous_message).into());
        }
        Message::DiagnosticMessageNegativeAck(m) => {
            put("source_address", m.source_address.0.into());
            put("target_address", m.target_address.0.into());
            put("nack_code", m.code.value().into());
            put("nack_code_name", m.code.description().into());
            put("previous_message", hex(&m.previous_message).into());
        }
        Message::Unknown { payload, .. } => put("payload", hex(payload).into()),
        _ => put("payload", "unsupported payload type".into()),
    }
}

/// The UDS inside a diagnostic message: Wireshark's `uds.*` field names without the prefix
/// (`sid`, `reply`, `dsc.type`, `rdbi.data_identifier`, …; numbers as numbers, bytes as hex)
/// and names of our own for what Wireshark does not show.
pub(crate) fn uds(pdu: &[u8]) -> Value {
    use doip_uds::describe::{Kind, Value as V, describe};
    let d = describe(pdu);
    let mut map = Map::new();
    map.insert("sid".into(), d.sid.into());
    map.insert("reply".into(), u8::from(d.reply).into());
    map.insert("service".into(), d.service.description().into());
    let kind = match d.kind {
        Kind::Request => "request",
        Kind::Positive => "positive",
        Kind::Negative => "negative",
    };
    map.insert("kind".into(), kind.into());
    if let Some((value, name)) = d.sub_function {
        map.insert("sub_function".into(), value.into());
        map.insert("sub_function_name".into(), name.into());
        map.insert("suppress_positive_response".into(), d.suppress_positive_response.into());
    }
    if let Some(nrc) = d.nrc {
        map.insert("nrc_name".into(), nrc.description().into());
    }
    for field in &d.fields {
        let value = match &field.value {
            V::Number(n) => (*n).into(),
            V::Numbers(ns) => ns.clone().into(),
            V::Bytes(b) => hex(b).into(),
            V::Name(n) => (*n).into(),
            V::Dtcs(dtcs) => dtcs
                .iter()
                .map(|(dtc, status)| {
                    serde_json::json!({
                        "dtc": dtc,
                        "status": status.0,
                        "status_bits": status.names().collect::<Vec<_>>(),
                    })
                })
                .collect::<Vec<_>>()
                .into(),
        };
        map.insert(field.name.into(), value);
    }
    if let Some(problem) = d.problem {
        map.insert("problem".into(), problem.into());
    }
    Value::Object(map)
}

/// A message on its own (answers of the live commands).
pub(crate) fn message_object(m: &Message<'_>) -> Value {
    let mut map = Map::new();
    map.insert("payload_type".into(), m.payload_type().value().into());
    map.insert("payload_type_name".into(), m.payload_type().description().into());
    message(&mut map, m);
    Value::Object(map)
}

/// An entity found by discovery or an announcement.
pub(crate) fn entity(e: &Entity) -> Value {
    let a = &e.announcement;
    json!({
        "ip": e.address.ip().to_string(),
        "port": e.address.port(),
        "vin": a.vin.to_string(),
        "logical_address": a.logical_address.0,
        "eid": a.eid.to_string(),
        "gid": a.gid.to_string(),
        "further_action": a.further_action.value(),
        "sync_status": a.sync_status.map(doip_proto::SyncStatus::value),
    })
}
