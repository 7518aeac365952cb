//! Simulator configuration: in code (`SimConfig::default()` and field updates) or from TOML
//! (`SimConfig::from_toml`). Every field has the default of a plain gateway with two ECUs;
//! `examples/ecu.toml` documents each one.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Error;

/// The whole simulator configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Address the TCP, TLS and UDP sockets bind to.
    pub bind: IpAddr,
    /// TCP_DATA port (13400; 0 picks a free one).
    pub tcp_port: u16,
    /// UDP_DISCOVERY port (13400; 0 picks a free one).
    pub udp_port: u16,
    /// TLS on its own port, when given.
    pub tls: Option<TlsFiles>,
    /// Who the entity is.
    pub identity: Identity,
    /// ECUs that answer UDS; the entity's own address may be one of them.
    pub ecus: Vec<EcuConfig>,
    /// Which testers may activate routing, and how.
    pub routing: RoutingConfig,
    /// Spec timers, shortened in tests.
    pub timing: Timing,
    /// Vehicle announcements at start-up.
    pub announce: Announce,
    /// Faults for every connection.
    pub faults: Faults,
    /// Faults for connections of one tester address (hex or decimal key), overriding `faults`.
    pub faults_by_tester: BTreeMap<String, Faults>,
}

/// Certificate chain and key (PEM files) for DoIP over TLS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// TLS port (3496; 0 picks a free one).
    #[serde(default = "tls_port")]
    pub port: u16,
}

const fn tls_port() -> u16 {
    3496
}

/// The entity's identity, as announced and reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Identity {
    /// 17-character VIN.
    pub vin: String,
    /// The entity's logical address (hex `0x4010` or decimal).
    pub logical_address: String,
    /// EID as a MAC address.
    pub eid: String,
    /// GID as a MAC address.
    pub gid: String,
    /// Further action code (0x00 none, 0x10 central security).
    pub further_action: u8,
    /// VIN/GID sync status; absent: the 32-byte announcement.
    pub sync_status: Option<u8>,
    /// Protocol version spoken (2 = ISO 13400-2:2012).
    pub protocol_version: u8,
    /// `gateway` or `node`.
    pub node_type: String,
    /// Maximum concurrent TCP_DATA sockets with routing activated.
    pub max_sockets: u8,
    /// Largest diagnostic message (user data bytes) accepted; longer ones get NACK 0x04.
    pub max_data_size: u32,
    /// Diagnostic power mode (0 not ready, 1 ready, 2 not supported).
    pub power_mode: u8,
}

impl Default for Identity {
    fn default() -> Self {
        Self {
            vin: "WDOIPRS0000000001".into(),
            logical_address: "0x4010".into(),
            eid: "02:00:00:00:40:10".into(),
            gid: "02:00:00:00:00:01".into(),
            further_action: 0,
            sync_status: None,
            protocol_version: 2,
            node_type: "gateway".into(),
            max_sockets: 4,
            max_data_size: 0x0001_0000,
            power_mode: 1,
        }
    }
}

