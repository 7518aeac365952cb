//! `doip sim` as a user runs it: a real process on loopback.
#![allow(clippy::unwrap_used)] // test helpers fail loudly

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use doip_proto::{LogicalAddress, Message, RoutingActivationRequest};
use doip_transport::{Blocking, ConnectOptions};

use common::{Running, doip};

#[test]
fn sim_prints_its_identity_and_one_line_per_event() {
    let mut child = Running(
        doip()
            .args(["sim", "--bind", "127.0.0.1", "--tcp-port", "0", "--udp-port", "0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (tx, rx) = mpsc::channel();
    let stdout = child.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    let next = || rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let identity = next();
    assert!(identity.contains("VIN WDOIPRS0000000001"), "{identity}");
    let addresses = next();
    let tcp: SocketAddr = addresses
        .strip_prefix("TCP_DATA on ")
        .and_then(|rest| rest.split(',').next())
        .unwrap()
        .parse()
        .unwrap();
    let mut transport = Blocking::new().unwrap();
    let h = transport.connect(tcp, ConnectOptions::default()).unwrap();
    transport.send(h, &RoutingActivationRequest::new(LogicalAddress(0x0E00)).into()).unwrap();
    let answer = transport.recv_frame(h, Instant::now() + Duration::from_secs(5)).unwrap();
    assert!(matches!(answer.message, Message::RoutingActivationResponse(_)));
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < until, "no activation line printed");
        let line = next();
        if line.starts_with("routing activation from") {
            assert!(
                line.contains("0x0E00") && line.contains("routing successfully activated"),
                "{line}"
            );
            break;
        }
    }
}

#[test]
fn bad_configuration_and_usage_have_documented_exit_codes() {
    let out = doip().args(["sim", "--config", "/nonexistent/ecu.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/ecu.toml"));
    let out = doip().args(["sim", "--no-such-flag"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_example_configuration_starts() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../doip-sim/ecu.toml");
    let mut child = Running(
        doip()
            .args(["sim", "--config", example, "--tcp-port", "0", "--udp-port", "0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut first = String::new();
    BufReader::new(child.0.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.starts_with("DoIP entity 0x4010"), "{first}");
}
