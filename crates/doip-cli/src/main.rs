//! `doip`: Diagnostics over IP from the command line.
//!
//! `doip sim` runs a simulated DoIP entity until interrupted (Ctrl-C), printing its identity
//! and one line per event. Exit codes: 0 success, 2 usage, 4 I/O or TLS error.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;

use clap::{Args, Parser, Subcommand};
use doip_sim::{SimConfig, Simulator, TlsFiles};

#[derive(Parser)]
#[command(name = "doip", version, about = "Diagnostics over IP (ISO 13400-2) tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a simulated DoIP entity (a gateway with ECUs behind it) until Ctrl-C.
    Sim(SimArgs),
}

#[derive(Args)]
struct SimArgs {
    /// Address to bind (overrides the configuration file).
    #[arg(long)]
    bind: Option<IpAddr>,
    /// TOML configuration (see crates/doip-sim/ecu.toml for every field).
    #[arg(long)]
    config: Option<PathBuf>,
    /// TCP_DATA port (0 picks a free one).
    #[arg(long)]
    tcp_port: Option<u16>,
    /// UDP_DISCOVERY port (0 picks a free one).
    #[arg(long)]
    udp_port: Option<u16>,
    /// PEM certificate chain: serve DoIP over TLS as well.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// TLS port.
    #[arg(long, default_value_t = 3496)]
    tls_port: u16,
}

/// Exit code for I/O, TLS and configuration failures.
const EXIT_IO: u8 = 4;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Sim(args) => sim(args),
    }
}

fn sim(args: SimArgs) -> ExitCode {
    let mut config = match &args.config {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => match SimConfig::from_toml(&text) {
                Ok(c) => c,
                Err(e) => return fail(&format!("{}: {e}", path.display())),
            },
            Err(e) => return fail(&format!("cannot read {}: {e}", path.display())),
        },
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
    let mut simulator = match Simulator::new(&config) {
        Ok(s) => s,
        Err(e) => return fail(&format!("cannot start the simulator: {e}")),
    };
    for line in simulator.describe() {
        println!("{line}");
    }
    let (tx, rx) = mpsc::channel();
    simulator.set_event_sink(tx);
    let handle = match simulator.spawn() {
        Ok(h) => h,
        Err(e) => return fail(&e.to_string()),
    };
    println!("running; Ctrl-C stops");
    for event in rx {
        println!("{event}");
    }
    match handle.stop() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e.to_string()),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("doip: {message}");
    ExitCode::from(EXIT_IO)
}
