//! Project automation for doip-rs, run as `cargo xtask <command>` (see `.cargo/config.toml`).
//!
//! - `ci`: every check `.ci/run` relies on, in order, stopping at the first failure.
//! - `fuzz`: runs each cargo-fuzz target for a while and reports executions per second.
//! - `bench`: runs the criterion benchmarks and prints the side-by-side ratios.
//! - `interop`: Python's doipclient and udsoncan against `doip sim`.
//! - `soak`: 64 concurrent testers against the simulator for N minutes, with accounting.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use clap::{Parser, Subcommand};

mod bench;
mod bench_flash;
mod fuzz;
mod interop;
mod python;

#[derive(Parser)]
#[command(about = "doip-rs project automation")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// fmt, clippy, tests, docs, dependency checks, Python interop and a short fuzz smoke.
    Ci {
        /// Skip `cargo test --workspace` (when the caller has just run it).
        #[arg(long)]
        skip_tests: bool,
        /// Seconds each fuzz target runs in the smoke (0 skips it).
        #[arg(long, default_value_t = 10)]
        fuzz_seconds: u64,
        /// Minutes of soak (0 skips it).
        #[arg(long, default_value_t = 0.0)]
        soak_minutes: f64,
    },
    /// 64 concurrent testers against the simulator: mixed traffic, connection drops, every
    /// request accounted for, every download's CRC checked.
    Soak {
        /// How long.
        #[arg(long, default_value_t = 2.0)]
        minutes: f64,
    },
    /// Run the cargo-fuzz targets (nightly toolchain).
    Fuzz {
        /// Only this target (default: all).
        #[arg(long)]
        target: Option<String>,
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// Python doipclient and udsoncan against `doip sim` (needs python3 and PyPI).
    Interop,
    /// The Python package's pytest suite (`python/tests`) in a throwaway virtualenv.
    Python,
    /// Run the benchmarks and print ratios against their baselines.
    Bench {
        /// Extra arguments for criterion (e.g. a filter).
        args: Vec<String>,
    },
}

fn main() -> Result<()> {
    let root = workspace_root();
    std::env::set_current_dir(&root)?;
    match Cli::parse().command {
        Cmd::Ci { skip_tests, fuzz_seconds, soak_minutes } => {
            ci(skip_tests, fuzz_seconds, soak_minutes)
        }
        Cmd::Soak { minutes } => soak(minutes),
        Cmd::Fuzz { target, seconds } => fuzz::run(target.as_deref(), seconds),
        Cmd::Bench { args } => bench::run(&args),
        Cmd::Interop => interop::run_interop(),
        Cmd::Python => python::run_tests(),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Runs `cargo` with `args`, failing when it fails.
pub(crate) fn cargo(args: &[&str]) -> Result<()> {
    run(Command::new("cargo").args(args))
}

/// Runs a command, echoing it, failing when it fails.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd.status().with_context(|| format!("could not start {cmd:?}"))?;
    ensure!(status.success(), "{cmd:?} failed: {status}");
    Ok(())
}

/// Runs a command and returns its standard output.
pub(crate) fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("could not start {cmd:?}"))?;
    ensure!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8(out.stdout)?)
}

/// Whether `program args` runs successfully (a tool is installed).
pub(crate) fn has(program: &str, args: &[&str]) -> bool {
    Command::new(program).args(args).output().is_ok_and(|o| o.status.success())
}

/// The soak harness, built with optimisations (`crates/doip-client/examples/soak.rs`).
fn soak(minutes: f64) -> Result<()> {
    let minutes = minutes.to_string();
    cargo(&[
        "run",
        "--release",
        "-p",
        "doip-client",
        "--example",
        "soak",
        "--",
        "--minutes",
        &minutes,
    ])
}

/// Every crate of the workspace inherits the workspace lints, `unsafe_code = "forbid"` among
/// them: no `unsafe` anywhere in our code.
fn check_no_unsafe() -> Result<()> {
    let manifest = std::fs::read_to_string("Cargo.toml")?;
    ensure!(
        manifest.contains("unsafe_code = \"forbid\""),
        "workspace lints must forbid unsafe_code"
    );
    let mut dirs = vec![PathBuf::from("xtask")];
    for entry in std::fs::read_dir("crates")? {
        dirs.push(entry?.path());
    }
    for dir in dirs {
        let path = dir.join("Cargo.toml");
        let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
        ensure!(
            text.contains("[lints]\nworkspace = true"),
            "{} does not inherit the workspace lints (unsafe_code = forbid)",
            path.display()
        );
    }
    // The Python binding is the one exception: pyo3's generated glue is unsafe, so it denies
    // (not forbids) unsafe code, and its own sources have none.
    let binding = std::fs::read_to_string("python/Cargo.toml")?;
    ensure!(binding.contains("unsafe_code = \"deny\""), "python/Cargo.toml must deny unsafe_code");
    for entry in std::fs::read_dir("python/src")? {
        let path = entry?.path();
        let text = std::fs::read_to_string(&path)?;
        ensure!(
            !text.split(|c: char| !c.is_alphanumeric() && c != '_').any(|w| w == "unsafe"),
            "{} uses unsafe code",
            path.display()
        );
    }
    eprintln!(
        "xtask: every crate forbids unsafe code (the Python binding denies it, and has none)"
    );
    Ok(())
}

