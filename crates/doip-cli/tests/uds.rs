//! `doip flash` and `doip uds` against the simulator on loopback; `-v` and `--capture`.
#![allow(clippy::unwrap_used)] // tests fail loudly

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{Sim, doip, tool_available};
use doip_client::{ClientBuilder, LogicalAddress, Message};
use doip_sim::SimConfig;
use doip_uds::UdsClient;
use serde_json::Value;

const ENGINE: LogicalAddress = LogicalAddress(0x4011);

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("doip-cli-uds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn run(sim: &Sim, args: &[&str]) -> Output {
    doip().args(args).args(sim.conn()).output().unwrap()
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// An Intel HEX record line.
fn hex_record(kind: u8, offset: u16, data: &[u8]) -> String {
    let mut bytes = vec![data.len() as u8, (offset >> 8) as u8, offset as u8, kind];
    bytes.extend_from_slice(data);
    let sum = bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b));
    bytes.push(sum.wrapping_neg());
    bytes.iter().fold(String::from(":"), |s, b| s + &format!("{b:02X}"))
}

/// What the ECU holds at `address` (read back over a new connection).
fn read_back(sim: &Sim, address: u64, len: usize) -> Vec<u8> {
    let client = ClientBuilder::new(sim.tcp.ip(), ENGINE)
        .tcp_port(sim.tcp.port())
        .udp_port(sim.udp.port())
        .connect()
        .unwrap();
    UdsClient::new(client).upload(address, len as u64).unwrap()
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

#[test]
fn flash_an_intel_hex_file_with_a_gap_and_read_it_back() {
    let sim = Sim::start();
    let (a, b) = (pattern(6000, 1), pattern(700, 2));
    let mut lines = vec![hex_record(4, 0, &[0x00, 0x20])]; // 0x0020_0000
    for (i, chunk) in a.chunks(32).enumerate() {
        lines.push(hex_record(0, (i * 32) as u16, chunk));
    }
    for (i, chunk) in b.chunks(32).enumerate() {
        lines.push(hex_record(0, 0x8000 + (i * 32) as u16, chunk));
    }
    lines.push(hex_record(1, 0, &[]));
    let file = temp("app.hex");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out =
        run(&sim, &["flash", file.to_str().unwrap(), "--target", "0x4011", "--no-reset", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events = json_lines(&out);
    let done = events.last().unwrap();
    assert_eq!(
        (done["event"].as_str(), done["bytes"].as_u64(), done["segments"].as_u64()),
        (Some("done"), Some(6700), Some(2))
    );
    for step in ["DiagnosticSessionControl", "erase routine", "download", "check routine"] {
        assert!(events.iter().any(|e| e["step"] == step), "{step} missing");
    }
    assert_eq!(read_back(&sim, 0x0020_0000, a.len()), a);
    assert_eq!(read_back(&sim, 0x0020_8000, b.len()), b);
}

#[test]
fn flash_a_binary_at_an_address_and_an_s_record_file() {
    let sim = Sim::start();
    let bin = pattern(10_000, 3);
    let file = temp("app.bin");
    std::fs::write(&file, &bin).unwrap();
    let path = file.to_str().unwrap();
    let keyless = run(
        &sim,
        &["flash", path, "--address", "0", "--target", "0x4011", "--security-level", "1"],
    );
    assert_eq!(keyless.status.code(), Some(2), "a security level needs a key source");
    let missing = run(&sim, &["flash", path, "--target", "0x4011"]);
    assert_eq!(missing.status.code(), Some(2), "a binary needs --address");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("load address"));
    let out =
        run(&sim, &["flash", path, "--address", "0x30000", "--target", "0x4011", "--no-reset"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("flashed 10000 bytes in 1 segment"));
    assert_eq!(read_back(&sim, 0x30000, bin.len()), bin);

    let s = pattern(3000, 4);
    let records: Vec<srec::Record> = s
        .chunks(64)
        .enumerate()
        .map(|(i, c)| {
            srec::Record::S3(srec::Data {
                address: srec::Address32(0x0004_0000 + 64 * i as u32),
                data: c.to_vec(),
            })
        })
        .chain([srec::Record::S7(srec::Address32(0x0004_0000))])
        .collect();
    let file = temp("app.s37");
    std::fs::write(&file, srec::generate_srec_file(&records)).unwrap();
    let out = run(
        &sim,
        &[
            "flash",
            file.to_str().unwrap(),
            "--target",
            "0x4011",
            "--no-reset",
            "--erase-routine",
            "none",
            "--check-routine",
            "none",
            "--session",
            "0",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(read_back(&sim, 0x0004_0000, s.len()), s);
}

#[test]
fn a_refused_flash_exits_1_naming_the_step_and_security_unlocks_it() {
    let mut config = SimConfig::for_tests();
    for ecu in &mut config.ecus {
        ecu.download_requires_security = Some(1);
    }
    let sim = Sim::with(config);
    let file = temp("locked.bin");
    std::fs::write(&file, pattern(5000, 5)).unwrap();
    let path = file.to_str().unwrap();
    let out = run(
        &sim,
        &[
            "flash",
            path,
            "--address",
            "0",
            "--target",
            "0x4011",
            "--no-reset",
            "--erase-routine",
            "none",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("stopped at RequestDownload (segment 0)")
            && err.contains("security access denied (0x33)"),
        "{err}"
    );
    let out = run(
        &sim,
        &[
            "flash",
            path,
            "--address",
            "0",
            "--target",
            "0x4011",
            "--no-reset",
            "--security-level",
            "1",
            "--security-key-xor",
            "5A5AA5A5",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn uds_commands_print_typed_answers() {
    let sim = Sim::start();
    let vin = json_lines(&run(&sim, &["uds", "read-did", "F190", "--target", "0x4011", "--json"]));
    assert_eq!(vin[0]["values"][0]["text"], "\"WDOIPRS0000000001\"");
    let session = json_lines(&run(&sim, &["uds", "session", "3", "--target", "0x4011", "--json"]));
    assert_eq!(
        (session[0]["p2_ms"].as_u64(), session[0]["p2_star_ms"].as_u64()),
        (Some(50), Some(5000))
    );
    let dtcs =
        json_lines(&run(&sim, &["uds", "dtc", "--mask", "0x08", "--target", "0x4011", "--json"]));
    assert!(
        dtcs[0]["dtcs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status_bits"].as_array().unwrap().contains(&"confirmedDTC".into()))
    );
    let key = "read s; printf '%08x' $(( 0x$s ^ 0x5A5AA5A5 ))";
    let write = run(
        &sim,
        &[
            "uds",
            "--session",
            "3",
            "--security-level",
            "1",
            "--key-command",
            key,
            "write-did",
            "F199",
            "20261203",
            "--target",
            "0x4011",
        ],
    );
    assert!(write.status.success(), "{}", String::from_utf8_lossy(&write.stderr));
    let wrong = run(
        &sim,
        &[
            "uds",
            "--session",
            "3",
            "security",
            "1",
            "--security-key-xor",
            "00000000",
            "--target",
            "0x4011",
        ],
    );
    assert_eq!(wrong.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("invalid key (0x35)"));
    let refused = run(&sim, &["uds", "read-did", "1234", "--target", "0x4011"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("request out of range (0x31)"));
    let routine = json_lines(&run(
        &sim,
        &["uds", "routine", "start", "0203", "--target", "0x4011", "--json"],
    ));
    assert_eq!(routine[0]["status"], "00");
    let clear = run(&sim, &["uds", "clear-dtc", "--target", "0x4011"]);
    assert!(clear.status.success());
    let none = json_lines(&run(&sim, &["uds", "dtc", "--target", "0x4011", "--json"]));
    assert!(none[0]["dtcs"].as_array().unwrap().is_empty());
}

#[test]
fn tester_present_to_one_ecu_to_every_ecu_and_suppressed() {
    let sim = Sim::start();
    let tp = json_lines(&run(
        &sim,
        &[
            "uds",
            "tester-present",
            "--every",
            "10ms",
            "--count",
            "3",
            "--target",
            "0x4011",
            "--json",
        ],
    ));
    assert_eq!(tp.len(), 3);
    assert!(tp.iter().all(|t| t["answer"] == "7e00"));
    let quiet = json_lines(&run(
        &sim,
        &["uds", "tester-present", "--suppress", "--count", "1", "--target", "0x4011", "--json"],
    ));
    assert_eq!(quiet[0]["answer"], "", "3E 80 is acknowledged, not answered");
    let all = json_lines(&run(
        &sim,
        &[
            "uds",
            "tester-present",
            "--functional",
            "--count",
            "1",
            "--target",
            "0xE400",
            "--timeout",
            "300ms",
            "--json",
        ],
    ));
    let from: Vec<u64> = all.iter().map(|t| t["from"].as_u64().unwrap()).collect();
    assert_eq!(from.len(), 3, "{all:?}");
    assert!([0x4010, 0x4011, 0x4012].iter().all(|a| from.contains(a)), "{from:x?}");
}

/// Every DoIP message in a capture file, decoded by doip-pcap (`port` carries DoIP).
fn captured(file: &Path, port: u16) -> Vec<String> {
    let bytes = std::fs::read(file).unwrap();
    let mut messages = Vec::new();
    let mut options = doip_pcap::DecodeOptions::default();
    options.doip_ports.push(port);
    doip_pcap::decode_capture(&bytes[..], options, |e| {
        if let doip_pcap::Content::Message { message, .. } = &e.content {
            messages.push(match message {
                Message::DiagnosticMessage(d) => {
                    format!("uds {:02x?}", &d.user_data[..d.user_data.len().min(2)])
                }
                other => other.payload_type().to_string(),
            });
        }
    })
    .unwrap();
    messages
}

#[test]
fn verbose_prints_every_frame_and_capture_writes_them_for_wireshark() {
    let sim = Sim::start();
    let out = run(&sim, &["-v", "uds", "read-did", "F190", "--target", "0x4011"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("doip::frame") && err.contains("-> 127.0.0.1") && err.contains("<- 127.0.0.1"),
        "{err}"
    );
    assert!(err.contains("diagnostic message 0x0E00 -> 0x4011: 22 f1 90"), "{err}");
    let quiet = run(&sim, &["uds", "read-did", "F190", "--target", "0x4011"]);
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("doip::frame"));

    let image = temp("captured.bin");
    std::fs::write(&image, pattern(9000, 6)).unwrap();
    let capture = temp("flash.pcapng");
    let out = run(
        &sim,
        &[
            "flash",
            image.to_str().unwrap(),
            "--address",
            "0",
            "--target",
            "0x4011",
            "--no-reset",
            "--capture",
            capture.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let messages = captured(&capture, sim.tcp.port());
    let transfers = messages.iter().filter(|m| m.starts_with("uds [36")).count();
    let answers = messages.iter().filter(|m| m.starts_with("uds [76")).count();
    assert_eq!((transfers, answers), (3, 3), "{messages:?}");
    assert!(
        messages.iter().any(|m| m.starts_with("uds [34"))
            && messages.iter().any(|m| m.starts_with("uds [74"))
    );
    if tool_available("tshark", &["--version"]) {
        let decode_as = format!("tcp.port=={},doip", sim.tcp.port());
        let t = std::process::Command::new("tshark")
            .args([
                "-r",
                capture.to_str().unwrap(),
                "-d",
                &decode_as,
                "-Y",
                "doip",
                "-T",
                "fields",
                "-e",
                "doip.type",
            ])
            .output()
            .unwrap();
        assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
        let types = String::from_utf8_lossy(&t.stdout);
        let err = String::from_utf8_lossy(&t.stderr);
        assert!(types.lines().filter(|l| l.contains("0x8001")).count() >= 6, "{types} {err}");
    }
}

#[test]
fn capture_over_tls_holds_the_plaintext_frames_and_the_key_log_beside_it() {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["ecu.doip.test".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_file, key_file) = (temp("tls-cert.pem"), temp("tls-key.pem"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let mut config = SimConfig::for_tests();
    config.tls = Some(doip_sim::TlsFiles { cert: cert_file, key: key_file, port: 0 });
    let sim = Sim::with(config);
    let tls_port = sim.handle.as_ref().unwrap().tls.unwrap().port().to_string();
    let capture = temp("tls.pcapng");
    let out = doip()
        .args([
            "uds",
            "read-did",
            "F190",
            "--target",
            "0x4011",
            "--ip",
            "127.0.0.1",
            "--port",
            &tls_port,
        ])
        .args(["--tls", "--insecure-test-bench", "--capture", capture.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let keys = std::fs::read_to_string(doip_cli_key_log(&capture)).unwrap();
    assert!(
        keys.lines()
            .any(|l| l.starts_with("CLIENT_TRAFFIC_SECRET_0 ") || l.starts_with("CLIENT_RANDOM ")),
        "{keys}"
    );
    let messages = captured(&capture, tls_port.parse().unwrap());
    assert!(messages.iter().any(|m| m.starts_with("uds [22, f1]")), "{messages:?}");
    assert!(messages.iter().any(|m| m.starts_with("uds [62, f1]")), "{messages:?}");
}

/// Where `doip --capture FILE` writes the TLS key log.
fn doip_cli_key_log(capture: &Path) -> PathBuf {
    let mut name = capture.as_os_str().to_owned();
    name.push(".keys");
    PathBuf::from(name)
}
