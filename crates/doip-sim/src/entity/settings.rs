//! The configuration, checked and typed once when the simulator starts: what `SimConfig`
//! holds as text (addresses, hex bytes, names) becomes the spec's types here.

use std::collections::BTreeMap;
use std::time::Duration;

use doip_proto::{
    Eid, FurtherAction, Gid, HeaderPolicy, LogicalAddress, NodeType, PowerMode, ProtocolVersion,
    SyncStatus, VehicleAnnouncement, Vin,
};
use doip_transport::ListenOptions;

use crate::Error;
use crate::config::{EcuConfig, Faults, SimConfig, ms};
use crate::uds::Responder;

/// The configuration, checked and typed.
pub(super) struct Settings {
    pub(super) vin: Vin,
    pub(super) address: LogicalAddress,
    pub(super) eid: Eid,
    pub(super) gid: Gid,
    pub(super) further_action: FurtherAction,
    pub(super) sync_status: Option<SyncStatus>,
    pub(super) version: ProtocolVersion,
    pub(super) node_type: NodeType,
    pub(super) max_sockets: u8,
    pub(super) max_data_size: u32,
    pub(super) power_mode: PowerMode,
    pub(super) known_testers: Vec<(u16, u16)>,
    pub(super) activation_types: Vec<u8>,
    pub(super) tls_required_types: Vec<u8>,
    pub(super) authentication_key: Option<[u8; 4]>,
    pub(super) confirmation: Option<(Duration, bool)>,
    pub(super) functional_address: LogicalAddress,
    pub(super) initial_inactivity: Duration,
    pub(super) general_inactivity: Duration,
    pub(super) alive_check: Duration,
    pub(super) announce_wait_max: Duration,
    pub(super) faults: Faults,
    pub(super) faults_by_tester: BTreeMap<u16, Faults>,
}

fn parse<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, Error> {
    text.parse().map_err(|_| Error::Config(format!("invalid {what}: {text:?}")))
}

pub(super) fn hex_bytes(what: &str, text: &str) -> Result<Vec<u8>, Error> {
    if let Some(ascii) = text.strip_prefix("ascii:") {
        return Ok(ascii.as_bytes().to_vec());
    }
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace() && *b != b':').collect();
    if !digits.len().is_multiple_of(2) || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(Error::Config(format!("invalid {what} (hex bytes or ascii:TEXT): {text:?}")));
    }
    Ok(digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap_or("00"), 16).unwrap_or(0))
        .collect())
}

/// The largest payload the TCP header check accepts (NACK 0x02 above it): the receive buffer,
/// at least the default 4 MiB. Diagnostic messages above `max_data_size` but within it get
/// the diagnostic NACK 0x04 instead, as the spec distinguishes the two.
fn header_limit(max_data_size: u32) -> u32 {
    max_data_size.saturating_add(4).max(doip_proto::DEFAULT_MAX_PAYLOAD_LENGTH)
}

pub(super) fn address(what: &str, text: &str) -> Result<LogicalAddress, Error> {
    parse(what, text)
}

/// A number written as `"0x…"` (hex) or decimal text, at most `max`.
fn number(what: &str, text: &str, max: u64) -> Result<u64, Error> {
    let value = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    };
    value
        .filter(|v| *v <= max)
        .ok_or_else(|| Error::Config(format!("invalid {what} (at most {max:#x}): {text:?}")))
}

/// The built-in responder one `[[ecus]]` entry describes.
pub(super) fn responder(e: &EcuConfig, vin: &[u8]) -> Result<Responder, Error> {
    let mut r = Responder::new(vin)
        .with_max_block_length(e.max_block_length)
        .with_reset_time(ms(e.reset_ms))
        .with_p2(ms(u64::from(e.p2_ms)), ms(u64::from(e.p2_star_ms)))
        .with_s3(ms(e.s3_ms))
        .with_security(e.security_key, e.security_attempts, ms(e.security_delay_ms))
        .with_max_dids_per_read(usize::from(e.max_dids_per_read))
        .with_dtc_availability_mask(e.dtc_availability_mask)
        .with_memory(e.memory_base, e.memory_size)
        .with_download_requirements(e.download_requires_session, e.download_requires_security);
    let mut dids = BTreeMap::new();
    for (did, value) in &e.dids {
        dids.insert(address("DID", did)?.0, hex_bytes("DID value", value)?);
    }
    let mut fallback = BTreeMap::new();
    for (did, value) in crate::config::default_dids() {
        fallback.insert(address("DID", &did)?.0, hex_bytes("DID value", &value)?);
    }
    for text in &e.writable_dids {
        let did = address("writable DID", text)?.0;
        let Some(value) = dids.remove(&did).or_else(|| fallback.remove(&did)) else {
            return Err(Error::Config(format!(
                "writable DID {text} needs a value in dids (its length)"
            )));
        };
        r = r.with_writable_did(did, value);
    }
    for (did, value) in dids {
        r = r.with_did(did, value);
    }
    for (rid, result) in &e.routines {
        r = r.with_routine(address("routine id", rid)?.0, hex_bytes("routine result", result)?);
    }
    for p in &e.pending {
        r = r.with_pending(p.service, p.count, ms(p.interval_ms));
    }
    for dtc in &e.dtcs {
        let code = number("DTC", &dtc.code, 0x00FF_FFFF)? as u32;
        r = r.with_dtc(code, dtc.status);
        for (record, data) in &dtc.snapshots {
            let record = number("snapshot record number", record, 0xFF)? as u8;
            r = r.with_dtc_snapshot(code, record, hex_bytes("snapshot record", data)?);
        }
        for (record, data) in &dtc.extended {
            let record = number("extended data record number", record, 0xFF)? as u8;
            r = r.with_dtc_extended(code, record, hex_bytes("extended data record", data)?);
        }
    }
    Ok(r)
}

