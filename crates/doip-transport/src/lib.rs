//! DoIP (ISO 13400-2) sockets on a `mio` event loop, for both roles.
//!
//! One [`EventLoop`] owns any number of endpoints — dialed TCP connections (tester), TCP
//! listeners and their accepted connections (entity), TLS over either (rustls), and UDP
//! sockets (unicast, broadcast, IPv6 multicast) — and honours every timer on one thread.
//! The spec duties that need no caller are done here: a tester connection answers alive
//! check requests the moment they arrive, and a bad header from a peer is answered with the
//! generic NACK the spec names (closing where it says close).
//!
//! Three ways to drive it, one implementation:
//! - non-blocking: call [`EventLoop::poll`] and drain [`EventLoop::next_event`];
//! - with a [`Handler`] of your own (e.g. a protocol session) on a [`LoopDriver`], which runs
//!   loop and handler inside your calls or also on a background thread
//!   ([`LoopDriver::spawn`]) so idle connections stay alive;
//! - blocking per endpoint: [`Blocking`] with `send` / `recv(deadline)`, a [`LoopDriver`]
//!   whose handler files events per endpoint ([`Inboxes`]).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use doip_proto::{DiagnosticMessage, LogicalAddress, Message};
//! use doip_transport::{ConnectOptions, Event, EventLoop, ListenOptions};
//!
//! let mut lp = EventLoop::new()?;
//! // An entity listening on loopback, and a tester connecting to it, on one loop.
//! let listener = lp.listen("127.0.0.1:0".parse().unwrap(), ListenOptions::default())?;
//! let addr = lp.local_addr(listener)?;
//! let tester = lp.connect(addr, ConnectOptions::default())?;
//! let request = DiagnosticMessage::new(LogicalAddress(0x0E00), LogicalAddress(0x4010), &[0x3E, 0x00][..]);
//! lp.send(tester, &request.into())?; // held until the connection is up
//!
//! let deadline = Instant::now() + Duration::from_secs(5);
//! let received = loop {
//!     assert!(Instant::now() < deadline, "timed out");
//!     lp.poll(Some(Duration::from_millis(100)))?;
//!     if let Some(Event::Message { frame, .. }) = std::iter::from_fn(|| lp.next_event())
//!         .find(|e| matches!(e, Event::Message { .. }))
//!     {
//!         break frame;
//!     }
//! };
//! assert!(matches!(received.message, Message::DiagnosticMessage(_)));
//! # Ok::<(), doip_transport::Error>(())
//! ```

#![forbid(unsafe_code)]

mod blocking;
mod connection;
mod driver;
mod error;
mod event_loop;
pub mod timing;
pub mod tls;
mod udp;

pub use blocking::{Blocking, INBOX_LIMIT, Inboxes};
pub use connection::{Connection, ConnectionEvent, Outgoing, Role, SendId};
pub use driver::{Handler, LINGER, LoopDriver};
pub use error::{Error, Result};
pub use event_loop::{
    ConnectOptions, Event, EventLoop, Handle, ListenOptions, ReconnectPolicy, TlsClient,
};
pub use udp::{ALL_NODES_V6, DISCOVERY_PORT, UdpOptions};

/// The crates doip-transport exposes in its API, re-exported so callers use the same versions.
pub use {doip_proto, mio, rustls};
