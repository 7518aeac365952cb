//! `doip decode` applies a DoIP entity's header checks (PROTOCOL.md §1) to hex input and to
//! captures: a frame an entity would refuse is shown with what could be decoded plus an
//! `"error"` object naming the rule, the generic NACK and whether the entity closes.
#![allow(clippy::unwrap_used)] // test code fails loudly

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use doip_pcap::synth::{CaptureWriter, Format, SESSION_START, TcpConnection, udp_frame};
use serde_json::{Value, json};

fn doip(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_doip")).args(args).stdin(Stdio::null()).output().unwrap()
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

/// `doip decode --json` of hex frames: exit code and one object per frame.
fn decode_hex(frames: &[&str]) -> (i32, Vec<Value>) {
    let mut args = vec!["decode", "--json"];
    args.extend(frames);
    let out = doip(&args);
    (out.status.code().unwrap(), lines(&out))
}

fn nack(code: u8, name: &str) -> Value {
    json!({ "code": code, "name": name })
}

const DIAG: &str = "8001 00000006 0e80 4010 1003";

#[test]
fn version_ff_on_a_diagnostic_message_is_refused_and_still_shown() {
    let (code, frames) = decode_hex(&["ff00 8001 00000006 0e80 4010 1003"]);
    assert_eq!(code, 1);
    let f = &frames[0];
    let e = &f["error"];
    assert!(
        e["rule"].as_str().unwrap().contains("0xff is only for vehicle identification requests"),
        "{f}"
    );
    assert_eq!(e["nack"], nack(0, "incorrect pattern format"));
    assert_eq!(e["closes"], true);
    // What could be decoded is there too.
    assert_eq!((f["version"].as_u64(), f["payload_type"].as_u64()), (Some(0xFF), Some(0x8001)));
    assert_eq!(f["user_data"], "1003");
    assert_eq!(f["target_address"], 0x4010);
}

#[test]
fn only_versions_0x01_to_0x04_are_accepted() {
    for v in [0x00u8, 0x05, 0x7F, 0xFE] {
        let (code, frames) = decode_hex(&[&format!("{v:02x}{:02x} {DIAG}", !v)]);
        assert_eq!(code, 1, "{v:#04x}");
        let e = &frames[0]["error"];
        assert!(e["rule"].as_str().unwrap().contains("unsupported protocol version"), "{e}");
        assert_eq!(e["nack"], nack(0, "incorrect pattern format"), "{v:#04x}");
        assert_eq!(frames[0]["user_data"], "1003");
    }
    for v in 0x01u8..=0x04 {
        let (code, frames) = decode_hex(&[&format!("{v:02x}{:02x} {DIAG}", !v)]);
        assert_eq!(code, 0, "{v:#04x}: {frames:?}");
        assert!(frames[0].get("error").is_none(), "{v:#04x}");
    }
    // 0xFF is the default of vehicle identification requests.
    let (code, frames) = decode_hex(&["ff00 0001 00000000"]);
    assert_eq!(code, 0, "{frames:?}");
    assert_eq!(frames[0]["payload_type"], 1);
    assert!(frames[0].get("error").is_none());
}

#[test]
fn a_wrong_inverse_byte_is_nack_0x00_and_stops_hex_decoding() {
    let (code, frames) = decode_hex(&[&format!("02fc {DIAG}"), "02fd 0007 00000000"]);
    assert_eq!(code, 1);
    assert_eq!(frames.len(), 1, "the length of a broken header is not trusted: {frames:?}");
    let e = &frames[0]["error"];
    assert!(e["rule"].as_str().unwrap().contains("incorrect pattern format"), "{e}");
    assert_eq!(e["nack"], nack(0, "incorrect pattern format"));
    assert_eq!(e["closes"], true);
    assert_eq!(frames[0]["inverse_version"], 0xFC);
}

#[test]
fn unknown_payload_types_are_nack_0x01_and_decoding_goes_on() {
    let (code, frames) = decode_hex(&["02fd 1234 00000002 abcd", "02fd 0007 00000000"]);
    assert_eq!(code, 1);
    let e = &frames[0]["error"];
    assert_eq!(e["nack"], nack(1, "unknown payload type"));
    assert_eq!(e["closes"], false);
    assert_eq!(frames[0]["payload"], "abcd");
    assert_eq!(frames[1]["payload_type"], 7);
    assert!(frames[1].get("error").is_none());
}

#[test]
fn a_wrong_length_is_nack_0x04_and_decoding_goes_on() {
    let (code, frames) = decode_hex(&["02fd 0008 00000003 0e8000", "02fd 0007 00000000"]);
    assert_eq!(code, 1);
    let e = &frames[0]["error"];
    assert_eq!(e["nack"], nack(4, "invalid payload length"));
    assert_eq!(e["closes"], true);
    assert!(e["rule"].as_str().unwrap().contains("expected exactly 2"), "{e}");
    assert_eq!(frames[1]["payload_type"], 7);
}

#[test]
fn input_ending_inside_a_frame_is_cut_short_not_refused() {
    for cut in ["02fd 0007 00000000 0102", "02fd 0007 00000000 02fd 8001 00000006 0e80"] {
        let (code, frames) = decode_hex(&[cut]);
        assert_eq!(code, 1);
        let e = &frames[1]["error"];
        assert!(e["rule"].as_str().unwrap().contains("ended inside a message"), "{e}");
        assert_eq!((&e["nack"], &e["closes"]), (&Value::Null, &json!(false)));
    }
}

#[test]
fn text_output_says_what_an_entity_does() {
    let out = doip(&["decode", "ff00 8001 00000006 0e80 4010 1003"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("#1 MALFORMED: protocol version 0xff is only for vehicle identification"),
        "{text}"
    );
    assert!(
        text.contains(
            "an entity answers generic NACK incorrect pattern format (0x00) and closes the connection"
        ),
        "{text}"
    );
    assert!(text.contains("| v255: diagnostic message 0x0E80 -> 0x4010: 10 03"), "{text}");
}

#[test]
fn version_1_routing_activation_requests_have_a_2_byte_activation_type() {
    let (code, frames) = decode_hex(&[
        "01fe 0005 00000008 0e80 0001 00000000",
        "01fe 0005 0000000c 0e80 e000 00000000 deadbeef",
    ]);
    assert_eq!(code, 0, "{frames:?}");
    assert_eq!(frames[0]["activation_type"], 1);
    assert_eq!(frames[1]["activation_type"], 0xE000);
    assert_eq!(frames[1]["oem_specific"], "deadbeef");
    // The 7-byte form of later versions is a wrong length under version 0x01.
    let (code, frames) = decode_hex(&["01fe 0005 00000007 0e80 00 00000000"]);
    assert_eq!(code, 1);
    assert_eq!(frames[0]["error"]["nack"], nack(4, "invalid payload length"));
}

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// A capture: the tester sends each TCP hex string in a segment of its own, then each UDP one
/// in a datagram.
fn capture(path: &Path, tcp: &[&str], udp: &[&str]) {
    let (tester, entity) = ("192.168.0.100:50300".parse().unwrap(), "192.168.0.10:13400");
    let entity = entity.parse().unwrap();
    let mut out = CaptureWriter::new(Vec::new(), Format::Pcap).unwrap();
    let mut c = TcpConnection::new(tester, entity);
    let mut frames: Vec<Vec<u8>> = c.open().unwrap().into();
    frames.extend(tcp.iter().map(|s| c.send(true, &hex(s)).unwrap()));
    frames.push(c.close(true).unwrap());
    frames.extend(udp.iter().map(|s| udp_frame(tester, entity, &hex(s)).unwrap()));
    for f in &frames {
        out.packet(Duration::from_secs(SESSION_START), f).unwrap();
    }
    std::fs::write(path, out.into_inner()).unwrap();
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("doip-decode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn captures_get_the_same_checks_on_their_own_transport() {
    let file = temp("conformance.pcap");
    capture(
        &file,
        &[
            "ff00 8001 00000006 0e80 4010 1003",
            "05fa 8001 00000006 0e80 4010 1003",
            &format!("02fd {DIAG}"),
            "02fd 1234 00000002 abcd",
            "02fd 0008 00000003 0e8000",
            "02fd 0001 00000000",
            &format!("02fc {DIAG} 02fd 0008 00000002 0e80"),
        ],
        &["ff00 0001 00000000", "ff00 4001 00000000", "02fc 0001 00000000"],
    );
    let out = doip(&["decode", "--json", "--pcap", &file.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let events = lines(&out);
    let _ = std::fs::remove_file(&file);
    let summary: Vec<(String, Option<u64>, Value)> = events
        .iter()
        .map(|e| {
            let transport = e["transport"].as_str().unwrap().to_owned();
            (transport, e["payload_type"].as_u64(), e["error"]["nack"]["code"].clone())
        })
        .collect();
    let tcp = |t: Option<u64>, nack: Value| ("tcp".to_owned(), t, nack);
    let udp = |t: Option<u64>, nack: Value| ("udp".to_owned(), t, nack);
    assert_eq!(
        summary,
        [
            tcp(Some(0x8001), json!(0)),
            tcp(Some(0x8001), json!(0)),
            tcp(Some(0x8001), Value::Null),
            tcp(Some(0x1234), json!(1)),
            tcp(Some(0x0008), json!(4)),
            // A vehicle identification request is not carried on TCP.
            tcp(Some(0x0001), json!(1)),
            // Wrong inverse byte: reported, then the stream resynchronises on the next header.
            tcp(Some(0x8001), json!(0)),
            tcp(None, Value::Null),
            tcp(Some(0x0008), Value::Null),
            udp(Some(0x0001), Value::Null),
            udp(Some(0x4001), json!(0)),
            udp(Some(0x0001), json!(0)),
        ],
        "{events:#?}"
    );
    // Payloads that parse are shown beside the error; over UDP no connection closes.
    assert_eq!(events[0]["user_data"], "1003");
    assert_eq!(events[0]["error"]["closes"], true);
    assert_eq!(events[3]["payload"], "abcd");
    assert!(events[7]["error"]["rule"].as_str().unwrap().contains("skipped"), "{}", events[7]);
    assert_eq!(events[10]["error"]["closes"], false);
    assert_eq!(events[11]["error"]["closes"], false);
    assert!(events[2].get("error").is_none() && events[9].get("error").is_none());
}
