//! A blocking face over the [`EventLoop`]: `send`, `recv(deadline)`, and an optional
//! background thread that keeps the loop running so idle connections still answer alive
//! checks.
//!
//! Both modes run the same loop the same way. Inline, calls poll it on the caller's thread.
//! In the background mode a thread polls it while the caller is idle; a call takes the loop
//! over (the thread steps aside until the call ends), so a waiting caller is woken by the
//! socket directly, with no hand-off between threads.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use doip_proto::{Frame, Message};
use mio::Waker;

use crate::event_loop::{ConnectOptions, Event, EventLoop, Handle};
use crate::{Error, Result, SendId};

/// What the caller and the background thread share.
struct Shared {
    event_loop: Mutex<EventLoop>,
    /// Events the thread took from the loop while the caller was away, oldest first.
    events: Mutex<VecDeque<Event>>,
    /// A caller wants the loop: the thread steps aside.
    wanted: AtomicBool,
    /// The thread is (about to be) inside `poll`: a caller must wake it to get the loop.
    polling: AtomicBool,
    /// When the last call handed the loop back.
    released_at: Mutex<Instant>,
    gate: Mutex<()>,
    /// Signalled when a caller hands the loop back.
    released: Condvar,
    /// Signalled on shutdown only, so a lingering thread is not woken by every call.
    stopping: Condvar,
    stop: AtomicBool,
}

/// How long the thread leaves the loop alone after a call, so that back-to-back calls find it
/// free instead of waking the thread out of `poll` each time. Far below the 500 ms an entity
/// waits for an alive check response.
const LINGER: Duration = Duration::from_millis(50);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The loop, held by the caller for one call; handed back to the thread on drop.
struct Held<'a> {
    event_loop: MutexGuard<'a, EventLoop>,
    shared: &'a Shared,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        *lock(&self.shared.released_at) = Instant::now();
        let _gate = lock(&self.shared.gate);
        self.shared.wanted.store(false, Ordering::SeqCst);
        self.shared.released.notify_all();
    }
}

struct Background {
    shared: Arc<Shared>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    /// Takes the loop from the thread (interrupting its poll).
    fn take(&self) -> Held<'_> {
        // With `run_background`'s mirror-image order (set `polling`, then read `wanted`), at
        // least one side sees the other: the thread steps aside, or it is woken.
        self.shared.wanted.store(true, Ordering::SeqCst);
        if self.shared.polling.load(Ordering::SeqCst) {
            let _ = self.waker.wake();
        }
        Held { event_loop: lock(&self.shared.event_loop), shared: &self.shared }
    }
}

enum Driver {
    Inline(Box<EventLoop>),
    Background(Background),
}

/// Polls once, busy-polling for up to `spin` first, and returns the events.
fn poll_events(
    event_loop: &mut EventLoop,
    spin_until: Instant,
    deadline: Instant,
) -> Result<Vec<Event>> {
    while event_loop.poll(Some(Duration::ZERO))? == 0 && Instant::now() < spin_until {
        std::hint::spin_loop();
    }
    if !event_loop.has_events() {
        event_loop.poll(Some(deadline.saturating_duration_since(Instant::now())))?;
    }
    Ok(std::iter::from_fn(|| event_loop.next_event()).collect())
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
    /// Inline mode: how long `recv` polls without sleeping before it blocks.
    spin: Duration,
}

