//! The command line, as `clap` derives it.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use doip_proto::{ActivationType, Eid, LogicalAddress, ProtocolVersion, Vin};

#[derive(Parser)]
#[command(name = "doip", version, about = "Diagnostics over IP (ISO 13400-2) tools")]
#[command(after_help = "Exit codes: 0 success, 1 DoIP/UDS negative answer, 2 usage, \
                        3 timeout or unreachable, 4 I/O or TLS error.")]
pub(crate) struct Cli {
    /// Log more: -v prints every DoIP frame sent and received (with a timestamp) on standard
    /// error, -vv the libraries' debug log, -vvv everything. RUST_LOG (e.g.
    /// `RUST_LOG=doip::frame=debug`) takes precedence.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    #[allow(clippy::doc_markdown)] // help text: the variable's name as users type it
    pub(crate) verbose: u8,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Find DoIP entities: one identification request, every answer within the timeout.
    Discover(DiscoverArgs),
    /// Print vehicle announcements as they arrive, until Ctrl-C or --count.
    Listen(ListenArgs),
    /// Ask an entity for its status (node type, sockets, max data size) over UDP.
    Status(Conn),
    /// Ask an entity for its diagnostic power mode over UDP.
    PowerMode(Conn),
    /// Send an alive check request over TCP and print the answer.
    Alive(Conn),
    /// Activate routing and print the entity's answer.
    Activate(Conn),
    /// Activate routing, send each UDS request, print each answer (waiting through 7F xx 78).
    Send(SendArgs),
    /// Flash an image file (Intel HEX, S-record or binary) to an ECU: programming session,
    /// security access, erase, download per segment, check, reset.
    Flash(crate::flash::FlashArgs),
    /// One UDS service, typed: read-did, write-did, session, reset, security, dtc, clear-dtc,
    /// routine, tester-present.
    Uds(crate::uds::UdsArgs),
    /// Decode DoIP from a pcap/pcapng capture, or from hex bytes.
    Decode(DecodeArgs),
    /// Run a simulated DoIP entity (a gateway with ECUs behind it) until Ctrl-C.
    Sim(SimArgs),
    /// Show the whole stack against a built-in simulated ECU on loopback.
    Demo(DemoArgs),
}

/// Options shared by the live commands.
#[derive(Args, Clone, Debug)]
pub(crate) struct Common {
    /// How long to wait for answers (e.g. 2s, 500ms).
    #[arg(long, value_parser = parse_duration, default_value = "2s", global = true)]
    pub(crate) timeout: Duration,
    /// One JSON object per line instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// DoIP protocol version to send: 1 (2010), 2 (2012), 3 (2019), or a byte value.
    #[arg(long, value_parser = parse_version, default_value = "2", global = true)]
    pub(crate) protocol_version: ProtocolVersion,
}

/// Where the entity is and how to talk to it.
#[derive(Args, Clone, Debug)]
pub(crate) struct Conn {
    /// The entity's IP address (default: the first entity answering a broadcast).
    #[arg(long, global = true)]
    pub(crate) ip: Option<IpAddr>,
    /// TCP_DATA port (default 13400, 3496 with --tls).
    #[arg(long, global = true)]
    pub(crate) port: Option<u16>,
    /// UDP_DISCOVERY port of the entity.
    #[arg(long, default_value_t = 13400, global = true)]
    pub(crate) udp_port: u16,
    /// DoIP over TLS, verifying the entity's certificate against the platform's trusted roots
    /// (or --ca, or --insecure-test-bench).
    #[arg(long, global = true)]
    pub(crate) tls: bool,
    /// PEM file of the certificate authorities the entity's certificate must chain to
    /// (instead of the platform's).
    #[arg(long, requires = "tls", global = true)]
    pub(crate) ca: Option<PathBuf>,
    /// Accept any certificate (self-signed test benches only: no protection from impostors).
    #[arg(long, requires = "tls", global = true)]
    pub(crate) insecure_test_bench: bool,
    /// Name the certificate must carry (default: the IP address).
    #[arg(long, requires = "tls", global = true)]
    pub(crate) server_name: Option<String>,
    /// Tester logical address (0x0E00-0x0FFF).
    #[arg(long, value_parser = parse_address, default_value = "0x0E00", global = true)]
    pub(crate) source: LogicalAddress,
    /// Activation type: default, wwh-obd, central-security, or a number.
    #[arg(long, value_parser = parse_activation, default_value = "default", global = true)]
    pub(crate) activation: ActivationType,
    /// Write every DoIP frame of the session to this pcapng file (Wireshark opens it). The
    /// frames are the plaintext DoIP, also with --tls; then the TLS key log is written beside
    /// it (FILE.keys), for decrypting a raw capture of the same session.
    #[arg(long, global = true)]
    pub(crate) capture: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) common: Common,
}

