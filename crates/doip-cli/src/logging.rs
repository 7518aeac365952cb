//! `-v` and `RUST_LOG`: the libraries' `log` events on standard error, with timestamps.

/// Installs the logger: `RUST_LOG` when set; otherwise warnings, and with `-v` every DoIP
/// frame (target `doip::frame`), `-vv` all debug events, `-vvv` everything.
pub(crate) fn init(verbose: u8) {
    let default = match verbose {
        0 => "warn".to_owned(),
        1 => format!("info,{}=debug", doip_client::tap::LOG_TARGET),
        2 => "debug".to_owned(),
        _ => "trace".to_owned(),
    };
    let env = env_logger::Env::default().default_filter_or(default);
    // A second initialisation (tests calling main twice) changes nothing.
    let _ = env_logger::Builder::from_env(env).format_timestamp_micros().try_init();
}
