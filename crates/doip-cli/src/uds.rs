//! `doip uds …`: one UDS service, typed, through doip-uds's `UdsClient`.
// Doc comments here are clap's help text: UDS service names are words there, not code.
#![allow(clippy::doc_markdown)]

use std::io::{Read as _, Write as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use doip_proto::LogicalAddress;
use doip_uds::{
    DidLengths, Dtc, KeyAlgorithm, MemoryFormat, ResetType, RoutineControlType, SessionType,
    UdsClient, UdsOptions, XorKey,
};
use serde_json::{Value, json};

use crate::args::{
    Conn, HexBytes, duration, hex_bytes, parse_address, parse_hex, parse_id, parse_number, parse_u8,
};
use crate::{Failure, json as j, live};

/// How to unlock a security level.
#[derive(Args, Debug, Clone)]
pub(crate) struct SecurityArgs {
    /// SecurityAccess level to unlock first (the odd requestSeed value, e.g. 1).
    #[arg(long, value_parser = parse_u8, global = true)]
    pub(crate) security_level: Option<u8>,
    /// Shell command that reads the seed as hex on standard input and prints the key as hex.
    #[arg(long, global = true, conflicts_with = "security_key_xor")]
    pub(crate) key_command: Option<String>,
    /// key = seed XOR this constant (hex; the simulator's algorithm uses 5A5AA5A5).
    #[arg(long, value_parser = hex_bytes, global = true)]
    pub(crate) security_key_xor: Option<HexBytes>,
}

impl SecurityArgs {
    /// The key algorithm the options name, if any.
    ///
    /// # Errors
    /// `--security-level` without a way to compute the key.
    pub(crate) fn algorithm(&self) -> Result<Option<Box<dyn KeyAlgorithm>>, Failure> {
        match (&self.key_command, &self.security_key_xor) {
            (Some(cmd), _) => Ok(Some(Box::new(KeyCommand(cmd.clone())))),
            (None, Some(xor)) => Ok(Some(Box::new(XorKey(xor.0.clone())))),
            (None, None) if self.security_level.is_some() => Err(Failure::new(
                Failure::USAGE,
                "--security-level needs --key-command or --security-key-xor",
            )),
            (None, None) => Ok(None),
        }
    }
}

/// `--key-command`: the seed in hex on standard input, the key in hex on standard output.
struct KeyCommand(String);

/// How long a key command may take.
const KEY_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

impl KeyAlgorithm for KeyCommand {
    fn key(
        &mut self,
        level: u8,
        seed: &[u8],
    ) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&self.0)
            .env("DOIP_SECURITY_LEVEL", level.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("--key-command {:?}: {e}", self.0))?;
        if let Some(mut stdin) = child.stdin.take() {
            writeln!(stdin, "{}", j::hex(seed))?;
        }
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if started.elapsed() > KEY_COMMAND_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(
                    format!("--key-command did not finish within {KEY_COMMAND_TIMEOUT:?}").into()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let mut out = String::new();
        if let Some(stdout) = child.stdout.take() {
            stdout.take(64 * 1024).read_to_string(&mut out)?;
        }
        if !status.success() {
            return Err(format!("--key-command exited with {status}").into());
        }
        parse_hex(out.trim()).map_err(|e| format!("--key-command printed no hex key: {e}").into())
    }
}

/// Client options from the command line.
pub(crate) fn options(memory_format: Option<u8>) -> Result<UdsOptions, Failure> {
    let mut o = UdsOptions::default();
    if let Some(alfid) = memory_format {
        o.memory_format =
            Some(MemoryFormat::from_alfid(alfid).map_err(|e| Failure::new(Failure::USAGE, e))?);
    }
    Ok(o)
}

#[derive(Args, Debug)]
pub(crate) struct UdsArgs {
    /// The ECU addressed.
    #[arg(long, value_parser = parse_address, global = true)]
    pub(crate) target: Option<LogicalAddress>,
    /// Enter this session before the operation (e.g. 3 for extended).
    #[arg(long, value_parser = parse_u8, global = true)]
    pub(crate) session: Option<u8>,
    #[command(flatten)]
    pub(crate) security: SecurityArgs,
    #[command(subcommand)]
    pub(crate) op: UdsOp,
    #[command(flatten)]
    pub(crate) conn: Conn,
}