#[derive(Args, Debug)]
pub(crate) struct DiscoverArgs {
    /// Ask this entity only (unicast) instead of broadcasting.
    #[arg(long, conflicts_with_all = ["broadcast", "ipv6"])]
    pub(crate) ip: Option<IpAddr>,
    /// Broadcast address to send to.
    #[arg(long, default_value = "255.255.255.255")]
    pub(crate) broadcast: IpAddr,
    /// Use IPv6 multicast to `FF02::1` on --interface.
    #[arg(long, requires = "interface")]
    pub(crate) ipv6: bool,
    /// Interface name or index for IPv6.
    #[arg(long)]
    pub(crate) interface: Option<String>,
    /// UDP_DISCOVERY port of the entities.
    #[arg(long, default_value_t = 13400)]
    pub(crate) udp_port: u16,
    /// Only the entities of this vehicle answer.
    #[arg(long, value_parser = parse_vin)]
    pub(crate) vin: Option<Vin>,
    /// Only the entity with this EID answers.
    #[arg(long, value_parser = parse_eid)]
    pub(crate) eid: Option<Eid>,
    #[command(flatten)]
    pub(crate) common: Common,
}

#[derive(Args, Debug)]
pub(crate) struct ListenArgs {
    /// UDP port to listen on.
    #[arg(long, default_value_t = 13400)]
    pub(crate) udp_port: u16,
    /// Listen over IPv6 (`FF02::1` joined on --interface).
    #[arg(long, requires = "interface")]
    pub(crate) ipv6: bool,
    /// Interface name or index for IPv6.
    #[arg(long)]
    pub(crate) interface: Option<String>,
    /// Stop after this many announcements.
    #[arg(long)]
    pub(crate) count: Option<u64>,
    /// Stop after this long (e.g. 10s); default: never.
    #[arg(long, value_parser = parse_duration)]
    pub(crate) timeout: Option<Duration>,
    /// One JSON object per line.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args, Debug)]
pub(crate) struct SendArgs {
    /// ECU (or, with --functional, functional group) address.
    #[arg(long, value_parser = parse_address)]
    pub(crate) target: LogicalAddress,
    /// Send to a functional address and collect the answers of every ECU until the timeout.
    #[arg(long)]
    pub(crate) functional: bool,
    /// UDS requests in hex, one per argument (e.g. 22F190 or 22:f1:90).
    #[arg(required = true, value_parser = parse_hex)]
    pub(crate) requests: Vec<Vec<u8>>,
    #[command(flatten)]
    pub(crate) conn: Conn,
}

#[derive(Args, Debug)]
pub(crate) struct DecodeArgs {
    /// A pcap or pcapng capture ("-" reads standard input).
    #[arg(long, conflicts_with = "hex")]
    pub(crate) pcap: Option<PathBuf>,
    /// DoIP bytes in hex: one or more frames, split across arguments as you like.
    #[arg(required_unless_present = "pcap")]
    pub(crate) hex: Vec<String>,
    /// Another port carrying DoIP (13400 always does; repeatable).
    #[arg(long)]
    pub(crate) port: Vec<u16>,
    /// Another TCP port carrying DoIP over TLS (3496 always does; repeatable).
    #[arg(long)]
    pub(crate) tls_port: Vec<u16>,
    /// Print only the counts at the end.
    #[arg(long)]
    pub(crate) summary: bool,
    /// One JSON object per line.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args, Debug)]
pub(crate) struct SimArgs {
    /// Address to bind (overrides the configuration file).
    #[arg(long)]
    pub(crate) bind: Option<IpAddr>,
    /// TOML configuration (see crates/doip-sim/ecu.toml for every field).
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// TCP_DATA port (0 picks a free one).
    #[arg(long)]
    pub(crate) tcp_port: Option<u16>,
    /// UDP_DISCOVERY port (0 picks a free one).
    #[arg(long)]
    pub(crate) udp_port: Option<u16>,
    /// PEM certificate chain: serve DoIP over TLS as well.
    #[arg(long, requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// TLS port.
    #[arg(long, default_value_t = 3496)]
    pub(crate) tls_port: u16,
    /// No line per event (connections, requests, answers): only the start-up lines.
    #[arg(long)]
    pub(crate) quiet: bool,
}

#[derive(Args, Debug)]
pub(crate) struct DemoArgs {
    /// Size of the flash download.
    #[arg(long, default_value_t = 1 << 20)]
    pub(crate) flash_bytes: usize,
    /// TesterPresent round trips measured for the latency figure.
    #[arg(long, default_value_t = 1000)]
    pub(crate) round_trips: u32,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (try 2s or 500ms)"))
}

pub(crate) fn parse_address(s: &str) -> Result<LogicalAddress, String> {
    s.parse().map_err(|_| format!("{s:?} is not a logical address (0x0E00 or 3584)"))
}

fn parse_vin(s: &str) -> Result<Vin, String> {
    s.parse().map_err(|e| format!("{s:?}: {e}"))
}

fn parse_eid(s: &str) -> Result<Eid, String> {
    s.parse().map_err(|e| format!("{s:?}: {e} (e.g. 00:1a:37:bf:ee:74)"))
}

/// A number in decimal or `0x` hex.
pub(crate) fn parse_number(s: &str) -> Result<u64, String> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
        None => s.replace('_', "").parse(),
    }
    .map_err(|_| format!("{s:?} is not a number (decimal or 0x hex)"))
}