/// One ECU answering UDS through the built-in responder ([`crate::Responder`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EcuConfig {
    /// A name for logs.
    pub name: String,
    /// Its logical address.
    pub logical_address: String,
    /// Data identifiers for ReadDataByIdentifier: `"0xF187" = "ascii:PART-123"` or hex bytes.
    /// F190 (the VIN) is always present, F186 (the active session) computed. Default: F198
    /// (repair shop code) and F199 (programming date), the writable ones.
    pub dids: BTreeMap<String, String>,
    /// DIDs `WriteDataByIdentifier` may write (outside the default session), each with its
    /// value in `dids`, whose length a write must keep (F198 and F199 have default values if
    /// `dids` lacks them). Default: F198 and F199.
    pub writable_dids: Vec<String>,
    /// The most DIDs one ReadDataByIdentifier may ask for (more: NRC 0x13). Default 16.
    pub max_dids_per_read: u16,
    /// Routines for RoutineControl: identifier → result bytes (hex). FF00 (erase memory) and
    /// FF01 (check memory) are built in; a routine configured here with their identifier
    /// replaces them.
    pub routines: BTreeMap<String, String>,
    /// Services answered only after "response pending" (7F xx 78) messages.
    pub pending: Vec<PendingReply>,
    /// `P2server_max` reported by DiagnosticSessionControl, in ms. Default 50.
    pub p2_ms: u16,
    /// `P2*server_max` reported by DiagnosticSessionControl, in ms (sent in 10 ms units).
    /// Default 5000.
    pub p2_star_ms: u32,
    /// `S3server`: a non-default session without requests for this long (ms) falls back to
    /// the default session. Default 5000.
    pub s3_ms: u64,
    /// `SecurityAccess`: key = seed XOR this, 4 bytes big-endian. Default `0x5A5A_A5A5`.
    pub security_key: u32,
    /// Wrong keys that start the security delay (NRC 0x36); 0: no limit. Default 3.
    pub security_attempts: u32,
    /// The security delay in ms, during which seed requests get NRC 0x37. Default 1000.
    pub security_delay_ms: u64,
    /// The DTC store `ReadDTCInformation` reports and `ClearDiagnosticInformation` clears.
    /// Default: three DTCs with different statuses.
    pub dtcs: Vec<DtcConfig>,
    /// `DTCStatusAvailabilityMask`: the status bits reported. Default 0xFF.
    pub dtc_availability_mask: u8,
    /// Start of the ECU memory's address space. Default 0.
    pub memory_base: u64,
    /// Size of the ECU memory's address space in bytes (sparse: only written 4 KiB pages
    /// cost memory). Default `0x1000_0000` (256 MiB).
    pub memory_size: u64,
    /// When set, memory writes (RequestDownload, `WriteMemoryByAddress`, erase) need this
    /// session (else NRC 0x7F). Default: none.
    pub download_requires_session: Option<u8>,
    /// When set, memory writes need this security level unlocked (else NRC 0x33). Default:
    /// none.
    pub download_requires_security: Option<u8>,
    /// maxNumberOfBlockLength reported by RequestDownload (SID and counter included).
    pub max_block_length: u16,
    /// How long the ECU (and the entity's TCP side) is unavailable after ECUReset, in ms.
    pub reset_ms: u64,
}

/// A DTC of an ECU's store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DtcConfig {
    /// The 3-byte DTC number, `"0x123456"`.
    pub code: String,
    /// Its status byte (ISO 14229-1 bits: 0x01 testFailed … 0x08 confirmedDTC …).
    pub status: u8,
    /// Snapshot records (19 04): record number (`"1"` or `"0x01"`) → hex bytes.
    #[serde(default)]
    pub snapshots: BTreeMap<String, String>,
    /// Extended data records (19 06): record number → hex bytes.
    #[serde(default)]
    pub extended: BTreeMap<String, String>,
}

impl DtcConfig {
    fn new(code: &str, status: u8, snapshot: &str, extended: &str) -> Self {
        Self {
            code: code.into(),
            status,
            snapshots: BTreeMap::from([("1".into(), snapshot.into())]),
            extended: BTreeMap::from([("1".into(), extended.into())]),
        }
    }
}

/// The DIDs every ECU has by default: the writable F198 and F199. Their values also serve
/// when `writable_dids` lists them and `dids` does not (a configuration giving only its own
/// DIDs keeps working).
pub(crate) fn default_dids() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("0xF198".into(), "ascii:0000000000".into()),
        ("0xF199".into(), "20240101".into()),
    ])
}

/// The default DIDs and a part number F187.
fn dids_with_part_number(part: &str) -> BTreeMap<String, String> {
    let mut dids = default_dids();
    dids.insert("0xF187".into(), format!("ascii:{part}"));
    dids
}

