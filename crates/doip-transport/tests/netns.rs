//! IPv4 broadcast and IPv6 multicast discovery between two network namespaces that the test
//! creates itself (a veth pair, addresses 10.213.0.0/24 and link-local IPv6), since loopback
//! carries neither. Needs root and `ip`; CI runs as root, elsewhere the test skips with a
//! printed reason.
//!
//! The one test plays three parts: run normally it builds the namespaces and starts this test
//! binary again inside each, as the entity and as the tester (chosen by an environment
//! variable), and checks that both succeed.
#![allow(clippy::unwrap_used)] // test helpers fail loudly

mod common;

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use doip_proto::{
    Eid, FurtherAction, Gid, Message, ProtocolVersion, VehicleAnnouncement,
    VehicleIdentificationRequest,
};
use doip_transport::{ALL_NODES_V6, DISCOVERY_PORT, Event, EventLoop, UdpOptions};

const ROLE: &str = "DOIP_NETNS_ROLE";
const TEST: &str = "udp_broadcast_and_ipv6_multicast_between_namespaces";

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn ip_ok(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Two namespaces joined by a veth pair; removed on drop.
struct Namespaces {
    tester: String,
    entity: String,
}

impl Namespaces {
    fn create() -> Self {
        let id = std::process::id() % 100_000;
        let ns = Self { tester: format!("doip-t-{id}"), entity: format!("doip-e-{id}") };
        ns.remove();
        for name in [&ns.tester, &ns.entity] {
            ip_ok(&["netns", "add", name]);
            ip_ok(&["-n", name, "link", "set", "lo", "up"]);
        }
        ip_ok(&[
            "link", "add", "dva", "netns", &ns.tester, "type", "veth", "peer", "name", "dvb",
            "netns", &ns.entity,
        ]);
        for (name, dev, addr) in
            [(&ns.tester, "dva", "10.213.0.1/24"), (&ns.entity, "dvb", "10.213.0.2/24")]
        {
            // Link-local IPv6 addresses usable at once, without duplicate address detection.
            let _ = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    name,
                    "sysctl",
                    "-qw",
                    &format!("net.ipv6.conf.{dev}.accept_dad=0"),
                ])
                .status();
            ip_ok(&["-n", name, "addr", "add", addr, "dev", dev]);
            ip_ok(&["-n", name, "link", "set", dev, "up"]);
        }
        // Limited broadcast (255.255.255.255) leaves through the default route.
        ip_ok(&["-n", &ns.tester, "route", "add", "default", "dev", "dva"]);
        ns
    }

    fn remove(&self) {
        for name in [&self.tester, &self.entity] {
            ip(&["netns", "del", name]);
        }
    }

    /// Starts this test binary inside the namespace of `role`, playing that role.
    fn run(&self, role: &str) -> std::process::Child {
        let namespace = if role == "entity" { &self.entity } else { &self.tester };
        Command::new("ip")
            .args(["netns", "exec", namespace])
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", TEST, "--nocapture"])
            .env(ROLE, role)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        self.remove();
    }
}

fn interface_index(dev: &str) -> u32 {
    let out = Command::new("ip").args(["-o", "link", "show", "dev", dev]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.split(':').next().and_then(|n| n.trim().parse().ok()).unwrap()
}

fn announcement() -> Message<'static> {
    VehicleAnnouncement {
        vin: "WDOIPRS0NETNS0001".parse().unwrap(),
        logical_address: ECU,
        eid: Eid([2, 0, 0, 0, 2, 1]),
        gid: Gid([2, 0, 0, 0, 2, 2]),
        further_action: FurtherAction::NoFurtherActionRequired,
        sync_status: Some(doip_proto::SyncStatus::Synchronized),
    }
    .into()
}

