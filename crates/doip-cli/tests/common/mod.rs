//! Helpers shared by the CLI's integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command};

use doip_sim::{SimConfig, SimHandle, Simulator};

pub(crate) fn doip() -> Command {
    Command::new(env!("CARGO_BIN_EXE_doip"))
}

/// Kills the child when the test ends, however it ends.
pub(crate) struct Running(pub(crate) Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends SIGINT (what Ctrl-C sends) to a child.
pub(crate) fn interrupt(child: &Child) {
    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
}

/// Whether an external tool runs. Missing in CI (`CI` set) is a failure; elsewhere the test
/// is skipped with a printed reason.
pub(crate) fn tool_available(tool: &str, args: &[&str]) -> bool {
    let found = Command::new(tool).args(args).output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("CI").is_none(), "{tool} is required in CI (.ci/run installs it)");
        println!("SKIP: {tool} not found (install it to run this test)");
    }
    found
}

/// The simulator on loopback with free ports and test timings.
pub(crate) struct Sim {
    pub(crate) tcp: SocketAddr,
    pub(crate) udp: SocketAddr,
    pub(crate) handle: Option<SimHandle>,
}

impl Sim {
    pub(crate) fn start() -> Self {
        Self::with(SimConfig::for_tests())
    }

    pub(crate) fn with(mut config: SimConfig) -> Self {
        config.bind = IpAddr::V4(Ipv4Addr::LOCALHOST);
        config.tcp_port = 0;
        config.udp_port = 0;
        let handle = Simulator::new(&config).unwrap().spawn().unwrap();
        Self { tcp: handle.tcp, udp: handle.udp, handle: Some(handle) }
    }

    /// `--ip --port --udp-port` for this simulator.
    pub(crate) fn conn(&self) -> Vec<String> {
        vec![
            "--ip".into(),
            "127.0.0.1".into(),
            "--port".into(),
            self.tcp.port().to_string(),
            "--udp-port".into(),
            self.udp.port().to_string(),
        ]
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = h.stop();
        }
    }
}
