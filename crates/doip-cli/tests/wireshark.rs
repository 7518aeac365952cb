//! `doip decode --json` agrees with Wireshark's DoIP dissector (`tshark -T json`) on every
//! DoIP message: header, addresses, codes, identities and user data — on the committed
//! captures under `tests/data/` and on a live capture of `doip` talking to the simulator —
//! and with its UDS dissector on every `uds.*` field of a live capture of `doip flash`,
//! `doip uds` and `doip send`.
#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use common::{doip, tool_available};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data")
}

/// What one side saw in one frame.
#[derive(Default, Debug)]
struct FrameView {
    /// Well-formed messages as `(field, value)` maps, in order.
    messages: Vec<BTreeMap<String, String>>,
    /// Headers of messages the side called malformed.
    flagged: Vec<BTreeMap<String, String>>,
    /// The side reported a malformed frame or an error.
    malformed: bool,
}

/// A number as tshark prints it (`0x0e00`, `7`) or as our JSON holds it.
fn number(v: &Value) -> String {
    match v {
        Value::String(s) => s
            .strip_prefix("0x")
            .map_or_else(|| s.clone(), |h| u64::from_str_radix(h, 16).unwrap().to_string()),
        Value::Number(n) => n.to_string(),
        other => panic!("not a number: {other}"),
    }
}

/// Colon-separated hex (tshark) or plain hex (ours) as plain lower-case hex.
fn bytes(v: &Value) -> String {
    v.as_str().unwrap().replace(':', "").to_lowercase()
}

fn ours(capture: &Path, extra: &[&str]) -> BTreeMap<u64, FrameView> {
    let out =
        doip().args(["decode", "--json", "--pcap"]).arg(capture).args(extra).output().unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&out.stderr));
    let mut frames: BTreeMap<u64, FrameView> = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let o: Map<String, Value> = serde_json::from_str(line).unwrap();
        let view = frames.entry(o["frame"].as_u64().unwrap()).or_default();
        if o.contains_key("tls") {
            continue;
        }
        let mut m = BTreeMap::new();
        for (k, v) in &o {
            let text = match k.as_str() {
                "version" | "inverse_version" | "payload_type" | "payload_length"
                | "source_address" | "target_address" | "logical_address" | "activation_type"
                | "response_code" | "ack_code" | "nack_code" | "further_action" | "sync_status"
                | "node_type" | "max_sockets" | "open_sockets" | "max_data_size" | "power_mode"
                | "reserved" => {
                    if v.is_null() {
                        continue;
                    }
                    number(v)
                }
                "user_data" | "previous_message" | "oem_specific" => {
                    if v.is_null() || v.as_str() == Some("") {
                        continue;
                    }
                    bytes(v)
                }
                "vin" | "eid" | "gid" | "src" | "dst" => v.as_str().unwrap().to_lowercase(),
                _ => continue,
            };
            m.insert(k.clone(), text);
        }
        if o.contains_key("error") {
            view.malformed = true;
            view.flagged.push(m);
        } else {
            view.messages.push(m);
        }
    }
    frames
}

/// tshark's field names for ours, by payload type where they differ.
fn wireshark_name(payload_type: u64, field: &str) -> Option<(&'static str, bool)> {
    // (name, is_bytes)
    Some(match (payload_type, field) {
        (_, "version") => ("doip.version", false),
        (_, "inverse_version") => ("doip.inverse", false),
        (_, "payload_type") => ("doip.type", false),
        (_, "payload_length") => ("doip.length", false),
        (6, "target_address") => ("doip.tester_logical_address", false),
        (_, "source_address") => ("doip.source_address", false),
        (_, "target_address") => ("doip.target_address", false),
        (_, "logical_address") => ("doip.logical_address", false),
        (_, "activation_type") => ("doip.activation_type", false),
        (_, "response_code") => ("doip.response_code", false),
        (_, "ack_code") => ("doip.diag_ack_code", false),
        (0, "nack_code") => ("doip.nack_code", false),
        (_, "nack_code") => ("doip.diag_nack_code", false),
        (_, "further_action") => ("doip.futher_action", false),
        (_, "sync_status") => ("doip.sync_status", false),
        (_, "node_type") => ("doip.node_type", false),
        (_, "max_sockets") => ("doip.max_sockets", false),
        (_, "open_sockets") => ("doip.sockets", false),
        (_, "max_data_size") => ("doip.max_data_size", false),
        (_, "power_mode") => ("doip.power_mode", false),
        (_, "reserved") => ("doip.reserved_iso", false),
        (_, "oem_specific") => ("doip.reserved_oem", false),
        (_, "previous_message") => ("doip.previous", true),
        (_, "vin") => ("doip.vin", false),
        (_, "eid") => ("doip.eid", false),
        (_, "gid") => ("doip.gid", false),
        _ => return None,
    })
}