/// Entity: listens on 13400 (IPv4 with broadcast, IPv6 joined to `FF02::1`) and answers each
/// identification request unicast to its sender, until it has answered both families.
fn entity() {
    let mut lp = EventLoop::new().unwrap();
    let any4: SocketAddr = (std::net::Ipv4Addr::UNSPECIFIED, DISCOVERY_PORT).into();
    let any6: SocketAddr = (Ipv6Addr::UNSPECIFIED, DISCOVERY_PORT).into();
    let v4 = lp.bind_udp(UdpOptions::new(any4).broadcast(true).reuse_address(true)).unwrap();
    let v6 = lp
        .bind_udp(
            UdpOptions::new(any6)
                .reuse_address(true)
                .join_multicast_v6(ALL_NODES_V6, interface_index("dvb")),
        )
        .unwrap();
    let mut answered = (false, false);
    let until = deadline(20);
    while !(answered.0 && answered.1) {
        let (event, _) = wait_for(&mut lp, until, |e| matches!(e, Event::Datagram { .. }));
        let Event::Datagram { handle, from, frame } = event else { unreachable!() };
        assert!(matches!(frame.message, Message::VehicleIdentificationRequest(_)));
        lp.send_to(handle, from, &announcement()).unwrap();
        if handle == v4 {
            answered.0 = true;
        } else if handle == v6 {
            answered.1 = true;
        }
        println!("entity answered {from}");
    }
}

/// Tester: asks by IPv4 broadcast and by IPv6 multicast (repeating every 200 ms until the
/// entity is up) and expects the announcement from the entity's unicast address.
fn tester() {
    let mut lp = EventLoop::new().unwrap();
    let v4 = lp.bind_udp(UdpOptions::new("0.0.0.0:0".parse().unwrap()).broadcast(true)).unwrap();
    let scope = interface_index("dva");
    let v6 = lp.bind_udp(UdpOptions::new("[::]:0".parse().unwrap())).unwrap();
    let to6 = SocketAddr::V6(SocketAddrV6::new(ALL_NODES_V6, DISCOVERY_PORT, 0, scope));
    let to4: SocketAddr = "255.255.255.255:13400".parse().unwrap();
    for (handle, to) in [(v4, to4), (v6, to6)] {
        let until = Instant::now() + Duration::from_secs(15);
        let from = 'ask: loop {
            assert!(Instant::now() < until, "no answer to {to}");
            lp.send_to_with_version(
                handle,
                to,
                ProtocolVersion::VehicleIdentificationDefault,
                &VehicleIdentificationRequest.into(),
            )
            .unwrap();
            let retry = Instant::now() + Duration::from_millis(200);
            while Instant::now() < retry {
                lp.poll(Some(Duration::from_millis(50))).unwrap();
                while let Some(event) = lp.next_event() {
                    if let Event::Datagram { handle: h, from, frame } = event
                        && h == handle
                    {
                        assert_eq!(frame.message, announcement());
                        break 'ask from;
                    }
                }
            }
        };
        println!("tester got the announcement for {to} from {from}");
        match from {
            SocketAddr::V4(a) => assert_eq!(a.ip().to_string(), "10.213.0.2"),
            SocketAddr::V6(a) => assert!(a.ip().segments()[0] == 0xfe80, "link-local sender {a}"),
        }
    }
}

#[test]
fn udp_broadcast_and_ipv6_multicast_between_namespaces() {
    match std::env::var(ROLE).as_deref() {
        Ok("entity") => return entity(),
        Ok("tester") => return tester(),
        _ => {}
    }
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"));
    if !root || !ip(&["-V"]) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run this test as root with `ip` installed"
        );
        eprintln!("SKIP {TEST}: needs root and iproute2 to create network namespaces");
        return;
    }
    let ns = Namespaces::create();
    let entity = ns.run("entity");
    let tester = ns.run("tester").wait_with_output().unwrap();
    let entity = entity.wait_with_output().unwrap();
    let show = |o: &std::process::Output| {
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    };
    assert!(
        tester.status.success(),
        "tester failed:\n{}\nentity:\n{}",
        show(&tester),
        show(&entity)
    );
    assert!(entity.status.success(), "entity failed:\n{}", show(&entity));
    assert!(show(&tester).contains("from 10.213.0.2"), "{}", show(&tester));
}
