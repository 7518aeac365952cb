//! `cargo xtask bench`: runs the criterion benchmarks, then prints each measurement beside
//! its baseline from the same run, as a ratio, and Python `doip_rs` beside doipclient 1.2.2.
//! `cargo xtask bench -- python` runs only the Python comparison.

use std::path::Path;

use std::time::SystemTime;

use anyhow::{Context, Result, ensure};

use crate::cargo;

/// A benchmark compared with its baseline: criterion group, our function, the baseline
/// function, the unit of one element, and the target ratio or rate.
struct Comparison {
    group: &'static str,
    ours: &'static str,
    baseline: &'static str,
    what: &'static str,
    target: &'static str,
}

const COMPARISONS: &[Comparison] = &[
    Comparison {
        group: "stream_decode_tester_present",
        ours: "doip_proto",
        baseline: "memcpy",
        what: "14-byte TesterPresent frames, pushed in 64 KiB chunks",
        target: "at least 50 million messages/s",
    },
    Comparison {
        group: "stream_decode_4k_diagnostic",
        ours: "doip_proto",
        baseline: "memcpy",
        what: "4 KiB diagnostic frames, pushed in 64 KiB chunks",
        target: "at least 0.8x memcpy",
    },
    Comparison {
        group: "blocking_round_trip",
        ours: "doip_transport",
        baseline: "std_tcp",
        what: "request (14 B) -> ACK (13 B) + answer (14 B) over loopback, blocking",
        target: "at least 0.9x plain TCP",
    },
    Comparison {
        group: "uds_round_trip",
        ours: "doip_client",
        baseline: "std_tcp",
        what: "UDS 3E 00 via doip-client + doip-sim vs plain TCP ping-pong, same sizes",
        target: "at least 0.9x plain TCP",
    },
    Comparison {
        group: "uds_round_trip",
        ours: "doip_client_inline",
        baseline: "std_tcp",
        what: "the same, event loop on the caller's thread",
        target: "(informative)",
    },
    Comparison {
        group: "uds_round_trip",
        ours: "doip_client_busy_poll",
        baseline: "std_tcp",
        what: "the same, low-latency busy-poll mode (1 ms spin)",
        target: "at least 1.5x plain TCP",
    },
    Comparison {
        group: "flash_16mib",
        ours: "doip_client",
        baseline: "std_tcp",
        what: "16 MiB in 4093-byte TransferData blocks vs plain stop-and-wait TCP",
        target: "at least 0.9x plain TCP",
    },
    Comparison {
        group: "flash_16mib",
        ours: "doip_client_busy_poll",
        baseline: "std_tcp",
        what: "the same, low-latency busy-poll mode",
        target: "(informative)",
    },
    Comparison {
        group: "eight_ecus",
        ours: "concurrent",
        baseline: "sequential",
        what: "8 ECUs behind one Tester connection: requests in flight together vs one by one",
        target: "(answers/s; ECUs answering at once)",
    },
    Comparison {
        group: "eight_ecus_1ms",
        ours: "concurrent",
        baseline: "sequential",
        what: "the same, ECUs taking 1 ms to answer",
        target: "(answers/s; up to 8x)",
    },
    Comparison {
        group: "uds_round_trip_loaded",
        ours: "doip_client_busy_poll",
        baseline: "doip_client",
        what: "UDS round trip with both cores kept busy by two other threads: busy-poll vs default",
        target: "at least 1.0x the default mode",
    },
    Comparison {
        group: "tokio_round_trip",
        ours: "doip_client_tokio",
        baseline: "tokio_tcp",
        what: "UDS 3E 00 via doip_client::tokio vs tokio TcpStream ping-pong, same sizes, each in a task on a current-thread runtime",
        target: "at least 0.9x plain tokio TCP",
    },
    Comparison {
        group: "tokio_round_trip",
        ours: "doip_client_tokio_block_on",
        baseline: "tokio_tcp_block_on",
        what: "the same, each round trip its own block_on (the caller woken through the runtime's eventfd)",
        target: "(informative)",
    },
    Comparison {
        group: "thousand_ecus",
        ours: "tokio_one_thread",
        baseline: "blocking_tester",
        what: "1,000 ECUs on 10 entities x 100 round trips each, all ECUs at once: one runtime thread vs the blocking Tester",
        target: "(informative: both reported)",
    },
    Comparison {
        group: "capture_32mib",
        ours: "decode",
        baseline: "read",
        what: "pcap of diagnostic traffic: full decode in memory vs reading the same bytes",
        target: "(informative; the file comparison below is the target)",
    },
];

/// Criterion's estimate of one function: mean time per iteration (ns) and elements or
/// bytes per iteration.
fn estimate(group: &str, function: &str, since: SystemTime) -> Result<(f64, f64, bool)> {
    let dir = Path::new("target/criterion").join(group).join(function).join("new");
    let modified = std::fs::metadata(dir.join("estimates.json"))?.modified()?;
    ensure!(modified >= since, "{group}/{function} was not measured in this run");
    let read = |file: &str| -> Result<serde_json::Value> {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Ok(serde_json::from_str(&text)?)
    };
    let ns = read("estimates.json")?["mean"]["point_estimate"]
        .as_f64()
        .context("no mean in estimates.json")?;
    let throughput = &read("benchmark.json")?["throughput"];
    let (per_iter, bytes) = match (throughput["Bytes"].as_f64(), throughput["Elements"].as_f64()) {
        (Some(b), _) => (b, true),
        (None, Some(e)) => (e, false),
        _ => (1.0, false),
    };
    Ok((ns, per_iter, bytes))
}

