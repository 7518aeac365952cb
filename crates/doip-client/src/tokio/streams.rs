//! Async streams: unsolicited frames of a [`Client`], vehicle announcements, and discovery.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{Shared, wait_unsolicited};
use crate::discovery::{AnnouncementListener, Discovery, Entity};
use crate::session::Unsolicited;
use crate::{Error, Result};

/// Every frame of one connection that answered no request (periodic data, late or stale
/// answers), oldest first: [`Client::unsolicited`](super::Client::unsolicited). It does not
/// keep the connection open: once every [`Client`](super::Client) handle is dropped (or one is closed), the stream yields what was
/// left, then `None`.
pub struct UnsolicitedStream {
    shared: Arc<Shared>,
    peer: SocketAddr,
}

impl std::fmt::Debug for UnsolicitedStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnsolicitedStream").field("peer", &self.peer).finish_non_exhaustive()
    }
}

impl UnsolicitedStream {
    pub(super) const fn new(shared: Arc<Shared>, peer: SocketAddr) -> Self {
        Self { shared, peer }
    }

    /// The next one; `None` once the client is closed. Several streams (or
    /// [`Client::receive_diagnostic`](super::Client::receive_diagnostic) callers) take frames from the same queue.
    pub async fn next(&mut self) -> Option<Unsolicited> {
        let what = "an unsolicited frame";
        wait_unsolicited(&self.shared, self.peer, Duration::MAX, what, |_| true).await.ok()
    }
}

/// Vehicle announcements arriving on a UDP port: [`announcements`].
#[derive(Debug)]
pub struct Announcements {
    rx: mpsc::Receiver<Entity>,
    port: u16,
}

/// Listens for vehicle announcements on `udp_port` (13400 for real vehicles; 0 picks a
/// free one), IPv4 broadcast or, with `ipv6`, `FF02::1` joined on `interface`. The socket is
/// read on a blocking thread of the runtime until the stream is dropped.
///
/// # Errors
/// [`Error::UnknownInterface`]; socket errors.
pub fn announcements(udp_port: u16, ipv6: bool, interface: Option<&str>) -> Result<Announcements> {
    let mut listener = AnnouncementListener::bind_on(udp_port, ipv6, interface)?;
    let port = listener.port();
    let (tx, rx) = mpsc::channel(64);
    tokio::task::spawn_blocking(move || {
        while !tx.is_closed() {
            match listener.next(Duration::from_millis(100)) {
                Ok(entity) => {
                    if tx.blocking_send(entity).is_err() {
                        return;
                    }
                }
                Err(Error::Timeout { .. }) => {}
                Err(e) => {
                    log::warn!("announcements on UDP {port}: {e}");
                    return;
                }
            }
        }
    });
    Ok(Announcements { rx, port })
}

impl Announcements {
    /// The next announcement; `None` when the socket failed.
    pub async fn next(&mut self) -> Option<Entity> {
        self.rx.recv().await
    }

    /// The port listened on.
    #[must_use]
    pub const fn port(&self) -> u16 {
        self.port
    }
}

impl Discovery {
    /// [`Discovery::run`] without blocking the runtime: every entity that answered within
    /// the timeout (on a blocking thread of the runtime).
    ///
    /// # Errors
    /// As [`Discovery::run`].
    pub async fn run_async(&self) -> Result<Vec<Entity>> {
        let discovery = self.clone();
        match tokio::task::spawn_blocking(move || discovery.run()).await {
            Ok(found) => found,
            Err(e) => Err(Error::Transport(doip_transport::Error::Io {
                peer: None,
                source: std::io::Error::other(format!("discovery task failed: {e}")),
            })),
        }
    }
}
