//! Every subcommand as a user runs it: a real `doip` process against the simulator on
//! loopback, checking exit codes and `--json` output.
#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Output, Stdio};

use common::{Sim, doip};
use doip_sim::SimConfig;
use serde_json::Value;

fn run(args: &[&str]) -> Output {
    doip().args(args).stdin(Stdio::null()).output().unwrap()
}

fn with_sim(sim: &Sim, args: &[&str]) -> Output {
    let conn = sim.conn();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(conn.iter().map(String::as_str));
    run(&all)
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn data(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn discover_prints_every_responder() {
    let sim = Sim::start();
    let port = sim.udp.port().to_string();
    let out =
        run(&["discover", "--ip", "127.0.0.1", "--udp-port", &port, "--json", "--timeout", "1s"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let found = json_lines(&out);
    assert_eq!(found.len(), 1);
    let e = &found[0];
    assert_eq!(e["ip"], "127.0.0.1");
    assert_eq!(e["port"], sim.udp.port());
    assert_eq!(e["vin"], "WDOIPRS0000000001");
    assert_eq!(e["logical_address"], 0x4010);
    assert!(e["eid"].as_str().unwrap().split(':').count() == 6);
    assert_eq!(e["further_action"], 0);
    // A VIN nobody has: no answer, exit 3.
    let out = run(&[
        "discover",
        "--ip",
        "127.0.0.1",
        "--udp-port",
        &port,
        "--vin",
        "XXXXXXXXXXXXXXXXX",
        "--timeout",
        "300ms",
    ]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("no entity answered"));
    // The table form has a header and one row.
    let out = run(&["discover", "--ip", "127.0.0.1", "--udp-port", &port, "--timeout", "1s"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().next().unwrap().starts_with("ADDRESS"), "{text}");
    assert!(text.contains("WDOIPRS0000000001"), "{text}");
}

#[test]
fn listen_prints_announcements_until_count() {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    drop(socket);
    // Bounded by its own --timeout should the entity never announce.
    let mut listener = doip()
        .args([
            "listen",
            "--udp-port",
            &port.to_string(),
            "--count",
            "2",
            "--json",
            "--timeout",
            "20s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Start the entity once the listener says it is bound.
    let mut err = std::io::BufReader::new(listener.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut err, &mut line).unwrap();
    assert!(line.contains("listening"), "{line}");
    let mut config = SimConfig::for_tests();
    config.announce.to = Some(SocketAddr::from(([127, 0, 0, 1], port)));
    config.announce.interval_ms = 50;
    let _sim = Sim::with(config);
    let out = listener.wait_with_output().unwrap();
    assert_eq!(code(&out), 0);
    let seen = json_lines(&out);
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|a| a["vin"] == "WDOIPRS0000000001" && a["logical_address"] == 0x4010));
}

#[test]
fn status_power_mode_alive_and_activate() {
    let sim = Sim::start();
    let out = with_sim(&sim, &["status", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let s = &json_lines(&out)[0];
    assert_eq!(s["payload_type"], 0x4002);
    assert_eq!(s["node_type"], 0);
    assert_eq!(s["max_sockets"], 4);
    assert!(s["open_sockets"].as_u64().unwrap() >= 1);

    let out = with_sim(&sim, &["power-mode", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json_lines(&out)[0]["power_mode"], 1);

    let out = with_sim(&sim, &["alive", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json_lines(&out)[0]["source_address"], 0x4010);

    let out = with_sim(&sim, &["activate", "--json", "--source", "0x0E01"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let a = &json_lines(&out)[0];
    assert_eq!(a["response_code"], 0x10);
    assert_eq!(a["target_address"], 0x0E01);
    assert_eq!(a["source_address"], 0x4010);

    // An activation type the entity does not support: a negative answer, exit 1.
    let out = with_sim(&sim, &["activate", "--activation", "0x42"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("unsupported activation type"), "{}", stderr(&out));
    // Not a tester address: usage, exit 2.
    let out = with_sim(&sim, &["activate", "--source", "0x4011"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

#[test]
fn send_prints_answers_and_exits_1_on_negative_ones() {
    let sim = Sim::start();
    let out = with_sim(&sim, &["send", "--target", "0x4011", "--json", "22F190", "3e:00"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let answers = json_lines(&out);
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[0]["source_address"], 0x4011);
    assert_eq!(answers[0]["target_address"], 0x0E00);
    assert_eq!(answers[0]["user_data"], "62f19057444f4950525330303030303030303031");
    assert_eq!(answers[1]["user_data"], "7e00");

    let out = with_sim(&sim, &["send", "--target", "0x4011", "2212"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("7F 22 13"));

    // Functional: every ECU behind the gateway answers.
    let out = with_sim(
        &sim,
        &["send", "--functional", "--target", "0xE400", "--timeout", "500ms", "--json", "3E00"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut from: Vec<u64> =
        json_lines(&out).iter().map(|a| a["source_address"].as_u64().unwrap()).collect();
    from.sort_unstable();
    assert_eq!(from, [0x4010, 0x4011, 0x4012]);

    // An unknown ECU: diagnostic NACK 0x03, exit 1, naming the target.
    let out = with_sim(&sim, &["send", "--target", "0x4099", "3E00"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("0x4099"), "{}", stderr(&out));

    // Not hex: usage, exit 2, saying which argument.
    let out = with_sim(&sim, &["send", "--target", "0x4011", "22F1GG"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("22F1GG"), "{}", stderr(&out));
}

#[test]
fn unreachable_entities_exit_3_naming_the_peer() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener); // nothing listens there now: connections are refused
    let out = run(&["alive", "--ip", "127.0.0.1", "--port", &port.to_string(), "--timeout", "1s"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("127.0.0.1:{port}")), "{}", stderr(&out));
}

#[test]
fn decode_hex_and_captures() {
    // Two frames back to back, split anywhere across arguments.
    let out = run(&["decode", "--json", "02fd0008000000020e00 02fd80", "01000000060e0040113e00"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let frames = json_lines(&out);
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0]["payload_type"], 8);
    assert_eq!(frames[0]["source_address"], 0x0E00);
    assert_eq!(frames[1]["user_data"], "3e00");
    assert_eq!(frames[1]["target_address"], 0x4011);

    // Malformed bytes: an error object, exit 1.
    let out = run(&["decode", "--json", "02fd0006000000080e00401010000000"]);
    assert_eq!(code(&out), 1);
    let e = &json_lines(&out)[0];
    assert!(e["error"]["rule"].as_str().unwrap().contains("invalid payload length"), "{e}");
    assert_eq!(e["error"]["nack"]["code"], 4);
    assert_eq!(e["frame"], 1);
    // Not hex: usage.
    let out = run(&["decode", "02fdXX"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("not hex"), "{}", stderr(&out));

    // A capture: every message, with the frame, endpoints and transport. Its vendor message
    // (0xF010) is one an entity refuses (NACK 0x01, as the captured entity answers): exit 1.
    let out = run(&["decode", "--json", "--pcap", &data("tcp-session.pcap")]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let frames = json_lines(&out);
    assert_eq!(frames.len(), 19);
    let refused: Vec<_> = frames.iter().filter(|f| f.get("error").is_some()).collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["payload_type"], 0xF010);
    assert_eq!(refused[0]["error"]["nack"]["code"], 1);
    assert_eq!(refused[0]["payload"], "01020304");
    assert!(frames.iter().all(|f| f["transport"] == "tcp" && f["time"].as_f64().unwrap() > 1.7e9));
    assert_eq!(frames[0]["src"], "192.168.0.100:50124");

    // Malformed frames are reported and decoding goes on (exit 1).
    let out = run(&["decode", "--json", "--pcap", &data("malformed.pcap")]);
    assert_eq!(code(&out), 1);
    let lines = json_lines(&out);
    assert!(lines.iter().any(|l| l.get("error").is_some()));
    assert!(lines.iter().any(|l| l["payload_type"] == 8 && l.get("error").is_none()));

    // TLS is reported as such.
    let out = run(&["decode", "--json", "--pcap", &data("tls-session.pcap")]);
    assert_eq!(code(&out), 0);
    assert!(
        json_lines(&out).iter().all(|l| l.get("tls").is_some() && l.get("payload_type").is_none())
    );
}

#[test]
fn bad_capture_files_exit_4_with_a_clear_message() {
    let dir = std::env::temp_dir().join(format!("doip-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = std::fs::read(data("tcp-session.pcap")).unwrap();
    let truncated = dir.join("truncated.pcap");
    std::fs::write(&truncated, &good[..good.len() - 10]).unwrap();
    let out = run(&["decode", "--pcap", &truncated.display().to_string()]);
    assert_eq!(code(&out), 4);
    assert!(stderr(&out).contains("truncated capture"), "{}", stderr(&out));
    // What came before the cut is still printed.
    assert!(String::from_utf8_lossy(&out.stdout).lines().count() >= 15);

    let text = dir.join("notes.txt");
    std::fs::write(&text, "not a capture at all").unwrap();
    let out = run(&["decode", "--pcap", &text.display().to_string()]);
    assert_eq!(code(&out), 4);
    assert!(stderr(&out).contains("not a pcap or pcapng file"), "{}", stderr(&out));

    let out = run(&["decode", "--pcap", &dir.join("missing.pcap").display().to_string()]);
    assert_eq!(code(&out), 4);
    assert!(stderr(&out).contains("cannot open"), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn demo_runs_the_whole_stack_and_exits_0() {
    let out = run(&["demo", "--flash-bytes", "262144", "--round-trips", "50"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "discovered",
        "activated",
        "status",
        "power mode",
        "VIN WDOIPRS0000000001",
        "CRC-32",
        "p50",
        "MiB/s",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let out = run(&["send", "--target", "0x4011"]);
    assert_eq!(code(&out), 2);
    let out = run(&["status", "--timeout", "soon"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("soon"));
}
