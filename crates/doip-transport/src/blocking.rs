//! A blocking face over the [`EventLoop`]: `send`, `recv(deadline)`, and an optional
//! background thread that keeps the loop running so idle connections still answer alive
//! checks.
//!
//! Both modes run the same loop: inline, `recv` polls it on the caller's thread; in the
//! background, a thread polls it and hands events over, and every call is a closure run on
//! that thread.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use doip_proto::{Frame, Message};
use mio::Waker;

use crate::event_loop::{ConnectOptions, Event, EventLoop, Handle};
use crate::{Error, Result, SendId};

type Task = Box<dyn FnOnce(&mut EventLoop) + Send>;

#[derive(Default)]
struct Shared {
    tasks: VecDeque<Task>,
    events: VecDeque<Event>,
    stop: bool,
    stopped: bool,
}

struct Background {
    shared: Arc<(Mutex<Shared>, Condvar)>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

enum Driver {
    Inline(Box<EventLoop>),
    Background(Background),
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
pub struct Blocking {
    driver: Driver,
    inboxes: HashMap<Handle, VecDeque<Event>>,
    unaddressed: VecDeque<Event>,
}

impl std::fmt::Debug for Blocking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blocking")
            .field("background", &matches!(self.driver, Driver::Background(_)))
            .finish_non_exhaustive()
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Blocking {
    /// Runs the loop on the caller's thread, inside each blocking call.
    ///
    /// # Errors
    /// When the loop cannot be created.
    pub fn new() -> Result<Self> {
        Ok(Self::from_driver(Driver::Inline(Box::new(EventLoop::new()?))))
    }

    /// Runs the loop on a background thread, so connections are served (alive checks
    /// answered, data read) even while the caller does something else.
    ///
    /// # Errors
    /// When the loop or the thread cannot be created.
    pub fn spawn() -> Result<Self> {
        let mut event_loop = EventLoop::new()?;
        let waker = event_loop.waker();
        let shared = Arc::new((Mutex::new(Shared::default()), Condvar::new()));
        let for_thread = shared.clone();
        let thread = std::thread::Builder::new()
            .name("doip-transport".into())
            .spawn(move || run_background(&mut event_loop, &for_thread))
            .map_err(|e| Error::io(None, e))?;
        Ok(Self::from_driver(Driver::Background(Background {
            shared,
            waker,
            thread: Some(thread),
        })))
    }

    fn from_driver(driver: Driver) -> Self {
        Self { driver, inboxes: HashMap::new(), unaddressed: VecDeque::new() }
    }

    /// Runs `f` on the event loop (on its thread in background mode) and returns its result.
    ///
    /// # Errors
    /// [`Error::LoopStopped`] when the background thread is gone.
    pub fn with_loop<R: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut EventLoop) -> R + Send + 'static,
    ) -> Result<R> {
        match &mut self.driver {
            Driver::Inline(event_loop) => Ok(f(event_loop)),
            Driver::Background(bg) => {
                let (tx, rx) = mpsc::sync_channel(1);
                {
                    let mut shared = lock(&bg.shared.0);
                    if shared.stopped {
                        return Err(Error::LoopStopped);
                    }
                    shared.tasks.push_back(Box::new(move |l: &mut EventLoop| {
                        let _ = tx.send(f(l));
                    }));
                }
                bg.waker.wake().map_err(|e| Error::io(None, e))?;
                rx.recv().map_err(|_| Error::LoopStopped)
            }
        }
    }

    /// Dials `peer` and waits until the connection is up (or failed) within the options'
    /// connect timeout.
    ///
    /// # Errors
    /// The connect error: refused, timeout, TLS failure, I/O.
    pub fn connect(&mut self, peer: SocketAddr, options: ConnectOptions) -> Result<Handle> {
        let deadline = Instant::now() + options.connect_timeout + Duration::from_millis(100);
        let handle = self.with_loop(move |l| l.connect(peer, options))??;
        let mut early = Vec::new();
        let result = loop {
            match self.recv(handle, deadline) {
                Ok(Event::Connected { .. }) => break Ok(handle),
                Ok(Event::Disconnected { error, .. }) => break Err(error),
                Ok(other) => early.push(other),
                Err(e) => {
                    self.with_loop(move |l| l.close(handle))?;
                    break Err(e);
                }
            }
        };
        // Anything else that came first stays queued, in order, for later `recv` calls.
        for event in early.into_iter().rev() {
            self.unread(handle, event);
        }
        result
    }

    /// Queues `message` on a TCP connection (written at once when possible).
    ///
    /// # Errors
    /// As [`EventLoop::send`].
    pub fn send(&mut self, handle: Handle, message: &Message<'_>) -> Result<SendId> {
        match &mut self.driver {
            Driver::Inline(event_loop) => event_loop.send(handle, message),
            Driver::Background(_) => {
                let message = message.clone().into_owned();
                self.with_loop(move |l| l.send(handle, &message))?
            }
        }
    }

