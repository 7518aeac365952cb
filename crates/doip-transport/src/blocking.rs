//! [`Blocking`]: the blocking face of the transport — `send`, and `recv(deadline)` per
//! endpoint — on a [`LoopDriver`] whose handler files events per endpoint ([`Inboxes`]).
//!
//! The inboxes are bounded: a TCP connection whose inbox is full stops being read (TCP
//! back-pressure) until the caller takes events again; a full UDP inbox drops its oldest
//! datagram (UDP promises nothing), counted in [`Inboxes::dropped`].

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use doip_proto::{Frame, Message};

use crate::driver::{Handler, LoopDriver};
use crate::event_loop::{ConnectOptions, Event, EventLoop, Handle};
use crate::{Error, Result, SendId};

/// Events kept per endpoint before its reading pauses (TCP) or its oldest is dropped (UDP).
pub const INBOX_LIMIT: usize = 1024;

/// A [`Handler`] that files every event under its endpoint, bounded by [`INBOX_LIMIT`].
#[derive(Debug, Default)]
pub struct Inboxes {
    by_handle: HashMap<Handle, VecDeque<Event>>,
    unaddressed: VecDeque<Event>,
    paused: Vec<Handle>,
    dropped: u64,
}

impl Inboxes {
    /// Datagrams dropped because their endpoint's inbox was full.
    #[must_use]
    pub const fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The oldest event of `handle`; resumes reading it once its inbox has room again.
    pub fn pop(&mut self, event_loop: &mut EventLoop, handle: Handle) -> Option<Event> {
        let inbox = self.by_handle.get_mut(&handle)?;
        let event = inbox.pop_front();
        if inbox.len() < INBOX_LIMIT / 2 && self.paused.contains(&handle) {
            self.paused.retain(|h| *h != handle);
            if let Err(e) = event_loop.pause_reading(handle, false) {
                log::debug!("{handle} could not resume reading: {e}");
            }
        }
        event
    }
}

impl Handler for Inboxes {
    fn on_event(&mut self, event_loop: &mut EventLoop, event: Event) {
        let Some(handle) = event.handle() else {
            self.unaddressed.push_back(event);
            return;
        };
        let gone = matches!(event, Event::Disconnected { reconnecting: false, .. });
        let inbox = self.by_handle.entry(handle).or_default();
        inbox.push_back(event);
        if inbox.len() < INBOX_LIMIT || gone {
            return;
        }
        if self.paused.contains(&handle) {
            return;
        }
        match event_loop.pause_reading(handle, true) {
            Ok(()) => self.paused.push(handle),
            // A UDP endpoint: nothing to push back on, so the oldest datagram goes.
            Err(_) => {
                if let Some(i) = inbox.iter().position(|e| matches!(e, Event::Datagram { .. })) {
                    inbox.remove(i);
                    self.dropped += 1;
                    log::debug!("{handle} inbox full; dropped the oldest datagram");
                }
            }
        }
    }
}

/// Blocking access to DoIP endpoints, inline or with a background loop thread.
///
/// ```no_run
/// use std::time::{Duration, Instant};
/// use doip_proto::{LogicalAddress, Message, RoutingActivationRequest};
/// use doip_transport::{Blocking, ConnectOptions};
///
/// let mut transport = Blocking::spawn()?; // idle connections keep answering alive checks
/// let ecu = transport.connect("192.0.2.10:13400".parse().unwrap(), ConnectOptions::default())?;
/// transport.send(ecu, &RoutingActivationRequest::new(LogicalAddress(0x0E00)).into())?;
/// let answer = transport.recv_frame(ecu, Instant::now() + Duration::from_secs(2))?;
/// println!("{}", answer.message);
/// # Ok::<(), doip_transport::Error>(())
/// ```
#[derive(Debug)]
pub struct Blocking {
    driver: LoopDriver<Inboxes>,
}

impl Blocking {
    /// Runs the loop on the caller's thread, inside each blocking call.
    ///
    /// # Errors
    /// When the loop cannot be created.
    pub fn new() -> Result<Self> {
        Ok(Self { driver: LoopDriver::inline(Inboxes::default())? })
    }

    /// Runs the loop on a background thread, so connections are served (alive checks
    /// answered, data read) even while the caller does something else.
    ///
    /// # Errors
    /// When the loop or the thread cannot be created.
    pub fn spawn() -> Result<Self> {
        Ok(Self { driver: LoopDriver::spawn(Inboxes::default())? })
    }

    /// Low-latency mode: see [`LoopDriver::set_busy_poll`].
    pub fn set_busy_poll(&mut self, spin: Duration) {
        self.driver.set_busy_poll(spin);
    }