#[derive(Subcommand, Debug)]
pub(crate) enum UdsOp {
    /// ReadDataByIdentifier of one or more DIDs (hex), in one request.
    ReadDid {
        /// The DIDs.
        #[arg(required = true, value_parser = parse_id)]
        dids: Vec<u16>,
        /// A DID's data length, needed to split the answer to several DIDs (DID=N).
        #[arg(long, value_parser = parse_length)]
        length: Vec<(u16, usize)>,
    },
    /// WriteDataByIdentifier.
    WriteDid {
        /// The DID (hex).
        #[arg(value_parser = parse_id)]
        did: u16,
        /// The data (hex).
        #[arg(value_parser = hex_bytes)]
        data: HexBytes,
    },
    /// DiagnosticSessionControl; prints P2 and P2*.
    Session {
        /// 1 default, 2 programming, 3 extended, 4 safety, or any byte.
        #[arg(value_parser = parse_u8)]
        session: u8,
    },
    /// ECUReset: hard, key-off-on, soft, or a byte.
    Reset {
        /// The reset type.
        #[arg(default_value = "hard", value_parser = parse_reset)]
        kind: u8,
    },
    /// SecurityAccess: unlock a level (with --key-command or --security-key-xor).
    Security {
        /// The level (odd requestSeed value).
        #[arg(value_parser = parse_u8)]
        level: u8,
    },
    /// ReadDTCInformation by status mask: every DTC with a status bit of the mask set.
    Dtc {
        /// The status mask.
        #[arg(long, value_parser = parse_u8, default_value = "0xFF")]
        mask: u8,
    },
    /// ClearDiagnosticInformation of a group (hex; default FFFFFF: all).
    ClearDtc {
        /// The group.
        #[arg(default_value = "0xFFFFFF", value_parser = parse_number)]
        group: u64,
    },
    /// RoutineControl: start, stop or results of a routine (hex identifier, optional hex
    /// option record).
    Routine {
        /// start, stop or results.
        #[arg(value_parser = parse_routine_control)]
        control: u8,
        /// The routine identifier.
        #[arg(value_parser = parse_id)]
        routine: u16,
        /// The routineControlOptionRecord.
        #[arg(value_parser = hex_bytes)]
        options: Option<HexBytes>,
    },
    /// TesterPresent every interval (3E 00, printing each answer; --suppress: 3E 80).
    TesterPresent {
        /// The interval.
        #[arg(long, value_parser = duration, default_value = "2s")]
        every: Duration,
        /// Stop after this many (default: until interrupted).
        #[arg(long)]
        count: Option<u64>,
        /// Send 3E 80 (no positive answer).
        #[arg(long)]
        suppress: bool,
        /// --target is a functional address: print every ECU's answer (collected for
        /// --timeout).
        #[arg(long)]
        functional: bool,
    },
}

fn parse_length(s: &str) -> Result<(u16, usize), String> {
    let (did, len) = s.split_once('=').ok_or_else(|| format!("{s:?}: expected DID=LENGTH"))?;
    let len = len.parse().map_err(|_| format!("{s:?}: {len:?} is not a length"))?;
    Ok((parse_id(did)?, len))
}

fn parse_reset(s: &str) -> Result<u8, String> {
    match s {
        "hard" => Ok(0x01),
        "key-off-on" => Ok(0x02),
        "soft" => Ok(0x03),
        other => parse_u8(other),
    }
}

fn parse_routine_control(s: &str) -> Result<u8, String> {
    match s {
        "start" => Ok(0x01),
        "stop" => Ok(0x02),
        "results" => Ok(0x03),
        other => Err(format!("{other:?}: expected start, stop or results")),
    }
}

pub(crate) fn run(a: &UdsArgs) -> Result<(), Failure> {
    let json = a.conn.common.json;
    let mut key = a.security.algorithm()?;
    let target = a.target.ok_or_else(|| Failure::new(Failure::USAGE, "--target is required"))?;
    let client = live::connect(&a.conn, target, true)?;
    let mut uds = UdsClient::with_options(client, options(None)?);
    if let Some(session) = a.session {
        uds.session_control(SessionType::from_value(session))?;
    }
    if let (Some(level), Some(key)) = (a.security.security_level, key.as_deref_mut()) {
        uds.security_access(level, key)?;
    }
    if let UdsOp::TesterPresent { every, count, suppress, functional } = &a.op {
        let to = (*functional).then_some((target, a.conn.common.timeout));
        return tester_present(&mut uds, json, *every, *count, *suppress, to);
    }
    let (value, text) = operate(&mut uds, &a.op, key.as_deref_mut())?;
    live::emit(json, &value, || text);
    Ok(())
}