impl Default for EcuConfig {
    fn default() -> Self {
        Self {
            name: "ecu".into(),
            logical_address: "0x4011".into(),
            dids: default_dids(),
            writable_dids: vec!["0xF198".into(), "0xF199".into()],
            max_dids_per_read: 16,
            routines: BTreeMap::new(),
            pending: Vec::new(),
            p2_ms: 50,
            p2_star_ms: 5000,
            s3_ms: 5000,
            security_key: 0x5A5A_A5A5,
            security_attempts: 3,
            security_delay_ms: 1000,
            dtcs: vec![
                // Failing now and confirmed.
                DtcConfig::new("0x123456", 0x2F, "0BB85A", "05"),
                // Pending: failed this cycle, not confirmed yet.
                DtcConfig::new("0x234567", 0x24, "0000", "01"),
                // Confirmed earlier, not failing now.
                DtcConfig::new("0x345678", 0x08, "0FA0", "0C"),
            ],
            dtc_availability_mask: 0xFF,
            memory_base: 0,
            memory_size: 0x1000_0000,
            download_requires_session: None,
            download_requires_security: None,
            max_block_length: 0x0FFF,
            reset_ms: 1000,
        }
    }
}

/// A service answered after `count` response-pending messages, `interval_ms` apart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingReply {
    /// The UDS service identifier.
    pub service: u8,
    /// How many 7F xx 78 messages precede the answer.
    pub count: u32,
    /// Gap between them (and before the answer), in ms.
    pub interval_ms: u64,
}

/// Routing activation rules (PROTOCOL.md §6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingConfig {
    /// Known tester source addresses as ranges `"0x0E00-0x0FFF"` or single addresses.
    pub known_testers: Vec<String>,
    /// Supported activation types.
    pub activation_types: Vec<u8>,
    /// Activation types that are refused (0x07) unless the connection uses TLS.
    pub tls_required_types: Vec<u8>,
    /// When set, activation needs these 4 OEM-specific bytes (hex); otherwise 0x04.
    pub authentication_key: Option<String>,
    /// When set, activation needs confirmation in the vehicle (0x11 first).
    pub confirmation: Option<Confirmation>,
    /// Functional (group) address every ECU answers.
    pub functional_address: String,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            known_testers: vec!["0x0E00-0x0FFF".into()],
            activation_types: vec![0x00, 0x01, 0xE0],
            tls_required_types: Vec::new(),
            authentication_key: None,
            confirmation: None,
            functional_address: "0xE400".into(),
        }
    }
}

/// The confirmation flow: 0x11 until `delay_ms` has passed since the first request, then
/// 0x10 (`accept`) or 0x05.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Confirmation {
    /// Time until the (simulated) person in the vehicle decides, in ms.
    pub delay_ms: u64,
    /// Whether they confirm.
    pub accept: bool,
}

/// Spec timers (PROTOCOL.md §5), in milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timing {
    /// `T_TCP_Initial_Inactivity`: close a socket without routing activation.
    pub initial_inactivity_ms: u64,
    /// `T_TCP_General_Inactivity`: close an idle socket.
    pub general_inactivity_ms: u64,
    /// `T_TCP_Alive_Check`: wait for alive check responses.
    pub alive_check_ms: u64,
    /// `A_DoIP_Announce_Wait` upper bound: random delay before announcing or answering UDP.
    pub announce_wait_max_ms: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            initial_inactivity_ms: 2_000,
            general_inactivity_ms: 300_000,
            alive_check_ms: 500,
            announce_wait_max_ms: 500,
        }
    }
}

/// Vehicle announcements at start-up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Announce {
    /// Where to send them (`255.255.255.255:13400` on a real network); none: not sent.
    pub to: Option<SocketAddr>,
    /// How many (3).
    pub count: u32,
    /// Gap between them, in ms (500).
    pub interval_ms: u64,
}