impl std::fmt::Debug for Blocking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blocking")
            .field("background", &matches!(self.driver, Driver::Background(_)))
            .finish_non_exhaustive()
    }
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
        let event_loop = EventLoop::new()?;
        let waker = event_loop.waker();
        let shared = Arc::new(Shared {
            event_loop: Mutex::new(event_loop),
            events: Mutex::new(VecDeque::new()),
            wanted: AtomicBool::new(false),
            polling: AtomicBool::new(false),
            released_at: Mutex::new(Instant::now()),
            gate: Mutex::new(()),
            released: Condvar::new(),
            stopping: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let for_thread = shared.clone();
        let thread = std::thread::Builder::new()
            .name("doip-transport".into())
            .spawn(move || run_background(&for_thread))
            .map_err(|e| Error::io(None, e))?;
        Ok(Self::from_driver(Driver::Background(Background {
            shared,
            waker,
            thread: Some(thread),
        })))
    }

    fn from_driver(driver: Driver) -> Self {
        Self { driver, inboxes: HashMap::new(), unaddressed: VecDeque::new(), spin: Duration::ZERO }
    }

    /// Low-latency mode (inline driver only): `recv` busy-polls the sockets for up to `spin`
    /// before it sleeps, trading one core's time for the scheduler's wake-up latency.
    /// `Duration::ZERO` (the default) always sleeps at once.
    pub fn set_busy_poll(&mut self, spin: Duration) {
        self.spin = spin;
    }

    /// Runs `f` on the event loop and returns its result (in background mode the call takes
    /// the loop over from the thread for its duration).
    ///
    /// # Errors
    /// [`Error::LoopStopped`] when the background thread has failed.
    pub fn with_loop<R>(&mut self, f: impl FnOnce(&mut EventLoop) -> R) -> Result<R> {
        let (result, events) = match &mut self.driver {
            Driver::Inline(event_loop) => {
                let result = f(event_loop);
                (result, std::iter::from_fn(|| event_loop.next_event()).collect::<Vec<_>>())
            }
            Driver::Background(bg) => {
                if bg.shared.stop.load(Ordering::SeqCst) {
                    return Err(Error::LoopStopped);
                }
                let mut held = bg.take();
                let result = f(&mut held.event_loop);
                let mut events: Vec<Event> = lock(&bg.shared.events).drain(..).collect();
                events.extend(std::iter::from_fn(|| held.event_loop.next_event()));
                (result, events)
            }
        };
        for event in events {
            self.file(event);
        }
        Ok(result)
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
        self.with_loop(|l| l.send(handle, message))?
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
            let spin_until = now + self.spin.min(deadline - now);
            let arrived = match &mut self.driver {
                Driver::Inline(event_loop) => poll_events(event_loop, spin_until, deadline)?,
                Driver::Background(bg) => {
                    if bg.shared.stop.load(Ordering::SeqCst) {
                        return Err(Error::LoopStopped);
                    }
                    let mut held = bg.take();
                    let mut events: Vec<Event> = lock(&bg.shared.events).drain(..).collect();
                    // Events the thread already read may be the awaited one: do not sleep on them.
                    let until = if events.is_empty() { deadline } else { Instant::now() };
                    events.extend(poll_events(&mut held.event_loop, spin_until.min(until), until)?);
                    events
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
            bg.shared.stop.store(true, Ordering::SeqCst);
            let _ = bg.waker.wake();
            {
                let _gate = lock(&bg.shared.gate);
                bg.shared.released.notify_all();
                bg.shared.stopping.notify_all();
            }
            if let Some(thread) = bg.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

/// The background thread: polls the loop whenever no caller has held it for [`LINGER`].
fn run_background(shared: &Shared) {
    while !shared.stop.load(Ordering::SeqCst) {
        if shared.wanted.load(Ordering::SeqCst) {
            // A caller holds the loop: sleep until it hands the loop back.
            let gate = lock(&shared.gate);
            let _unused = shared
                .released
                .wait_while(gate, |()| {
                    shared.wanted.load(Ordering::SeqCst) && !shared.stop.load(Ordering::SeqCst)
                })
                .unwrap_or_else(PoisonError::into_inner);
            continue;
        }
        let idle_for = lock(&shared.released_at).elapsed();
        if idle_for < LINGER {
            // Leave the loop to a caller that is likely to come back at once.
            let gate = lock(&shared.gate);
            let _unused = shared
                .stopping
                .wait_timeout_while(gate, LINGER.saturating_sub(idle_for), |()| {
                    !shared.stop.load(Ordering::SeqCst)
                })
                .unwrap_or_else(PoisonError::into_inner);
            continue;
        }
        let mut event_loop = lock(&shared.event_loop);
        shared.polling.store(true, Ordering::SeqCst);
        if shared.wanted.load(Ordering::SeqCst) {
            shared.polling.store(false, Ordering::SeqCst);
            continue;
        }
        let result = event_loop.poll(None);
        shared.polling.store(false, Ordering::SeqCst);
        if let Err(e) = result {
            log::error!("event loop failed: {e}");
            shared.stop.store(true, Ordering::SeqCst);
            return;
        }
        lock(&shared.events).extend(std::iter::from_fn(|| event_loop.next_event()));
    }
}