/// Runs one operation; its JSON and text output.
fn operate(
    uds: &mut UdsClient<doip_client::Client>,
    op: &UdsOp,
    key: Option<&mut (dyn KeyAlgorithm + 'static)>,
) -> Result<(Value, String), Failure> {
    Ok(match op {
        UdsOp::ReadDid { dids, length } => {
            uds.options_mut().did_lengths = length.iter().copied().collect::<DidLengths>();
            let values = uds.read_data_by_identifiers(dids)?;
            let text = values
                .iter()
                .map(|(did, data)| format!("{did:04X}: {} {}", live::spaced(data), printable(data)))
                .collect::<Vec<_>>()
                .join("\n");
            let objects: Vec<Value> = values
                .iter()
                .map(|(did, data)| json!({"did": did, "data": j::hex(data), "text": printable(data)}))
                .collect();
            (json!({"service": "ReadDataByIdentifier", "values": objects}), text)
        }
        UdsOp::WriteDid { did, data } => {
            let data = &data.0;
            uds.write_data_by_identifier(*did, data)?;
            (
                json!({"service": "WriteDataByIdentifier", "did": did, "data": j::hex(data)}),
                format!("{did:04X} written"),
            )
        }
        UdsOp::Session { session } => {
            let answer = uds.session_control(SessionType::from_value(*session))?;
            let (p2, p2_star) = answer
                .timing
                .map_or((None, None), |t| (Some(millis(t.p2)), Some(millis(t.p2_star))));
            let text = answer.timing.map_or_else(
                || format!("{}", answer.session),
                |t| format!("{}: P2 {:?}, P2* {:?}", answer.session, t.p2, t.p2_star),
            );
            (
                json!({"service": "DiagnosticSessionControl", "session": session, "p2_ms": p2, "p2_star_ms": p2_star}),
                text,
            )
        }
        UdsOp::Reset { kind } => {
            let reset = ResetType::from_value(*kind);
            let power_down = uds.ecu_reset(reset)?;
            (
                json!({"service": "ECUReset", "reset_type": kind, "power_down_time": power_down}),
                format!("{reset}"),
            )
        }
        UdsOp::Security { level } => {
            let key = key.ok_or_else(|| {
                Failure::new(Failure::USAGE, "security needs --key-command or --security-key-xor")
            })?;
            uds.security_access(*level, key)?;
            (
                json!({"service": "SecurityAccess", "level": level, "unlocked": true}),
                format!("level {level:#04x} unlocked"),
            )
        }
        UdsOp::Dtc { mask } => {
            let list = uds.read_dtc_by_status_mask(*mask)?;
            let text = list
                .dtcs
                .iter()
                .map(|(dtc, status)| format!("{dtc} {status}"))
                .collect::<Vec<_>>()
                .join("\n");
            let dtcs: Vec<Value> = list
                .dtcs
                .iter()
                .map(|(dtc, status)| json!({"dtc": dtc.0, "status": status.0, "status_bits": status.names().collect::<Vec<_>>()}))
                .collect();
            let text = if text.is_empty() { "no DTC matches".to_owned() } else { text };
            (
                json!({"service": "ReadDTCInformation", "availability_mask": list.availability_mask, "dtcs": dtcs}),
                text,
            )
        }
        UdsOp::ClearDtc { group } => {
            let group =
                u32::try_from(*group).ok().filter(|g| *g <= 0x00FF_FFFF).ok_or_else(|| {
                    Failure::new(Failure::USAGE, "the DTC group is 3 bytes (at most 0xFFFFFF)")
                })?;
            uds.clear_diagnostic_information(Dtc(group))?;
            (
                json!({"service": "ClearDiagnosticInformation", "group": group}),
                format!("DTCs of group {} cleared", Dtc(group)),
            )
        }
        UdsOp::Routine { control, routine, options } => {
            let kind = RoutineControlType::from_value(*control);
            let options = options.as_ref().map_or(&[][..], |o| o.0.as_slice());
            let status = uds.routine_control(kind, *routine, options)?;
            (
                json!({"service": "RoutineControl", "control": control, "routine": routine, "status": j::hex(&status)}),
                format!("routine {routine:04X} {kind}: {}", live::spaced(&status)),
            )
        }
        UdsOp::TesterPresent { .. } => unreachable!("handled by run"),
    })
}

/// 3E 00 (or 3E 80) every `every`, `count` times or forever; to a functional address (and
/// collecting for a time) when `functional` says so.
fn tester_present(
    uds: &mut UdsClient<doip_client::Client>,
    json: bool,
    every: Duration,
    count: Option<u64>,
    suppress: bool,
    functional: Option<(LogicalAddress, Duration)>,
) -> Result<(), Failure> {
    let request = doip_uds::codec::tester_present(suppress);
    let mut sent = 0u64;
    while count.is_none_or(|n| sent < n) {
        if sent > 0 {
            std::thread::sleep(every);
        }
        let started = Instant::now();
        let answers = if let Some((target, window)) = functional {
            uds.channel_mut().functional_request(target, &request, window)?
        } else {
            let ecu = uds.channel_mut().ecu();
            vec![(ecu, uds.raw(&request)?)]
        };
        sent += 1;
        let took = started.elapsed();
        for (from, answer) in &answers {
            let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
            live::emit(
                json,
                &json!({"service": "TesterPresent", "n": sent, "from": from.0, "answer": j::hex(answer), "us": us}),
                || match answer.as_slice() {
                    [] => format!("#{sent} {from}: 3E 80 acknowledged ({took:.1?})"),
                    a => format!("#{sent} {from}: {} ({took:.1?})", live::spaced(a)),
                },
            );
        }
        if answers.is_empty() {
            live::emit(json, &json!({"service": "TesterPresent", "n": sent, "answers": 0}), || {
                format!("#{sent}: no ECU answered")
            });
        }
    }
    Ok(())
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The bytes as text when they are printable ASCII (a VIN, a part number), else empty.
fn printable(data: &[u8]) -> String {
    if !data.is_empty() && data.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("{:?}", String::from_utf8_lossy(data))
    } else {
        String::new()
    }
}