fn ci(skip_tests: bool, fuzz_seconds: u64, soak_minutes: f64) -> Result<()> {
    cargo(&["fmt", "--all", "--check"])?;
    cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])?;
    // Optional features (doip-proto `arbitrary`, doip-client `ecu-diagnostics`) too.
    cargo(&["clippy", "--workspace", "--all-targets", "--all-features", "--", "-D", "warnings"])?;
    if !skip_tests {
        cargo(&["test", "--workspace"])?;
    }
    // The optional features' tests (the tokio driver, and UDS over it).
    cargo(&["test", "-p", "doip-client", "--all-features"])?;
    cargo(&["test", "-p", "doip-uds", "--all-features"])?;
    run(Command::new("cargo")
        .args(["doc", "--workspace", "--no-deps", "--all-features"])
        .env("RUSTDOCFLAGS", "-D warnings"))?;
    // doip-proto is no_std + alloc: it must build without its std feature.
    cargo(&["build", "-p", "doip-proto", "--no-default-features"])?;
    check_proto_dependencies()?;
    check_no_unsafe()?;
    deny()?;
    interop::run_interop()?;
    python::run_tests()?;
    if fuzz_seconds > 0 {
        fuzz::run(None, fuzz_seconds)?;
    }
    if soak_minutes > 0.0 {
        soak(soak_minutes)?;
    }
    eprintln!("xtask: ci passed");
    Ok(())
}

/// `cargo deny check`: licences, bans and sources always; advisories when the RustSec
/// database can be fetched (it lives on github.com, which some build machines cannot reach).
fn deny() -> Result<()> {
    if !has("cargo-deny", &["--version"]) {
        if std::env::var_os("CI").is_some() {
            bail!("cargo-deny is not installed (.ci/run installs it)");
        }
        eprintln!("xtask: SKIP cargo deny: not installed (cargo install cargo-deny --locked)");
        return Ok(());
    }
    if has("cargo", &["deny", "fetch", "db"]) {
        cargo(&["deny", "check"])
    } else {
        eprintln!(
            "xtask: SKIP cargo deny advisories: the RustSec advisory database could not be \
             fetched (no route to github.com); checking licenses, bans and sources"
        );
        cargo(&["deny", "check", "licenses", "bans", "sources"])
    }
}

/// `doip-proto` must stay free of I/O crates: its direct dependencies are exactly nom and
/// thiserror, and nothing below them does sockets, TLS or async.
fn check_proto_dependencies() -> Result<()> {
    let tree = |depth: &str| {
        output(Command::new("cargo").args([
            "tree",
            "-p",
            "doip-proto",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--depth",
            depth,
            "--format",
            "{p}",
        ]))
    };
    let direct: Vec<String> = tree("1")?
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    ensure!(direct == ["nom", "thiserror"], "doip-proto's direct dependencies changed: {direct:?}");
    let all = tree("99")?;
    for banned in ["mio", "rustls", "socket2", "tokio", "libc", "std-io"] {
        ensure!(
            !all.lines().any(|l| l.split_whitespace().next() == Some(banned)),
            "doip-proto depends on {banned}"
        );
    }
    eprintln!("xtask: doip-proto dependency tree is I/O-free");
    // tokio only behind doip-client's `tokio` feature.
    let client = output(Command::new("cargo").args([
        "tree",
        "-p",
        "doip-client",
        "-e",
        "normal",
        "--prefix",
        "none",
        "--format",
        "{p}",
    ]))?;
    ensure!(
        !client
            .lines()
            .any(|l| l.split_whitespace().next().is_some_and(|n| n.starts_with("tokio"))),
        "doip-client depends on tokio without its `tokio` feature"
    );
    eprintln!("xtask: doip-client without features has no tokio in its tree");
    Ok(())
}