/// A job of `tests/interop/bench.py`, `doip_rs` compared with doipclient.
struct PythonJob {
    job: &'static str,
    what: &'static str,
    target: &'static str,
}

const PYTHON_JOBS: &[PythonJob] = &[
    PythonJob {
        job: "uds_round_trip",
        what: "send_diagnostic + receive_diagnostic, 3E 00 -> 7E 00, 2000 times",
        target: "target: at least 2x",
    },
    PythonJob {
        job: "udsoncan_download_4mib",
        what: "udsoncan 1.26.1 download of 4 MiB via DoIPClientUDSConnector, blocks as granted",
        target: "target: at least 4x",
    },
    PythonJob {
        job: "flash_16mib",
        what: "16 MiB by send_diagnostic + receive_diagnostic, 4093-byte blocks",
        target: "informative",
    },
    PythonJob {
        job: "udsoncan_flash_16mib",
        what: "the udsoncan download, 16 MiB",
        target: "informative",
    },
];

/// The criterion filter that selects only the Python comparison.
const PYTHON_ONLY: &str = "python";

pub(crate) fn run(args: &[String]) -> Result<()> {
    if args == [PYTHON_ONLY] {
        print_python_modules(&python_figures()?);
        return Ok(());
    }
    // The tokio driver's benchmark needs its feature.
    let mut cmd = vec!["bench", "--workspace", "--features", "doip-client/tokio", "--"];
    cmd.extend(args.iter().map(String::as_str));
    let since = SystemTime::now();
    cargo(&cmd)?;
    let python = python_figures()?;
    println!("\nside by side (same run):");
    for c in COMPARISONS {
        let (Ok(ours), Ok(base)) =
            (estimate(c.group, c.ours, since), estimate(c.group, c.baseline, since))
        else {
            println!("{}: not measured in this run", c.group);
            continue;
        };
        let rate = |(ns, per_iter, _): (f64, f64, bool)| per_iter / ns * 1e9;
        let (unit, scale) = match (ours.2, rate(ours)) {
            (true, r) if r < 1024.0 * 1024.0 * 1024.0 => ("MiB/s", 1024.0 * 1024.0),
            (true, _) => ("GiB/s", 1024.0 * 1024.0 * 1024.0),
            (false, r) if r < 1e6 => ("k/s", 1e3),
            (false, _) => ("M/s", 1e6),
        };
        println!(
            "{}: {}\n  {:<12} {:>10.2} {unit}\n  {:<12} {:>10.2} {unit}\n  ratio {:.2}x ({})",
            c.group,
            c.what,
            c.ours,
            rate(ours) / scale,
            c.baseline,
            rate(base) / scale,
            rate(ours) / rate(base),
            c.target,
        );
    }
    print_python(&python, since);
    print_python_modules(&python);
    crate::bench_flash::run(&python)?;
    capture_files()
}

/// The size of the capture `doip decode` is timed on.
const CAPTURE_BYTES: u64 = 100_000_000;

