//! `doip`: Diagnostics over IP (ISO 13400-2) from the command line.
//!
//! Subcommands: `discover`, `listen`, `status`, `power-mode`, `alive`, `activate`, `send`,
//! `flash`, `uds`, `decode`, `sim` and `demo` (`doip help <command>` describes each). With `--json`, output is
//! one JSON object per line with stable keys.
//!
//! Exit codes: 0 success; 1 a DoIP or UDS negative answer (or malformed frames decoded);
//! 2 usage; 3 timeout or peer unreachable; 4 I/O, TLS or capture-file error.

mod args;
mod capture;
mod decode;
mod demo;
mod flash;
mod json;
mod live;
mod logging;
mod sim;
mod uds;

use std::fmt;
use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

/// Why a command failed, and the exit code that says so.
#[derive(Debug)]
pub(crate) struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// A DoIP or UDS negative answer.
    pub(crate) const NEGATIVE: u8 = 1;
    /// Bad command-line input.
    pub(crate) const USAGE: u8 = 2;
    /// No answer in time, or the peer cannot be reached.
    pub(crate) const UNREACHABLE: u8 = 3;
    /// I/O, TLS, configuration or capture-file errors.
    pub(crate) const IO: u8 = 4;

    pub(crate) fn new(code: u8, message: impl fmt::Display) -> Self {
        Self { code, message: message.to_string() }
    }
}

impl From<doip_client::Error> for Failure {
    fn from(e: doip_client::Error) -> Self {
        Self::new(Self::code_of(&e), e)
    }
}

impl Failure {
    /// The exit code for a DoIP client error.
    fn code_of(e: &doip_client::Error) -> u8 {
        use doip_client::Error as E;
        use doip_transport::Error as T;
        match e {
            E::ActivationDenied { .. } | E::DiagnosticNack { .. } => Self::NEGATIVE,
            E::Timeout { .. } | E::PendingLimit { .. } | E::MaybeDelivered { .. } => {
                Self::UNREACHABLE
            }
            E::InvalidTesterAddress(_) | E::EmptyPayload | E::UnknownInterface(_) => Self::USAGE,
            E::Transport(t) => match t {
                T::Nack { .. } => Self::NEGATIVE,
                T::Timeout { .. }
                | T::Refused { .. }
                | T::ClosedByPeer { .. }
                | T::NotConnected { .. } => Self::UNREACHABLE,
                T::Io { source, .. }
                    if matches!(
                        source.kind(),
                        std::io::ErrorKind::ConnectionRefused
                            | std::io::ErrorKind::ConnectionReset
                            | std::io::ErrorKind::HostUnreachable
                            | std::io::ErrorKind::NetworkUnreachable
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::AddrNotAvailable
                    ) =>
                {
                    Self::UNREACHABLE
                }
                _ => Self::IO,
            },
            _ => Self::IO,
        }
    }

    /// The exit code for a UDS error: 1 for the ECU's refusals, as for DoIP's.
    fn code_of_uds(e: &doip_uds::Error) -> u8 {
        use doip_uds::Error as E;
        match e {
            E::Negative { .. } | E::CheckFailed { .. } => Self::NEGATIVE,
            E::InvalidRequest(_) => Self::USAGE,
            E::Doip(d) => Self::code_of(d),
            E::Step { source, .. } => Self::code_of_uds(source),
            _ => Self::IO,
        }
    }
}

impl From<doip_uds::Error> for Failure {
    fn from(e: doip_uds::Error) -> Self {
        Self::new(Self::code_of_uds(&e), e)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.verbose);
    let result = match cli.command {
        Command::Discover(a) => live::discover(&a),
        Command::Listen(a) => live::listen(&a),
        Command::Status(a) => live::status(&a),
        Command::PowerMode(a) => live::power_mode(&a),
        Command::Alive(a) => live::alive(&a),
        Command::Activate(a) => live::activate(&a),
        Command::Send(a) => live::send(&a),
        Command::Flash(a) => flash::run(&a),
        Command::Uds(a) => uds::run(&a),
        Command::Decode(a) => decode::run(&a),
        Command::Sim(a) => sim::run(a),
        Command::Demo(a) => demo::run(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("doip: {}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}
