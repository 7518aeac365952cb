//! Python's `doipclient` and `udsoncan`, unchanged, against `doip sim`, and our `doip_rs`
//! package in doipclient's place.
//!
//! `cargo xtask interop` runs, once per module of [`MODULES`] and each time against a fresh
//! simulator, `doip flash` of an image, then `tests/interop/interop.py` with that module
//! (`DOIP_MODULE`): discovery, activation, entity status, power mode, alive check, and
//! udsoncan driving the simulator's UDS services — sessions, security access, DIDs, DTCs,
//! routines, memory, download — and reading back by request upload what `doip flash` wrote.
//! `cargo xtask bench` runs `tests/interop/bench.py` for the speed comparison. Both use a
//! throwaway virtualenv with the packages from `PyPI` and `doip_rs` built from `python/`.
//! Without Python this fails under CI and is skipped elsewhere.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::{has, run};

/// The reference client versions checked against.
const PACKAGES: &[&str] = &["doipclient==1.2.2", "udsoncan==1.26.1"];

/// The DoIP packages `interop.py` runs with, in this order.
const MODULES: &[&str] = &["doipclient", "doip_rs"];

/// A virtualenv with [`PACKAGES`] and `doip_rs`, removed on drop.
pub(crate) struct Venv(PathBuf);

impl Venv {
    /// Creates it, or `None` (skip) when Python is missing outside CI.
    pub(crate) fn create() -> Result<Option<Self>> {
        if !has("python3", &["-m", "venv", "--help"]) {
            if std::env::var_os("CI").is_some() {
                bail!("python3 with venv is required for the interop check");
            }
            eprintln!("xtask: SKIP Python doipclient: python3 with venv not found");
            return Ok(None);
        }
        let dir = std::env::temp_dir().join(format!("doip-interop-{}", std::process::id()));
        let venv = Self(dir);
        run(Command::new("python3").arg("-m").arg("venv").arg(venv.0.join("venv")))?;
        run(venv.pip_install().args(PACKAGES))?;
        // Built by maturin (release), which pip fetches from PyPI as the build backend.
        run(venv.pip_install().arg(crate::workspace_root().join("python")))?;
        Ok(Some(venv))
    }

    /// `pip install`, quiet, into it.
    pub(crate) fn pip_install(&self) -> Command {
        let mut pip = Command::new(self.0.join("venv/bin/pip"));
        pip.args(["install", "--quiet", "--disable-pip-version-check"]);
        pip
    }

    pub(crate) fn python(&self) -> Command {
        Command::new(self.0.join("venv/bin/python"))
    }
}

impl Drop for Venv {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `doip sim`, stopped on drop.
pub(crate) struct Sim {
    child: Child,
    /// Its TCP_DATA address.
    pub(crate) tcp: SocketAddr,
}

impl Sim {
    /// Starts `target/<profile>/doip sim` with `args` and reads its TCP address.
    pub(crate) fn start(release: bool, args: &[&str]) -> Result<Self> {
        let mut build = vec!["build", "--quiet", "-p", "doip-cli"];
        if release {
            build.push("--release");
        }
        run(Command::new("cargo").args(&build))?;
        let binary = if release { "target/release/doip" } else { "target/debug/doip" };
        let mut child = Command::new(binary)
            .arg("sim")
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .context("starting doip sim")?;
        let stdout = child.stdout.take().context("sim stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let tcp = loop {
            let line = lines.next().context("doip sim exited early")??;
            if let Some(rest) = line.strip_prefix("TCP_DATA on ") {
                break rest.split(',').next().unwrap_or_default().parse()?;
            }
        };
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Self { child, tcp })
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cargo xtask interop`: every module of [`MODULES`], failing when any failed.
pub(crate) fn run_interop() -> Result<()> {
    let Some(venv) = Venv::create()? else { return Ok(()) };
    // An image of two kinds of bytes, written by our tool, read back by udsoncan.
    let image = std::env::temp_dir().join(format!("doip-interop-{}.bin", std::process::id()));
    std::fs::write(&image, (0..100_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>())?;
    let path = image.to_string_lossy().into_owned();
    let results: Vec<_> = MODULES.iter().map(|m| (m, interop_with(&venv, m, &path))).collect();
    let _ = std::fs::remove_file(&image);
    for (module, result) in &results {
        match result {
            Ok(()) => eprintln!("xtask: interop with Python {module}: passed"),
            Err(e) => eprintln!("xtask: interop with Python {module}: FAILED: {e:#}"),
        }
    }
    results.into_iter().try_for_each(|(_, r)| r)
}

/// One run of `interop.py` with `module`, against its own simulator: a run clears DTCs,
/// writes a DID and resets the ECU, which the next run must not find.
fn interop_with(venv: &Venv, module: &str, image: &str) -> Result<()> {
    eprintln!("xtask: interop with Python {module}");
    // doipclient's discovery always targets UDP 13400.
    let _sim = Sim::start(false, &["--bind", "127.0.0.1"])?;
    let address = "0x00100000";
    run(Command::new("target/debug/doip").args([
        "flash",
        image,
        "--format",
        "bin",
        "--address",
        address,
        "--target",
        "0x4011",
        "--ip",
        "127.0.0.1",
        "--no-reset",
    ]))?;
    run(venv
        .python()
        .arg("tests/interop/interop.py")
        .args(["127.0.0.1", image, address])
        .env("DOIP_MODULE", module))
}
