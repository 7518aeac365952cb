//! Seeing every frame: each DoIP frame a [`crate::Client`] sends or receives is logged at
//! debug level on the target `doip::frame`, and given to a [`FrameTap`] when one is set
//! ([`crate::ClientBuilder::frame_tap`]) — to write a capture, say.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::session::TransportKind;

/// The log target of the per-frame lines.
pub const LOG_TARGET: &str = "doip::frame";

/// One DoIP frame as this tester sent or received it (plaintext, also over TLS).
#[derive(Clone, Copy, Debug)]
pub struct TappedFrame<'a> {
    /// Sent by this tester (`true`) or received.
    pub sent: bool,
    /// TCP or UDP.
    pub transport: TransportKind,
    /// This tester's socket address, when known.
    pub local: Option<SocketAddr>,
    /// The entity's socket address.
    pub peer: SocketAddr,
    /// The whole frame: header and payload.
    pub bytes: &'a [u8],
}

/// A callback given every [`TappedFrame`], on the thread that moves it (the background
/// driver's, or the caller's): it should be quick.
#[derive(Clone)]
pub struct FrameTap(Arc<dyn Fn(&TappedFrame<'_>) + Send + Sync>);

impl FrameTap {
    /// Wraps `f`.
    pub fn new(f: impl Fn(&TappedFrame<'_>) + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }
}

impl fmt::Debug for FrameTap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FrameTap")
    }
}

/// Whether anything looks at frames: the tap or the debug log.
pub(crate) fn wanted(tap: Option<&FrameTap>) -> bool {
    tap.is_some() || log::log_enabled!(target: LOG_TARGET, log::Level::Debug)
}

/// Logs `frame` and hands it to the tap.
pub(crate) fn observe(tap: Option<&FrameTap>, frame: &TappedFrame<'_>) {
    if log::log_enabled!(target: LOG_TARGET, log::Level::Debug) {
        let summary = doip_proto::Frame::parse(frame.bytes)
            .map_or_else(|e| format!("unparsed ({e})"), |(f, _)| f.message.to_string());
        let (arrow, transport) = (
            if frame.sent { "->" } else { "<-" },
            if frame.transport == TransportKind::Tcp { "TCP" } else { "UDP" },
        );
        let shown = &frame.bytes[..frame.bytes.len().min(64)];
        let more = if shown.len() < frame.bytes.len() { " …" } else { "" };
        log::debug!(
            target: LOG_TARGET,
            "{arrow} {} {transport} {} bytes: {summary} [{}{more}]",
            frame.peer,
            frame.bytes.len(),
            hex(shown)
        );
    }
    if let Some(tap) = tap {
        (tap.0)(frame);
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