impl Default for Announce {
    fn default() -> Self {
        Self { to: None, count: 3, interval_ms: 500 }
    }
}

/// Misbehaviour on demand.
#[allow(clippy::struct_excessive_bools)] // independent switches, as in the TOML file
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Delay diagnostic ACKs by this many ms.
    pub ack_delay_ms: u64,
    /// Send no diagnostic ACKs.
    pub drop_ack: bool,
    /// Delay UDS responses by this many ms.
    pub response_delay_ms: u64,
    /// Send no UDS responses.
    pub drop_response: bool,
    /// Close the connection after this many received messages.
    pub close_after_messages: Option<u32>,
    /// Write every byte in its own TCP segment.
    pub one_byte_segments: bool,
    /// Send alive check requests at this interval (ms) once routing is active.
    pub alive_check_interval_ms: Option<u64>,
    /// Answer UDS requests with a header whose inverse version byte is wrong.
    pub malformed_header: bool,
    /// Answer UDS requests with a header announcing a 4 GiB payload.
    pub hostile_length: bool,
    /// Reset the entity after this many received messages, as on UDS 11 01: every ECU loses
    /// its session and download, every connection drops, new ones are refused for the reset
    /// time ("ECU reset mid-download").
    pub reset_after_messages: Option<u32>,
    /// Connections closed by a fault or a reset are dropped abruptly: nothing queued is
    /// flushed and TLS ends without `close_notify`.
    pub abrupt_close: bool,
    /// Stop reading a connection once routing is active, so the tester's writes block.
    pub stop_reading: bool,
}

impl Default for SimConfig {
    /// A gateway on 127.0.0.1:13400 whose own address 0x4010 answers UDS, with ECUs 0x4011
    /// and 0x4012 behind it.
    fn default() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            tcp_port: 13400,
            udp_port: 13400,
            tls: None,
            identity: Identity::default(),
            ecus: vec![
                EcuConfig {
                    name: "gateway".into(),
                    logical_address: "0x4010".into(),
                    ..EcuConfig::default()
                },
                EcuConfig {
                    name: "engine".into(),
                    logical_address: "0x4011".into(),
                    dids: dids_with_part_number("ENGINE-0001"),
                    routines: BTreeMap::from([("0x0203".into(), "00".into())]),
                    ..EcuConfig::default()
                },
                EcuConfig {
                    name: "brakes".into(),
                    logical_address: "0x4012".into(),
                    dids: dids_with_part_number("BRAKES-0001"),
                    ..EcuConfig::default()
                },
            ],
            routing: RoutingConfig::default(),
            timing: Timing::default(),
            announce: Announce::default(),
            faults: Faults::default(),
            faults_by_tester: BTreeMap::new(),
        }
    }
}

impl SimConfig {
    /// Parses a TOML configuration; absent fields keep their defaults.
    ///
    /// # Errors
    /// [`Error::Config`] naming the problem.
    pub fn from_toml(text: &str) -> Result<Self, Error> {
        toml::from_str(text).map_err(|e| Error::Config(e.to_string()))
    }

    /// A configuration for tests: every port picked by the OS, no random delays, no
    /// announcements, quick ECU resets.
    #[must_use]
    pub fn for_tests() -> Self {
        let mut c = Self { tcp_port: 0, udp_port: 0, ..Self::default() };
        c.timing.announce_wait_max_ms = 0;
        for ecu in &mut c.ecus {
            ecu.reset_ms = 200;
        }
        c
    }
}

/// A duration in milliseconds from configuration.
pub(crate) const fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

#[cfg(test)]
mod tests {
    use super::SimConfig;

    /// The shipped example documents the defaults: it must stay equal to them.
    #[test]
    fn the_example_file_is_the_default_configuration() {
        let example = SimConfig::from_toml(include_str!("../ecu.toml")).unwrap();
        assert_eq!(example, SimConfig::default());
    }
}
