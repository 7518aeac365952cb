//! `cargo xtask fuzz`: the cargo-fuzz targets under `fuzz/`, each for a fixed time.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::has;

/// Every target in `fuzz/fuzz_targets/`, one per parser entry point.
const TARGETS: &[&str] = &[
    "header",
    "message",
    "stream_decoder",
    "datagram_decoder",
    "round_trip",
    "pcap_reader",
    "sim_requests",
];

/// How to reach a toolchain that builds with sanitizers: nightly, else stable with
/// `RUSTC_BOOTSTRAP=1`.
fn fuzz_command() -> Command {
    let mut cmd = Command::new("cargo");
    if has("rustup", &["run", "nightly", "rustc", "--version"]) {
        cmd.arg("+nightly");
    } else {
        cmd.env("RUSTC_BOOTSTRAP", "1");
    }
    cmd
}

/// Installs cargo-fuzz when it is missing.
fn ensure_cargo_fuzz() -> Result<()> {
    if !has("cargo", &["fuzz", "--version"]) {
        crate::run(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))?;
    }
    Ok(())
}

/// Runs `only` (or every target) for `seconds` each and prints executions per second.
pub(crate) fn run(only: Option<&str>, seconds: u64) -> Result<()> {
    ensure_cargo_fuzz()?;
    let targets: Vec<&str> = match only {
        Some(t) if TARGETS.contains(&t) => vec![t],
        Some(t) => bail!("unknown fuzz target {t}; targets: {TARGETS:?}"),
        None => TARGETS.to_vec(),
    };
    let mut report = Vec::new();
    for target in targets {
        let corpus = format!("fuzz/corpus/{target}");
        std::fs::create_dir_all(&corpus)?;
        let mut cmd = fuzz_command();
        cmd.args(["fuzz", "run", target, &corpus, "fuzz/seeds", "--"])
            .arg(format!("-max_total_time={seconds}"))
            .arg("-print_final_stats=1");
        eprintln!("xtask: running {cmd:?}");
        let out = cmd.output().with_context(|| format!("could not start {cmd:?}"))?;
        let log = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            eprintln!("{log}");
            bail!(
                "fuzz target {target} failed: {}; the crashing input is under fuzz/artifacts/{target}/",
                out.status
            );
        }
        let stat = |name: &str| {
            log.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim_start_matches(':').trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        report.push((
            target,
            stat("stat::number_of_executed_units"),
            stat("stat::average_exec_per_sec"),
        ));
    }
    println!("{:<18} {:>14} {:>12}", "fuzz target", "executions", "exec/s");
    for (target, runs, per_sec) in report {
        println!("{target:<18} {runs:>14} {per_sec:>12}");
    }
    Ok(())
}