impl Settings {
    pub(super) fn new(c: &SimConfig) -> Result<Self, Error> {
        let id = &c.identity;
        let ranges = c
            .routing
            .known_testers
            .iter()
            .map(|r| {
                let (lo, hi) = r.split_once('-').unwrap_or((r, r));
                Ok((address("tester range", lo.trim())?.0, address("tester range", hi.trim())?.0))
            })
            .collect::<Result<_, Error>>()?;
        let authentication_key = match &c.routing.authentication_key {
            Some(k) => Some(
                <[u8; 4]>::try_from(hex_bytes("authentication key", k)?)
                    .map_err(|_| Error::Config("the authentication key has 4 bytes".into()))?,
            ),
            None => None,
        };
        Ok(Self {
            vin: parse("VIN", &id.vin)?,
            address: address("logical address", &id.logical_address)?,
            eid: parse("EID", &id.eid)?,
            gid: parse("GID", &id.gid)?,
            further_action: id.further_action.into(),
            sync_status: id.sync_status.map(SyncStatus::from),
            version: id.protocol_version.into(),
            node_type: match id.node_type.as_str() {
                "gateway" => NodeType::Gateway,
                "node" => NodeType::Node,
                other => {
                    return Err(Error::Config(format!(
                        "node_type is gateway or node, not {other:?}"
                    )));
                }
            },
            max_sockets: id.max_sockets,
            max_data_size: id.max_data_size,
            power_mode: id.power_mode.into(),
            known_testers: ranges,
            activation_types: c.routing.activation_types.clone(),
            tls_required_types: c.routing.tls_required_types.clone(),
            authentication_key,
            confirmation: c.routing.confirmation.as_ref().map(|k| (ms(k.delay_ms), k.accept)),
            functional_address: address("functional address", &c.routing.functional_address)?,
            initial_inactivity: ms(c.timing.initial_inactivity_ms),
            general_inactivity: ms(c.timing.general_inactivity_ms),
            alive_check: ms(c.timing.alive_check_ms),
            announce_wait_max: ms(c.timing.announce_wait_max_ms),
            faults: c.faults.clone(),
            faults_by_tester: c
                .faults_by_tester
                .iter()
                .map(|(k, f)| Ok((address("tester address", k)?.0, f.clone())))
                .collect::<Result<_, Error>>()?,
        })
    }

    /// How the TCP and TLS listeners check what testers send.
    pub(super) fn listen_options(&self) -> ListenOptions {
        ListenOptions::default().coalesce_writes(true).version(self.version).policy(
            HeaderPolicy::tcp()
                .with_supported_versions(&[self.version])
                .with_max_payload_length(header_limit(self.max_data_size)),
        )
    }

    pub(super) fn is_known_tester(&self, a: LogicalAddress) -> bool {
        self.known_testers.iter().any(|&(lo, hi)| (lo..=hi).contains(&a.0))
    }

    pub(super) fn announcement(&self) -> VehicleAnnouncement {
        VehicleAnnouncement {
            vin: self.vin,
            logical_address: self.address,
            eid: self.eid,
            gid: self.gid,
            further_action: self.further_action,
            sync_status: self.sync_status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::responder;
    use crate::config::{DtcConfig, EcuConfig};
    use crate::uds::{UdsHandler, UdsReply};

    fn answer(e: &EcuConfig, request: &[u8]) -> Vec<u8> {
        match responder(e, b"VIN").unwrap().handle(request) {
            UdsReply::Respond(v) => v,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_default_ecu_has_dtcs_and_writable_dids() {
        let e = EcuConfig::default();
        assert_eq!(answer(&e, &[0x19, 0x01, 0xFF]), [0x59, 0x01, 0xFF, 0x01, 0x00, 0x03]);
        assert_eq!(answer(&e, &[0x19, 0x01, 0x01]), [0x59, 0x01, 0xFF, 0x01, 0x00, 0x01]);
        assert_eq!(answer(&e, &[0x22, 0xF1, 0x99]), [0x62, 0xF1, 0x99, 0x20, 0x24, 0x01, 0x01]);
        let mut r = responder(&e, b"VIN").unwrap();
        let _ = r.handle(&[0x10, 0x03]);
        assert_eq!(
            r.handle(&[0x2E, 0xF1, 0x99, 0x20, 0x25, 0x06, 0x30]),
            UdsReply::Respond(vec![0x6E, 0xF1, 0x99])
        );
        // Only its own DIDs given: F198 and F199 keep their default values.
        let e = EcuConfig { dids: [("0xF187".into(), "01".into())].into(), ..EcuConfig::default() };
        assert_eq!(answer(&e, &[0x22, 0xF1, 0x99]), [0x62, 0xF1, 0x99, 0x20, 0x24, 0x01, 0x01]);
    }

    #[test]
    fn invalid_entries_are_configuration_errors() {
        let bad = |e: EcuConfig| responder(&e, b"VIN").unwrap_err().to_string();
        let e = EcuConfig { writable_dids: vec!["0x0100".into()], ..EcuConfig::default() };
        assert!(bad(e).contains("0x0100"));
        let dtc = |code: &str, record: &str| EcuConfig {
            dtcs: vec![DtcConfig {
                code: code.into(),
                status: 0,
                snapshots: [(record.into(), "00".into())].into(),
                extended: [].into(),
            }],
            ..EcuConfig::default()
        };
        assert!(bad(dtc("0x1000000", "1")).contains("DTC"));
        assert!(bad(dtc("lots", "1")).contains("DTC"));
        assert!(bad(dtc("0x100000", "256")).contains("record"));
        assert!(responder(&dtc("0x100000", "0xFF"), b"VIN").is_ok());
    }
}