    /// Runs `f` on the event loop and returns its result (in background mode the call takes
    /// the loop over from the thread for its duration).
    ///
    /// # Errors
    /// [`Error::LoopStopped`] when the background thread has failed.
    pub fn call<R>(&mut self, f: impl FnOnce(&mut EventLoop) -> R) -> Result<R> {
        self.driver.call(|event_loop, _| f(event_loop))
    }

    /// Dials `peer` and waits until the connection is up (or failed) within the options'
    /// connect timeout.
    ///
    /// # Errors
    /// The connect error: refused, timeout, TLS failure, I/O.
    pub fn connect(&mut self, peer: SocketAddr, options: ConnectOptions) -> Result<Handle> {
        let deadline = Instant::now()
            .checked_add(options.connect_timeout)
            .and_then(|d| d.checked_add(Duration::from_millis(100)));
        let handle = self.call(move |l| l.connect(peer, options))??;
        let outcome = self.driver.run_until(deadline, |_, inboxes| {
            let inbox = inboxes.by_handle.get_mut(&handle)?;
            let i = inbox
                .iter()
                .position(|e| matches!(e, Event::Connected { .. } | Event::Disconnected { .. }))?;
            // Anything before it stays queued, in order, for later `recv` calls.
            match inbox.remove(i) {
                Some(Event::Disconnected { error, .. }) => Some(Err(error)),
                _ => Some(Ok(handle)),
            }
        })?;
        outcome.unwrap_or_else(|| {
            self.call(move |l| l.close(handle))?;
            let after = Duration::from_millis(100);
            Err(Error::Timeout { peer, what: "connection", after })
        })
    }

    /// Queues `message` on a TCP connection (written at once when possible).
    ///
    /// # Errors
    /// As [`EventLoop::send`].
    pub fn send(&mut self, handle: Handle, message: &Message<'_>) -> Result<SendId> {
        self.call(|l| l.send(handle, message))?
    }

    /// Sends the messages held across a reconnect.
    ///
    /// # Errors
    /// As [`EventLoop::resume`].
    pub fn resume(&mut self, handle: Handle) -> Result<()> {
        self.call(move |l| l.resume(handle))?
    }

    /// Closes an endpoint (see [`EventLoop::close`]).
    ///
    /// # Errors
    /// [`Error::LoopStopped`] when the background thread is gone.
    pub fn close(&mut self, handle: Handle) -> Result<()> {
        self.driver.call(move |l, inboxes| {
            l.close(handle);
            inboxes.by_handle.remove(&handle);
            inboxes.paused.retain(|h| *h != handle);
        })
    }

    /// Events that concern no endpoint (timers set without a handle), oldest first.
    ///
    /// # Errors
    /// [`Error::LoopStopped`] when the background thread is gone.
    pub fn take_unaddressed(&mut self) -> Result<Vec<Event>> {
        self.driver.call(|_, inboxes| inboxes.unaddressed.drain(..).collect())
    }

    /// The next event for `handle`, waiting until `deadline`. Events for other endpoints
    /// are kept for their own `recv` calls.
    ///
    /// # Errors
    /// [`Error::Timeout`] at the deadline; [`Error::LoopStopped`]; the loop's poll error.
    pub fn recv(&mut self, handle: Handle, deadline: Instant) -> Result<Event> {
        let started = Instant::now();
        let event = self.driver.run_until(Some(deadline), |l, inboxes| inboxes.pop(l, handle))?;
        if let Some(event) = event {
            return Ok(event);
        }
        let after = deadline.saturating_duration_since(started);
        // A UDP endpoint has no peer: name its own address instead.
        match self.call(move |l| l.peer_addr(handle).or_else(|_| l.local_addr(handle)))? {
            Ok(peer) => Err(Error::Timeout { peer, what: "a DoIP message", after }),
            Err(e) => Err(e),
        }
    }

    /// The next DoIP message on `handle`, waiting until `deadline`. Alive checks answered in
    /// the meantime are skipped; a disconnect, a received NACK or a refused header becomes
    /// the error.
    ///
    /// # Errors
    /// Timeout, the disconnect's error, [`Error::Nack`], [`Error::Protocol`],
    /// [`Error::NotConnected`] while reconnecting.
    pub fn recv_frame(&mut self, handle: Handle, deadline: Instant) -> Result<Frame<'static>> {
        loop {
            match self.recv(handle, deadline)? {
                Event::Message { frame, .. } | Event::Datagram { frame, .. } => return Ok(frame),
                Event::Disconnected { error, .. } => return Err(error),
                Event::NackReceived { code, .. } => {
                    let peer = self.call(move |l| l.peer_addr(handle))??;
                    return Err(Error::Nack { peer, code });
                }
                Event::Refused { from, error, .. } => {
                    return Err(Error::Protocol { peer: from, source: error });
                }
                Event::Reconnected { .. } => {
                    let peer = self.call(move |l| l.peer_addr(handle))??;
                    return Err(Error::NotConnected { peer });
                }
                _ => {}
            }
        }
    }
}