/// Flattens one tshark `doip` layer (the header sits in a "Header" subtree).
fn flatten(layer: &Map<String, Value>, into: &mut Map<String, Value>) {
    for (k, v) in layer {
        match v {
            Value::Object(inner) => flatten(inner, into),
            other => {
                into.insert(k.clone(), other.clone());
            }
        }
    }
}

fn as_list(v: Option<&Value>) -> Vec<Value> {
    match v {
        None => vec![],
        Some(Value::Array(a)) => a.clone(),
        Some(other) => vec![other.clone()],
    }
}

fn theirs(capture: &Path, decode_as: &[String]) -> BTreeMap<u64, FrameView> {
    let mut cmd = Command::new("tshark");
    cmd.args(["-T", "json", "--no-duplicate-keys", "--disable-protocol", "uds", "-r"]);
    cmd.arg(capture);
    for d in decode_as {
        cmd.args(["-d", d]);
    }
    let out = cmd.stderr(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "tshark failed on {}", capture.display());
    let packets: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut frames = BTreeMap::new();
    for p in packets {
        let layers = p["_source"]["layers"].as_object().unwrap();
        let frame_no: u64 = layers["frame"]["frame.number"].as_str().unwrap().parse().unwrap();
        let mut view =
            FrameView { malformed: layers.contains_key("_ws.malformed"), ..Default::default() };
        let ip = if layers.contains_key("ipv6") { "ipv6" } else { "ip" };
        let transport = if layers.contains_key("tcp") { "tcp" } else { "udp" };
        let endpoint = |side: &str| -> String {
            let addr = layers[ip][format!("{ip}.{side}")].as_str().unwrap_or_default().to_owned();
            let port =
                layers[transport][format!("{transport}.{side}port")].as_str().unwrap_or_default();
            if ip == "ipv6" { format!("[{addr}]:{port}") } else { format!("{addr}:{port}") }
        };
        let mut data = as_list(layers.get("data")).into_iter();
        for layer in as_list(layers.get("doip")) {
            let mut flat = Map::new();
            flatten(layer.as_object().unwrap(), &mut flat);
            if flat.contains_key("doip.illegal_length_field") {
                view.malformed = true;
                continue;
            }
            let payload_type: u64 = number(&flat["doip.type"]).parse().unwrap();
            let mut m = BTreeMap::new();
            m.insert("src".to_owned(), endpoint("src"));
            m.insert("dst".to_owned(), endpoint("dst"));
            for field in [
                "version",
                "inverse_version",
                "payload_type",
                "payload_length",
                "source_address",
                "target_address",
                "logical_address",
                "activation_type",
                "response_code",
                "ack_code",
                "nack_code",
                "further_action",
                "sync_status",
                "node_type",
                "max_sockets",
                "open_sockets",
                "max_data_size",
                "power_mode",
                "reserved",
                "oem_specific",
                "previous_message",
                "vin",
                "eid",
                "gid",
            ] {
                let Some((name, is_bytes)) = wireshark_name(payload_type, field) else { continue };
                // Version 0x01's 2-byte activation type has a field of its own.
                let v1 = (field == "activation_type").then(|| flat.get("doip.activation_type_v1"));
                let Some(v) = flat.get(name).or(v1.flatten()) else { continue };
                let text = match field {
                    "oem_specific" => format!("{:08x}", number(v).parse::<u64>().unwrap()),
                    "vin" | "eid" | "gid" => v.as_str().unwrap().to_lowercase(),
                    _ if is_bytes => bytes(v),
                    _ => number(v),
                };
                // The ISO-reserved field of a routing activation request is what we print
                // as `reserved` too; everything else maps one to one.
                m.insert(field.to_owned(), text);
            }
            if payload_type == 0x8001
                && let Some(d) = data.next()
            {
                m.insert("user_data".to_owned(), bytes(&d["data.data"]));
            }
            view.messages.push(m);
        }
        frames.insert(frame_no, view);
    }
    frames
}