/// Wall time of `program args` with stdout to /dev/null: the best of `runs`.
pub(crate) fn time(program: &Path, args: &[&str], runs: u32) -> Result<f64> {
    let mut best = f64::INFINITY;
    for _ in 0..runs {
        let started = std::time::Instant::now();
        let status = std::process::Command::new(program)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .with_context(|| format!("running {}", program.display()))?;
        // `doip decode` exits 1 only for malformed frames, which this capture has none of;
        // `doip flash` only on a failed flash.
        ensure!(status.success(), "{} {args:?} failed: {status}", program.display());
        best = best.min(started.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// `doip decode` on a 100 MB capture of diagnostic traffic, beside `cat` and `tshark -T json`
/// on the same file in the same run.
fn capture_files() -> Result<()> {
    cargo(&["build", "--release", "-p", "doip-cli"])?;
    let target = crate::workspace_root().join("target");
    let file = target.join("bench-capture-100mb.pcap");
    if std::fs::metadata(&file).map_or(0, |m| m.len()) < CAPTURE_BYTES {
        let out = std::io::BufWriter::new(std::fs::File::create(&file)?);
        let mut w = doip_pcap::synth::CaptureWriter::new(out, doip_pcap::synth::Format::Pcap)?;
        doip_pcap::synth::diagnostic_session(&mut w, CAPTURE_BYTES)?;
        std::io::Write::flush(&mut w.into_inner())?;
    }
    let path = file.to_string_lossy().into_owned();
    let mb = f64::from(u32::try_from(std::fs::metadata(&file)?.len() / 1000)?) / 1e3;
    let doip = target.join("release/doip");
    let cat = time(Path::new("cat"), &[&path], 5)?;
    let summary = time(&doip, &["decode", "--summary", "--pcap", &path], 5)?;
    let json = time(&doip, &["decode", "--json", "--pcap", &path], 3)?;
    println!("\ncapture decoding, {mb:.0} MB pcap of diagnostic traffic (same run):");
    println!("  cat FILE > /dev/null            {cat:>8.3} s  {:>8.0} MB/s", mb / cat);
    println!(
        "  doip decode --summary (decode)  {summary:>8.3} s  {:>8.0} MB/s  = {:.1}x cat's time (target: within 3x)",
        mb / summary,
        summary / cat
    );
    println!("  doip decode --json              {json:>8.3} s  {:>8.0} MB/s", mb / json);
    match time(Path::new("tshark"), &["-r", &path, "-T", "json"], 1) {
        Ok(tshark) => println!(
            "  tshark -T json                  {tshark:>8.3} s  {:>8.1} MB/s\n  doip decode --json is {:.1}x faster than tshark -T json (target: at least 5x)",
            mb / tshark,
            tshark / json
        ),
        Err(e) => println!("  tshark -T json: not measured ({e})"),
    }
    Ok(())
}

/// One line of `bench.py`: module, job, and rate (MiB/s, or per second).
pub(crate) struct PythonFigure {
    pub(crate) module: String,
    pub(crate) job: String,
    pub(crate) rate: f64,
    pub(crate) bytes: bool,
}

/// The figure of `module` for `job`, if measured.
pub(crate) fn python_figure<'a>(
    figures: &'a [PythonFigure],
    module: &str,
    job: &str,
) -> Option<&'a PythonFigure> {
    figures.iter().find(|f| f.module == module && f.job == job)
}

/// Runs `bench.py` with doipclient, then with `doip_rs`, against one release `doip sim`.
fn python_figures() -> Result<Vec<PythonFigure>> {
    let Some(venv) = crate::interop::Venv::create()? else { return Ok(Vec::new()) };
    // Quiet: a line per request would cost the simulator more than some clients' requests.
    let sim = crate::interop::Sim::start(
        true,
        &["--bind", "127.0.0.1", "--tcp-port", "0", "--udp-port", "0", "--quiet"],
    )?;
    let mut figures = Vec::new();
    for module in ["doipclient", "doip_rs"] {
        eprintln!("xtask: Python benchmark with {module}");
        let out = crate::output(
            venv.python()
                .arg("tests/interop/bench.py")
                .arg(sim.tcp.ip().to_string())
                .arg(sim.tcp.port().to_string())
                .arg(module),
        )?;
        figures.extend(out.lines().filter_map(|l| {
            let mut f = l.split_whitespace();
            let module = f.next()?.strip_prefix("python_")?.to_owned();
            let job = f.next()?.to_owned();
            let rate = f.next()?.parse().ok()?;
            Some(PythonFigure { module, job, rate, bytes: f.next()? == "MiB_per_s" })
        }));
    }
    Ok(figures)
}

/// Prints our rate beside Python doipclient's for the same job, as a speed-up.
fn print_python(python: &[PythonFigure], since: SystemTime) {
    for figure in python.iter().filter(|f| f.module == "doipclient") {
        for mode in ["doip_client", "doip_client_busy_poll"] {
            print_speed_up(&figure.job, mode, figure.rate, since);
        }
    }
}

/// Prints Python `doip_rs` beside doipclient for each of [`PYTHON_JOBS`], as a ratio.
fn print_python_modules(python: &[PythonFigure]) {
    println!(
        "
Python doip_rs vs doipclient 1.2.2 (same simulator, same run):"
    );
    for j in PYTHON_JOBS {
        let (Some(ours), Some(theirs)) =
            (python_figure(python, "doip_rs", j.job), python_figure(python, "doipclient", j.job))
        else {
            println!("{}: not measured in this run", j.job);
            continue;
        };
        let unit = if ours.bytes { "MiB/s" } else { "per s" };
        println!(
            "{}: {}\n  {:<17} {:>10.1} {unit}\n  {:<17} {:>10.1} {unit}\n  ratio {:.2}x ({})",
            j.job,
            j.what,
            "python_doip_rs",
            ours.rate,
            "python_doipclient",
            theirs.rate,
            ours.rate / theirs.rate,
            j.target,
        );
    }
}
/// Prints one client mode's rate beside Python doipclient's for the same job.
fn print_speed_up(job: &str, mode: &str, theirs: f64, since: SystemTime) {
    let Ok(ours) = estimate(job, mode, since) else { return };
    let per_s = ours.1 / ours.0 * 1e9;
    let (ours_rate, unit) =
        if ours.2 { (per_s / (1024.0 * 1024.0), "MiB/s") } else { (per_s, "per s") };
    println!(
        "{job} vs Python doipclient 1.2.2 (same simulator):\n  {mode:<22} {ours_rate:>10.1} {unit}\n  {:<22} {theirs:>10.1} {unit}\n  speed-up {:.1}x",
        "python_doipclient",
        ours_rate / theirs
    );
}