/// A 16-bit value (DID, routine identifier) in hex, with or without `0x`.
pub(crate) fn parse_id(s: &str) -> Result<u16, String> {
    let hex = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
    u16::from_str_radix(hex, 16).map_err(|_| format!("{s:?} is not a 16-bit hex identifier (F190)"))
}

/// A byte value in decimal or `0x` hex.
pub(crate) fn parse_u8(s: &str) -> Result<u8, String> {
    parse_byte(s).ok_or_else(|| format!("{s:?} is not a byte value (decimal or 0x hex)"))
}

/// A duration such as `2s` or `500ms`.
pub(crate) fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s)
}

/// A byte value in decimal or `0x` hex.
fn parse_byte(s: &str) -> Option<u8> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u8::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn parse_version(s: &str) -> Result<ProtocolVersion, String> {
    let v = match s {
        "2010" => Some(1),
        "2012" => Some(2),
        "2019" => Some(3),
        _ => parse_byte(s),
    };
    v.map(ProtocolVersion::from)
        .ok_or_else(|| format!("{s:?} is not a protocol version (1, 2, 3, 0x02, 2012...)"))
}

fn parse_activation(s: &str) -> Result<ActivationType, String> {
    let v = match s.to_ascii_lowercase().as_str() {
        "default" => Some(0x00),
        "wwh-obd" | "wwhobd" => Some(0x01),
        "central-security" | "central_security" => Some(0xE0),
        other => parse_byte(other),
    };
    v.map(ActivationType::from).ok_or_else(|| {
        format!("{s:?} is not an activation type (default, wwh-obd, central-security, or a number)")
    })
}

/// Bytes given in hex as one argument (clap reads a `Vec<u8>` field as many values).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HexBytes(pub(crate) Vec<u8>);

/// [`parse_hex`] as one [`HexBytes`] value.
pub(crate) fn hex_bytes(s: &str) -> Result<HexBytes, String> {
    parse_hex(s).map(HexBytes)
}

/// Hex bytes; spaces, colons, dashes and a leading `0x` are allowed.
pub(crate) fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = s
        .trim()
        .trim_start_matches("0x")
        .bytes()
        .filter(|b| !matches!(b, b' ' | b':' | b'-' | b'_'))
        .collect();
    if digits.is_empty() {
        return Err(format!("{s:?} holds no hex bytes"));
    }
    if let Some(bad) = digits.iter().find(|b| !b.is_ascii_hexdigit()) {
        return Err(format!("{s:?} is not hex ({:?} is not a hex digit)", char::from(*bad)));
    }
    if !digits.len().is_multiple_of(2) {
        return Err(format!("{s:?} has an odd number of hex digits"));
    }
    Ok(digits
        .chunks(2)
        .map(|p| {
            let text = std::str::from_utf8(p).unwrap_or("00");
            u8::from_str_radix(text, 16).unwrap_or(0)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    /// clap's own consistency checks of every command and option (they run only in debug
    /// builds when a command is parsed; this runs them all).
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory as _;
        super::Cli::command().debug_assert();
    }
}