/// Every message we decode cleanly matches Wireshark's, field by field; where we report a
/// malformed message, Wireshark either flags the frame too or shows the same header.
fn assert_agreement(capture: &Path, ports: &[u16]) -> usize {
    let extra: Vec<String> =
        ports.iter().flat_map(|p| ["--port".to_owned(), p.to_string()]).collect();
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let decode_as: Vec<String> = ports
        .iter()
        .flat_map(|p| [format!("tcp.port=={p},doip"), format!("udp.port=={p},doip")])
        .collect();
    let ours = ours(capture, &extra);
    let theirs = theirs(capture, &decode_as);
    let name = capture.file_name().unwrap().to_string_lossy();
    let mut compared = 0;
    for (frame, mine) in &ours {
        let ws = theirs.get(frame).unwrap_or_else(|| panic!("{name} #{frame}: unknown to tshark"));
        if ws.malformed {
            // Wireshark gave up on this frame; we must have flagged something or found
            // messages it could not (after resynchronising).
            continue;
        }
        let header = |m: &BTreeMap<String, String>| {
            ["version", "inverse_version", "payload_type", "payload_length"]
                .map(|k| m.get(k).cloned())
        };
        for bad in &mine.flagged {
            if bad.contains_key("payload_type") {
                assert!(
                    ws.messages.iter().any(|t| header(t) == header(bad)),
                    "{name} #{frame}: we flag {bad:?}, tshark neither flags it nor shows its header: {ws:?}"
                );
            }
        }
        let theirs_clean: Vec<_> = ws
            .messages
            .iter()
            .filter(|t| !mine.flagged.iter().any(|b| header(b) == header(t)))
            .collect();
        assert_eq!(
            mine.messages.len(),
            theirs_clean.len(),
            "{name} #{frame}: {} messages decoded, tshark shows {}:\n ours {:?}\n tshark {:?}",
            mine.messages.len(),
            theirs_clean.len(),
            mine.messages,
            theirs_clean
        );
        for (m, t) in mine.messages.iter().zip(theirs_clean) {
            for (k, v) in t {
                assert_eq!(
                    m.get(k),
                    Some(v),
                    "{name} #{frame} field {k}:\n ours {m:?}\n tshark {t:?}"
                );
            }
            compared += 1;
        }
    }
    // Nothing Wireshark decodes cleanly is missing from our output.
    for (frame, ws) in &theirs {
        if !ws.malformed && !ws.messages.is_empty() {
            assert!(
                ours.contains_key(frame),
                "{name} #{frame}: tshark decodes {:?}, we print nothing",
                ws.messages
            );
        }
    }
    compared
}

fn tshark_or_skip() -> bool {
    tool_available("tshark", &["-v"])
}

