//! `doip_rs._native`: the Rust half of the `doip_rs` Python package. Python's modules
//! (`doip_rs.client`, `doip_rs.messages`, …) give doipclient's API; everything they do on the
//! wire, every codec and every wait happens here, on doip-client's tester session, with the
//! GIL released.
//!
//! Kept thin on purpose: arguments are checked and converted, the Rust crates decide.

mod client;
mod convert;
mod discovery;
mod errors;
mod flash;
mod messages;
mod sim;
mod tls;

use pyo3::prelude::*;

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<client::Client>()?;
    m.add_class::<sim::Simulator>()?;
    m.add_function(wrap_pyfunction!(messages::pack, m)?)?;
    m.add_function(wrap_pyfunction!(messages::unpack, m)?)?;
    m.add_function(wrap_pyfunction!(messages::frame, m)?)?;
    m.add_function(wrap_pyfunction!(discovery::get_entity, m)?)?;
    m.add_function(wrap_pyfunction!(discovery::discover, m)?)?;
    m.add_function(wrap_pyfunction!(discovery::await_vehicle_announcement, m)?)?;
    Ok(())
}