    /// Sends the messages held across a reconnect.
    ///
    /// # Errors
    /// As [`EventLoop::resume`].
    pub fn resume(&mut self, handle: Handle) -> Result<()> {
        self.with_loop(move |l| l.resume(handle))?
    }

    /// Closes an endpoint (see [`EventLoop::close`]).
    ///
    /// # Errors
    /// [`Error::LoopStopped`] when the background thread is gone.
    pub fn close(&mut self, handle: Handle) -> Result<()> {
        self.with_loop(move |l| l.close(handle))?;
        self.inboxes.remove(&handle);
        Ok(())
    }

    fn inbox(&mut self, handle: Handle) -> &mut VecDeque<Event> {
        self.inboxes.entry(handle).or_default()
    }

    fn file(&mut self, event: Event) {
        match event.handle() {
            Some(h) => self.inbox(h).push_back(event),
            None => self.unaddressed.push_back(event),
        }
    }

    /// Events that concern no endpoint (timers set without a handle), oldest first.
    pub fn take_unaddressed(&mut self) -> impl Iterator<Item = Event> + '_ {
        self.unaddressed.drain(..)
    }

    /// The next event for `handle`, waiting until `deadline`. Events for other endpoints
    /// are kept for their own `recv` calls.
    ///
    /// # Errors
    /// [`Error::Timeout`] at the deadline; [`Error::LoopStopped`]; the loop's poll error.
    pub fn recv(&mut self, handle: Handle, deadline: Instant) -> Result<Event> {
        loop {
            if let Some(event) = self.inboxes.get_mut(&handle).and_then(VecDeque::pop_front) {
                return Ok(event);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(self.timeout(handle, deadline, now));
            }
            let arrived: Vec<Event> = match &mut self.driver {
                Driver::Inline(event_loop) => {
                    event_loop.poll(Some(deadline - now))?;
                    std::iter::from_fn(|| event_loop.next_event()).collect()
                }
                Driver::Background(bg) => {
                    let (mutex, ready) = &*bg.shared;
                    let mut shared = lock(mutex);
                    while shared.events.is_empty() && !shared.stopped {
                        let now = Instant::now();
                        if now >= deadline {
                            break;
                        }
                        shared = ready
                            .wait_timeout(shared, deadline - now)
                            .unwrap_or_else(PoisonError::into_inner)
                            .0;
                    }
                    if shared.stopped && shared.events.is_empty() {
                        return Err(Error::LoopStopped);
                    }
                    shared.events.drain(..).collect()
                }
            };
            for event in arrived {
                self.file(event);
            }
        }
    }

    fn timeout(&mut self, handle: Handle, deadline: Instant, now: Instant) -> Error {
        let after = now.saturating_duration_since(deadline);
        // A UDP endpoint has no peer: name its own address instead.
        match self.with_loop(move |l| l.peer_addr(handle).or_else(|_| l.local_addr(handle))) {
            Ok(Ok(peer)) => Error::Timeout { peer, what: "a DoIP message", after },
            Ok(Err(e)) | Err(e) => e,
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
                    let peer = self.with_loop(move |l| l.peer_addr(handle))??;
                    return Err(Error::Nack { peer, code });
                }
                Event::Refused { from, error, .. } => {
                    return Err(Error::Protocol { peer: from, source: error });
                }
                Event::Reconnected { .. } => {
                    let peer = self.with_loop(move |l| l.peer_addr(handle))??;
                    return Err(Error::NotConnected { peer });
                }
                _ => {}
            }
        }
    }

    /// Puts an event back at the front of `handle`'s queue (for callers that looked ahead).
    pub fn unread(&mut self, handle: Handle, event: Event) {
        self.inbox(handle).push_front(event);
    }
}

impl Drop for Blocking {
    fn drop(&mut self) {
        if let Driver::Background(bg) = &mut self.driver {
            lock(&bg.shared.0).stop = true;
            let _ = bg.waker.wake();
            if let Some(thread) = bg.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

fn run_background(event_loop: &mut EventLoop, shared: &(Mutex<Shared>, Condvar)) {
    let (mutex, ready) = shared;
    loop {
        let tasks: Vec<Task> = {
            let mut s = lock(mutex);
            if s.stop {
                break;
            }
            s.tasks.drain(..).collect()
        };
        for task in tasks {
            task(event_loop);
        }
        let result = if event_loop.has_events() { Ok(0) } else { event_loop.poll(None) };
        let mut s = lock(mutex);
        s.events.extend(std::iter::from_fn(|| event_loop.next_event()));
        if let Err(e) = result {
            log::error!("event loop failed: {e}");
            s.stopped = true;
            ready.notify_all();
            break;
        }
        if !s.events.is_empty() {
            ready.notify_all();
        }
    }
    lock(mutex).stopped = true;
    ready.notify_all();
}
