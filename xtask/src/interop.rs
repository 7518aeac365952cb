//! `cargo xtask interop`: Python's `doipclient` and `udsoncan`, unchanged, against `doip sim`.
//!
//! A throwaway virtualenv gets the two packages from PyPI; the simulator runs on
//! 127.0.0.1:13400 (doipclient's discovery always targets port 13400); the script in
//! `tests/interop/` must pass. Without Python this fails under CI and is skipped elsewhere.

use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::{has, run};

/// The reference client versions checked against.
const PACKAGES: &[&str] = &["doipclient==1.2.2", "udsoncan==1.26.1"];

/// Stops the simulator however the run ends.
struct Sim(Child);

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn run_interop() -> Result<()> {
    if !has("python3", &["-m", "venv", "--help"]) {
        if std::env::var_os("CI").is_some() {
            bail!("python3 with venv is required for the interop check");
        }
        eprintln!("xtask: SKIP interop: python3 with venv not found");
        return Ok(());
    }
    let dir = std::env::temp_dir().join(format!("doip-interop-{}", std::process::id()));
    let venv = dir.join("venv");
    run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    let result = (|| {
        run(Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(PACKAGES))?;
        run(Command::new("cargo").args(["build", "--quiet", "-p", "doip-cli"]))?;
        let sim = Command::new("target/debug/doip")
            .args(["sim", "--bind", "127.0.0.1"])
            .stdout(Stdio::null())
            .spawn()
            .context("starting doip sim")?;
        let _sim = Sim(sim);
        run(Command::new(venv.join("bin/python")).arg("tests/interop/interop.py").arg("127.0.0.1"))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}
