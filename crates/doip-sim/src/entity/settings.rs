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
use crate::config::{Faults, SimConfig, ms};

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