#[test]
fn committed_captures_agree_with_wireshark() {
    if !tshark_or_skip() {
        return;
    }
    let mut total = 0;
    for name in [
        "udp-discovery.pcap",
        "tcp-session.pcap",
        "ipv6-session.pcapng",
        "tls-session.pcap",
        "malformed.pcap",
    ] {
        let n = assert_agreement(&data_dir().join(name), &[]);
        println!("{name}: {n} messages agree with tshark");
        total += n;
    }
    assert!(total >= 60, "only {total} messages compared");
}

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// Frames other implementations send that an entity refuses (version 0xFF outside vehicle
/// identification, versions the spec does not define, a wrong inverse byte, unknown types,
/// wrong lengths) and version 0x01 routing activation requests with their 2-byte activation
/// type: we flag what Wireshark shows the header of, and agree on the rest field by field.
#[test]
fn refused_frames_and_version_1_requests_agree_with_wireshark() {
    use doip_pcap::synth::{CaptureWriter, Format, SESSION_START, TcpConnection, udp_frame};
    if !tshark_or_skip() {
        return;
    }
    let tester = "192.168.0.100:50400".parse().unwrap();
    let entity = "192.168.0.10:13400".parse().unwrap();
    let mut c = TcpConnection::new(tester, entity);
    let mut frames: Vec<Vec<u8>> = c.open().unwrap().into();
    for tcp in [
        "01fe 0005 00000008 0e80 0001 00000000",
        "01fe 0005 0000000c 0e80 e000 00000000 deadbeef",
        "02fd 0005 00000007 0e80 00 00000000",
        "ff00 8001 00000006 0e80 4010 1003",
        "00ff 8001 00000006 0e80 4010 1003",
        "05fa 8001 00000006 0e80 4010 1003",
        "7f80 8001 00000006 0e80 4010 1003",
        "fe01 8001 00000006 0e80 4010 1003",
        "04fb 8001 00000006 0e80 4010 1003",
        "02fd 1234 00000002 abcd",
        "02fd 0008 00000002 0e80",
    ] {
        frames.push(c.send(true, &hex(tcp)).unwrap());
    }
    frames.push(c.close(true).unwrap());
    for udp in ["ff00 0001 00000000", "ff00 4001 00000000", "02fd 4001 00000000"] {
        frames.push(udp_frame(tester, entity, &hex(udp)).unwrap());
    }
    let mut out = CaptureWriter::new(Vec::new(), Format::Pcap).unwrap();
    for f in &frames {
        out.packet(Duration::from_secs(SESSION_START), f).unwrap();
    }
    let dir = std::env::temp_dir().join(format!("doip-refused-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("refused.pcap");
    std::fs::write(&file, out.into_inner()).unwrap();
    // Wireshark shows the header of every refused frame.
    let flagged = ours(&file, &[]).values().map(|v| v.flagged.len()).sum::<usize>();
    assert_eq!(flagged, 7);
    let n = assert_agreement(&file, &[]);
    println!("refused.pcap: {n} messages agree with tshark");
    assert!(n >= 6, "only {n} messages compared");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `dumpcap -i any` (Linux cooked headers) of loopback traffic on the simulator's ports, until
/// [`Dumpcap::stop`].
struct Dumpcap {
    child: common::Running,
    file: PathBuf,
    dir: PathBuf,
}

impl Dumpcap {
    fn start(name: &str, ports: &[u16]) -> Self {
        let dir = std::env::temp_dir().join(format!("doip-live-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("live.pcapng");
        let ports: Vec<String> = ports.iter().map(|p| format!("port {p}")).collect();
        let filter = format!("host 127.0.0.1 and ({})", ports.join(" or "));
        let mut child = common::Running(
            Command::new("dumpcap")
                .args(["-q", "-i", "any", "-f", &filter, "-w"])
                .arg(&file)
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        // dumpcap says when it is capturing; its stderr is drained to the end so that its
        // closing report cannot hit a closed pipe.
        let mut stderr = child.0.stderr.take().unwrap();
        let (tx, ready) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            let mut seen = Vec::new();
            while let Ok(n @ 1..) = std::io::Read::read(&mut stderr, &mut buf) {
                seen.extend_from_slice(&buf[..n]);
                if String::from_utf8_lossy(&seen).contains("Capturing on") {
                    let _ = tx.send(());
                }
            }
        });
        ready.recv_timeout(Duration::from_secs(20)).expect("dumpcap did not start");
        // "Capturing on" comes a moment before packets are: the first command's would be lost.
        std::thread::sleep(Duration::from_millis(300));
        Self { child, file, dir }
    }

    /// Stops capturing; the capture file.
    fn stop(&mut self) -> &Path {
        std::thread::sleep(Duration::from_millis(500));
        common::interrupt(&self.child.0);
        let until = Instant::now() + Duration::from_secs(10);
        while self.child.0.try_wait().unwrap().is_none() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        &self.file
    }
}

impl Drop for Dumpcap {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs each `doip` command line; each must succeed, but for the last, which may meet a
/// negative answer.
fn run_all(runs: &[Vec<&str>]) {
    for (i, args) in runs.iter().enumerate() {
        let out = doip().args(args).output().unwrap();
        let ok = if i + 1 == runs.len() { vec![0, 1] } else { vec![0] };
        assert!(
            out.status.code().is_some_and(|c| ok.contains(&c)),
            "doip {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A live capture of the `doip` tool talking to the simulator on loopback.
#[test]
fn live_capture_of_client_and_simulator_agrees_with_wireshark() {
    if !tshark_or_skip() || !tool_available("dumpcap", &["-v"]) {
        return;
    }
    let sim = common::Sim::start();
    let port = sim.tcp.port();
    let udp = sim.udp.port();
    let mut dumpcap = Dumpcap::start("doip", &[port, udp]);
    let (port_text, udp_text) = (port.to_string(), udp.to_string());
    let conn = ["--ip", "127.0.0.1", "--port", &port_text, "--udp-port", &udp_text];
    let mut flash = String::from("3601");
    flash.extend((0..4093u32).map(|i| format!("{:02x}", (i * 13) as u8)));
    let runs: Vec<Vec<&str>> = vec![
        vec!["status"],
        vec!["power-mode"],
        vec!["alive"],
        vec!["send", "--functional", "--target", "0xE400", "--timeout", "300ms", "3E00"],
        vec![
            "send",
            "--target",
            "0x4011",
            "22F190",
            "3E00",
            "3400440000000000100000",
            &flash,
            "37",
        ],
    ];
    let discover = vec!["discover", "--ip", "127.0.0.1", "--udp-port", &udp_text];
    let runs: Vec<Vec<&str>> = std::iter::once(discover)
        .chain(runs.into_iter().map(|r| [&r[..], &conn].concat()))
        .collect();
    run_all(&runs);
    let n = assert_agreement(dumpcap.stop(), &[port, udp]);
    println!("live capture: {n} messages agree with tshark");
    assert!(n >= 20, "only {n} messages compared");
}

/// Our `"uds"` object of every diagnostic message, by frame.
fn our_uds(capture: &Path, port: u16) -> BTreeMap<u64, Vec<Map<String, Value>>> {
    let out = doip()
        .args(["decode", "--json", "--port", &port.to_string(), "--pcap"])
        .arg(capture)
        .output()
        .unwrap();
    let mut frames: BTreeMap<u64, Vec<Map<String, Value>>> = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let o: Map<String, Value> = serde_json::from_str(line).unwrap();
        if let Some(Value::Object(uds)) = o.get("uds") {
            frames.entry(o["frame"].as_u64().unwrap()).or_default().push(uds.clone());
        }
    }
    frames
}

/// tshark's `uds.*` fields (addresses aside) of every UDS layer, by frame.
fn their_uds(capture: &Path, port: u16) -> BTreeMap<u64, Vec<Map<String, Value>>> {
    let out = Command::new("tshark")
        .args(["-T", "json", "--no-duplicate-keys", "-d", &format!("tcp.port=={port},doip"), "-r"])
        .arg(capture)
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "tshark failed on {}", capture.display());
    let packets: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut frames = BTreeMap::new();
    for p in packets {
        let layers = p["_source"]["layers"].as_object().unwrap();
        let frame_no: u64 = layers["frame"]["frame.number"].as_str().unwrap().parse().unwrap();
        let mut all = Vec::new();
        for layer in as_list(layers.get("uds")) {
            let mut flat = Map::new();
            flatten(layer.as_object().unwrap(), &mut flat);
            flat.retain(|k, _| k.starts_with("uds.") && !k.starts_with("uds.diag_addr"));
            all.push(flat);
        }
        if !all.is_empty() {
            frames.insert(frame_no, all);
        }
    }
    frames
}

/// One tshark value as ours would print it: hex bytes without colons, numbers in decimal,
/// lists element by element.
fn normalised(theirs: &Value, ours: &Value) -> Value {
    match (theirs, ours) {
        (Value::Array(t), Value::Array(o)) => {
            Value::Array(t.iter().zip(o).map(|(t, o)| normalised(t, o)).collect())
        }
        (t, Value::String(_)) => Value::String(bytes(t)),
        (t, Value::Number(_)) => Value::Number(number(t).parse::<u64>().unwrap().into()),
        (t, _) => t.clone(),
    }
}

/// A live capture of `doip flash`, `doip uds` and `doip send` against the simulator: every
/// `uds.*` field Wireshark's UDS dissector shows is in our `"uds"` object, with its value.
#[test]
fn live_uds_capture_agrees_with_wiresharks_uds_dissector() {
    if !tshark_or_skip() || !tool_available("dumpcap", &["-v"]) {
        return;
    }
    let sim = common::Sim::start();
    let port = sim.tcp.port();
    let mut dumpcap = Dumpcap::start("uds", &[port]);
    let port_text = port.to_string();
    let udp_text = sim.udp.port().to_string();
    let conn = ["--ip", "127.0.0.1", "--port", &port_text, "--udp-port", &udp_text];
    let dir = std::env::temp_dir().join(format!("doip-uds-image-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let image = dir.join("image.bin");
    std::fs::write(&image, (0..9000u32).map(|i| (i * 7) as u8).collect::<Vec<_>>()).unwrap();
    let image = image.to_string_lossy().into_owned();
    let xor = ["--security-level", "1", "--security-key-xor", "5A5AA5A5"];
    let runs: Vec<Vec<&str>> = vec![
        [&["flash", &image, "--address", "0x40000", "--target", "0x4011", "--no-reset"][..], &xor]
            .concat(),
        vec!["uds", "read-did", "F190", "--target", "0x4011"],
        vec!["uds", "session", "3", "--target", "0x4011"],
        vec!["uds", "dtc", "--mask", "0x09", "--target", "0x4011"],
        [
            &["uds", "--session", "3", "write-did", "F199", "20261203", "--target", "0x4011"][..],
            &xor,
        ]
        .concat(),
        vec!["uds", "routine", "start", "0203", "--target", "0x4011"],
        vec!["uds", "tester-present", "--every", "10ms", "--count", "2", "--target", "0x4011"],
        vec!["uds", "clear-dtc", "--target", "0x4011"],
        vec![
            "send",
            "--target",
            "0x4011",
            "190100",
            "1904123456FF",
            "190A",
            "22F190F186",
            "3E80",
            "3101FF01",
            "2EF19901",
            "1101",
        ],
    ];
    let runs: Vec<Vec<&str>> = runs.into_iter().map(|r| [&r[..], &conn].concat()).collect();
    run_all(&runs);
    let capture = dumpcap.stop().to_path_buf();
    let ours = our_uds(&capture, port);
    let theirs = their_uds(&capture, port);
    let mut compared = 0;
    let mut services = std::collections::BTreeSet::new();
    for (frame, ws_layers) in &theirs {
        let mine =
            ours.get(frame).unwrap_or_else(|| panic!("#{frame}: tshark shows UDS, we do not"));
        assert_eq!(
            mine.len(),
            ws_layers.len(),
            "#{frame}: UDS messages\n ours {mine:?}\n tshark {ws_layers:?}"
        );
        for (m, t) in mine.iter().zip(ws_layers) {
            for (k, v) in t {
                let key = &k["uds.".len()..];
                let ours_value = m
                    .get(key)
                    .unwrap_or_else(|| panic!("#{frame}: no {key} in ours {m:?}; tshark {t:?}"));
                assert_eq!(
                    &normalised(v, ours_value),
                    ours_value,
                    "#{frame} {key}:\n ours {m:?}\n tshark {t:?}"
                );
                compared += 1;
            }
            services.insert(m["sid"].as_u64().unwrap());
        }
    }
    println!("live UDS capture: {compared} uds.* fields agree with tshark, services {services:x?}");
    for sid in [0x10, 0x11, 0x14, 0x19, 0x22, 0x27, 0x2E, 0x31, 0x34, 0x36, 0x37, 0x3E, 0x3F] {
        assert!(services.contains(&sid), "service {sid:#04x} not compared: {services:x?}");
    }
    assert!(compared >= 150, "only {compared} fields compared");
    let _ = std::fs::remove_dir_all(&dir);
}
