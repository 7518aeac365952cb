//! `doip send` against the scripted raw-socket entity of doip-client's tests, which sends a
//! stale answer of another service (`50 03 …`) before the answer to the request: the command
//! must print the request's answer, and only that.
#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;
#[path = "../../doip-client/tests/common/mod.rs"]
mod scripted;

use scripted::{
    ECU, Entity, READ_VIN, SESSION_ANSWER, TESTER, ack, activate, on_request, script, uds,
    vin_answer,
};

/// UDS bytes as `doip send` prints them: upper-case hex, space-separated.
fn spaced(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(" ")
}

#[test]
fn send_prints_the_answer_to_its_request_not_a_stale_one_before_it() {
    let entity = Entity::start(vec![script([
        activate(),
        on_request(&[
            ack(ECU, TESTER, &READ_VIN),
            uds(ECU, TESTER, &SESSION_ANSWER),
            uds(ECU, TESTER, &vin_answer()),
        ]),
    ])]);
    let port = entity.addr.port().to_string();
    let out = common::doip()
        .args(["send", "--ip", "127.0.0.1", "--port", &port, "--target", "0x4011", "22F190"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stdout} {stderr}", out.status.code());
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(lines[0].ends_with(&spaced(&vin_answer())), "{stdout}");
    assert!(!stdout.contains(&spaced(&SESSION_ANSWER)), "{stdout}");
    assert_eq!(entity.uds_requests(), [READ_VIN.to_vec()]);
    entity.assert_script_ok();
}
