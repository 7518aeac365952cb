//! `cargo xtask fuzz`: the cargo-fuzz targets under `fuzz/`, each for a fixed time.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::has;

/// Every target: the file stems in `fuzz/fuzz_targets/`, sorted (the replay test in
/// `doip-fuzz-checks` checks each has its check).
fn targets() -> Result<Vec<String>> {
    let dir = crate::workspace_root().join("fuzz/fuzz_targets");
    let mut targets = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs")
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            targets.push(stem.to_owned());
        }
    }
    targets.sort();
    Ok(targets)
}

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

/// The largest single allocation a fuzz target may make.
const MALLOC_LIMIT_MB: u32 = 8;

/// Runs `only` (or every target) for `seconds` each and prints executions per second.
pub(crate) fn run(only: Option<&str>, seconds: u64) -> Result<()> {
    ensure_cargo_fuzz()?;
    let all = targets()?;
    let targets: Vec<&str> = match only {
        Some(t) if all.iter().any(|a| a == t) => vec![t],
        Some(t) => bail!("unknown fuzz target {t}; targets: {all:?}"),
        None => all.iter().map(String::as_str).collect(),
    };
    let mut report = Vec::new();
    for target in targets {
        let corpus = format!("fuzz/corpus/{target}");
        std::fs::create_dir_all(&corpus)?;
        let mut cmd = fuzz_command();
        cmd.args(["fuzz", "run", target, &corpus, "fuzz/seeds", "--"])
            .arg(format!("-max_total_time={seconds}"))
            // Inputs are a few KiB: an allocation this large means a length from the input
            // was trusted (every buffer should grow with the bytes actually there).
            .arg(format!("-malloc_limit_mb={MALLOC_LIMIT_MB}"))
            .arg("-print_final_stats=1");
        eprintln!("xtask: running {cmd:?}");
        let out = cmd.output().with_context(|| format!("could not start {cmd:?}"))?;
        let log = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            eprintln!("{log}");
            let kept = keep_regressions(target)?;
            bail!(
                "fuzz target {target} failed: {}; minimised input(s) kept for the test suite: \
                 {kept:?} (commit them with the fix)",
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

/// Minimises every crashing input libFuzzer left for `target` and copies the result to
/// `fuzz/regressions/<target>/`, where `cargo test --workspace` replays it.
fn keep_regressions(target: &str) -> Result<Vec<std::path::PathBuf>> {
    let artifacts = std::path::Path::new("fuzz/artifacts").join(target);
    let regressions = std::path::Path::new("fuzz/regressions").join(target);
    std::fs::create_dir_all(&regressions)?;
    let mut kept = Vec::new();
    let Ok(entries) = std::fs::read_dir(&artifacts) else { return Ok(kept) };
    for entry in entries {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        if !["crash-", "oom-", "timeout-"].iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let mut tmin = fuzz_command();
        tmin.args(["fuzz", "tmin", "--runs", "10000", target]).arg(&path);
        eprintln!("xtask: running {tmin:?}");
        // tmin writes `minimized-from-<hash>` beside the input; fall back to the original.
        let _ = tmin.output();
        let minimised =
            name.split_once('-').map(|(_, hash)| artifacts.join(format!("minimized-from-{hash}")));
        let source = minimised.filter(|m| m.is_file()).unwrap_or(path);
        let dest = regressions.join(&name);
        std::fs::copy(&source, &dest)?;
        kept.push(dest);
    }
    Ok(kept)
}
