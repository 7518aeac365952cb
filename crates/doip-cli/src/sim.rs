//! `doip sim`: a simulated entity in the foreground, one line per event.

use std::sync::mpsc;

use doip_sim::{SimConfig, Simulator, TlsFiles};

use crate::Failure;
use crate::args::SimArgs;

pub(crate) fn run(args: SimArgs) -> Result<(), Failure> {
    let io = |m: String| Failure::new(Failure::IO, m);
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| io(format!("cannot read {}: {e}", path.display())))?;
            SimConfig::from_toml(&text).map_err(|e| io(format!("{}: {e}", path.display())))?
        }
        None => SimConfig::default(),
    };
    if let Some(bind) = args.bind {
        config.bind = bind;
    }
    if let Some(port) = args.tcp_port {
        config.tcp_port = port;
    }
    if let Some(port) = args.udp_port {
        config.udp_port = port;
    }
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        config.tls = Some(TlsFiles { cert, key, port: args.tls_port });
    }
    let mut simulator =
        Simulator::new(&config).map_err(|e| io(format!("cannot start the simulator: {e}")))?;
    for line in simulator.describe() {
        println!("{line}");
    }
    let (tx, rx) = mpsc::channel();
    if !args.quiet {
        simulator.set_event_sink(tx);
    }
    let handle = simulator.spawn().map_err(|e| io(e.to_string()))?;
    println!("running; Ctrl-C stops");
    // Quiet, `tx` stays here unused: nothing arrives and this runs until interrupted too.
    for event in rx {
        println!("{event}");
    }
    handle.stop().map_err(|e| io(e.to_string()))
}
