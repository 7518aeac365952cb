//! `--capture FILE.pcapng`: the session's DoIP frames, as the client's frame tap sees them,
//! written as Ethernet/IP/TCP (or UDP) packets Wireshark opens, with the real addresses and
//! ports and the time each frame passed.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use doip_client::{FrameTap, TappedFrame, TransportKind};
use doip_pcap::synth::{CaptureWriter, Format, TcpConnection, udp_frame};

use crate::Failure;

/// The open capture file and the TCP connections seen so far.
struct Capture {
    out: CaptureWriter<BufWriter<File>>,
    tcp: HashMap<(SocketAddr, SocketAddr), TcpConnection>,
    failed: bool,
}

/// A frame tap that writes `path` (created or truncated now).
///
/// # Errors
/// The file cannot be created.
pub(crate) fn tap(path: &Path) -> Result<FrameTap, Failure> {
    let io = |e: std::io::Error| Failure::new(Failure::IO, format!("{}: {e}", path.display()));
    let file = File::create(path).map_err(io)?;
    let out = CaptureWriter::new(BufWriter::new(file), Format::PcapNg).map_err(io)?;
    let capture = Arc::new(Mutex::new(Capture { out, tcp: HashMap::new(), failed: false }));
    let shown = path.display().to_string();
    Ok(FrameTap::new(move |frame| {
        let Ok(mut c) = capture.lock() else { return };
        if let Err(e) = c.write(frame)
            && !std::mem::replace(&mut c.failed, true)
        {
            log::warn!("capture {shown}: {e}; later frames are not written");
        }
    }))
}

/// The key log file beside a capture: `FILE.keys`.
pub(crate) fn key_log_path(capture: &Path) -> PathBuf {
    let mut name = capture.as_os_str().to_owned();
    name.push(".keys");
    PathBuf::from(name)
}

impl Capture {
    fn write(&mut self, frame: &TappedFrame<'_>) -> std::io::Result<()> {
        if self.failed {
            return Ok(());
        }
        let time = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        // The tester's port may be unknown (a UDP socket not bound yet): a placeholder of the
        // peer's address family keeps the packet readable.
        let local = frame.local.unwrap_or_else(|| placeholder(frame.peer));
        let (src, dst) = if frame.sent { (local, frame.peer) } else { (frame.peer, local) };
        match frame.transport {
            TransportKind::Udp => self.out.packet(time, &udp_frame(src, dst, frame.bytes)?)?,
            TransportKind::Tcp => {
                let conn = match self.tcp.entry((local, frame.peer)) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(v) => {
                        let mut conn = TcpConnection::new(local, frame.peer);
                        for packet in conn.open()? {
                            self.out.packet(time, &packet)?;
                        }
                        v.insert(conn)
                    }
                };
                // One IP packet holds at most ~64 KiB: long frames go in several segments.
                for chunk in frame.bytes.chunks(60_000) {
                    let packet = conn.send(frame.sent, chunk)?;
                    self.out.packet(time, &packet)?;
                }
            }
        }
        // Each frame reaches the file at once: the capture is whole whenever the tool stops.
        self.out.get_mut().flush()
    }
}

fn placeholder(peer: SocketAddr) -> SocketAddr {
    let ip = if peer.is_ipv4() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    };
    SocketAddr::new(ip, 49_152)
}
