//! `cargo xtask python` (part of `cargo xtask ci`): the pytest suite of the Python package
//! (`python/tests`) against `doip_rs` built from `python/`, with doipclient 1.2.2 and udsoncan
//! beside it for the agreement tests, in a throwaway virtualenv. Without Python this fails
//! under CI and is skipped elsewhere.

use anyhow::Result;

use crate::interop::Venv;
use crate::run;

/// Installs pytest into the interop virtualenv and runs the suite.
pub(crate) fn run_tests() -> Result<()> {
    let Some(venv) = Venv::create()? else { return Ok(()) };
    run(venv.pip_install().arg("pytest"))?;
    run(venv.python().args(["-m", "pytest", "python/tests", "-q", "-p", "no:cacheprovider"]))
}
