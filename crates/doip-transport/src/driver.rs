//! [`LoopDriver`]: an [`EventLoop`] and a [`Handler`] run together, either inside the caller's
//! calls or also on a background thread, so that idle connections keep being served.
//!
//! Both modes run the same loop the same way. In the background mode a thread polls the loop
//! while the caller is idle and gives every event to the handler; a call takes loop and
//! handler over (the thread steps aside until the call ends), so a waiting caller is woken by
//! the socket directly, with no hand-off between threads. A call never wakes the thread: the
//! thread looks every [`LINGER`] whether the loop is free and has been for [`LINGER`], so
//! back-to-back calls find it free, and an idle loop is polled again within a few
//! milliseconds whatever the caller does (alive checks are answered at all times).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::Waker;

use crate::event_loop::{Event, EventLoop};
use crate::{Error, Result};

/// What a [`LoopDriver`] runs beside its event loop: it is given every event, and names its
/// own next deadline (e.g. a protocol session's timers).
pub trait Handler: Send + 'static {
    /// One event from the loop.
    fn on_event(&mut self, event_loop: &mut EventLoop, event: Event);

    /// When [`Handler::on_deadline`] is next due (`None`: nothing timed).
    fn deadline(&self) -> Option<Instant> {
        None
    }

    /// The deadline passed (called with the time read after polling).
    fn on_deadline(&mut self, event_loop: &mut EventLoop, now: Instant) {
        let _ = (event_loop, now);
    }
}

/// How long the thread leaves the loop alone after a call, so that back-to-back calls find it
/// free instead of waking the thread out of `poll` each time. Far below the 500 ms an entity
/// waits for an alive check response.
pub const LINGER: Duration = Duration::from_millis(2);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The loop and its handler.
struct Core<H> {
    event_loop: EventLoop,
    handler: H,
}

impl<H: Handler> Core<H> {
    /// Polls once (up to `timeout`, shortened to the handler's deadline), gives every event
    /// to the handler and fires its deadline when due. Returns how many events there were.
    fn turn(&mut self, timeout: Option<Duration>) -> Result<usize> {
        let until_deadline =
            self.handler.deadline().map(|at| at.saturating_duration_since(Instant::now()));
        let timeout = match (timeout, until_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.event_loop.poll(timeout)?;
        let mut n = 0;
        while let Some(event) = self.event_loop.next_event() {
            n += 1;
            self.handler.on_event(&mut self.event_loop, event);
        }
        let now = Instant::now();
        if self.handler.deadline().is_some_and(|at| at <= now) {
            self.handler.on_deadline(&mut self.event_loop, now);
        }
        Ok(n)
    }
}

/// What the caller and the background thread share.
struct Shared<H> {
    core: Mutex<Core<H>>,
    /// A caller wants the loop: the thread steps aside.
    wanted: AtomicBool,
    /// The thread is (about to be) inside `poll`: a caller must wake it to get the loop.
    polling: AtomicBool,
    /// When the last call handed the loop back.
    released_at: Mutex<Instant>,
    gate: Mutex<()>,
    /// Signalled on shutdown only: the thread is never woken by a call (waking a thread is a
    /// system call and a context switch per call); it looks again every [`LINGER`] instead.
    stopping: Condvar,
    stop: AtomicBool,
}

/// The loop, held by the caller for one call; handed back to the thread on drop.
struct Held<'a, H> {
    core: MutexGuard<'a, Core<H>>,
    shared: &'a Shared<H>,
}

impl<H> Drop for Held<'_, H> {
    fn drop(&mut self) {
        *lock(&self.shared.released_at) = Instant::now();
        self.shared.wanted.store(false, Ordering::SeqCst);
    }
}

struct Background<H> {
    shared: Arc<Shared<H>>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

impl<H> Background<H> {
    /// Takes the loop from the thread (interrupting its poll).
    fn take(&self) -> Result<Held<'_, H>> {
        if self.shared.stop.load(Ordering::SeqCst) {
            return Err(Error::LoopStopped);
        }
        // With `run_background`'s mirror-image order (set `polling`, then read `wanted`), at
        // least one side sees the other: the thread steps aside, or it is woken.
        self.shared.wanted.store(true, Ordering::SeqCst);
        if self.shared.polling.load(Ordering::SeqCst) {
            let _ = self.waker.wake();
        }
        Ok(Held { core: lock(&self.shared.core), shared: &self.shared })
    }
}

enum Mode<H> {
    Inline(Box<Core<H>>),
    Background(Background<H>),
}

/// A gap between two polls of a spin longer than this means the spinning thread was
/// descheduled (a poll and a yield take a few microseconds).
const PREEMPTED: Duration = Duration::from_micros(100);

/// Busy-polling that backs off when it does not pay: on a loaded machine spinning takes the
/// core the peer needs, so a spin that ends in a sleep anyway halves the next one.
#[derive(Debug, Clone, Copy)]
struct Spin {
    max: Duration,
    current: Duration,
    /// Waits that slept without spinning since the spin fell to zero; every
    /// [`Spin::PROBE_EVERY`] one probes with a spin again.
    idle: u32,
}

impl Spin {
    const PROBE_EVERY: u32 = 64;

    const fn new(max: Duration) -> Self {
        Self { max, current: max, idle: 0 }
    }

    /// How long the next wait spins.
    fn budget(&mut self) -> Duration {
        if self.current.is_zero() && !self.max.is_zero() {
            self.idle += 1;
            if self.idle >= Self::PROBE_EVERY {
                self.idle = 0;
                return self.max / 4;
            }
        }
        self.current
    }

    fn paid_off(&mut self) {
        self.current = self.current.saturating_mul(2).clamp(self.max / 4, self.max);
    }

    fn missed(&mut self) {
        self.current /= 2;
        if self.current < Duration::from_micros(2) {
            self.current = Duration::ZERO;
        }
    }
}

/// An [`EventLoop`] with a [`Handler`], driven inline or with a background thread.
///
/// ```no_run
/// use std::time::{Duration, Instant};
/// use doip_transport::{Event, EventLoop, Handler, LoopDriver};
///
/// #[derive(Default)]
/// struct Count(usize);
/// impl Handler for Count {
///     fn on_event(&mut self, _: &mut EventLoop, _: Event) {
///         self.0 += 1;
///     }
/// }
///
/// let mut driver = LoopDriver::spawn(Count::default())?; // events are handled while idle too
/// let deadline = Instant::now() + Duration::from_secs(1);
/// let seen = driver.run_until(Some(deadline), |_, count| (count.0 > 0).then_some(count.0))?;
/// println!("{seen:?}");
/// # Ok::<(), doip_transport::Error>(())
/// ```
pub struct LoopDriver<H: Handler> {
    mode: Mode<H>,
    spin: Spin,
}

impl<H: Handler> std::fmt::Debug for LoopDriver<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopDriver")
            .field("background", &matches!(self.mode, Mode::Background(_)))
            .finish_non_exhaustive()
    }
}

impl<H: Handler> LoopDriver<H> {
    /// Runs loop and handler on the caller's thread, inside each call.
    ///
    /// # Errors
    /// When the loop cannot be created.
    pub fn inline(handler: H) -> Result<Self> {
        let core = Core { event_loop: EventLoop::new()?, handler };
        Ok(Self { mode: Mode::Inline(Box::new(core)), spin: Spin::new(Duration::ZERO) })
    }

    /// Runs loop and handler on a background thread as well, so connections are served
    /// (alive checks answered, data read and handled) while the caller does something else.
    ///
    /// # Errors
    /// When the loop or the thread cannot be created.
    pub fn spawn(handler: H) -> Result<Self> {
        let event_loop = EventLoop::new()?;
        let waker = event_loop.waker();
        let shared = Arc::new(Shared {
            core: Mutex::new(Core { event_loop, handler }),
            wanted: AtomicBool::new(false),
            polling: AtomicBool::new(false),
            released_at: Mutex::new(Instant::now()),
            gate: Mutex::new(()),
            stopping: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let for_thread = shared.clone();
        let thread = std::thread::Builder::new()
            .name("doip-transport".into())
            .spawn(move || run_background(&for_thread))
            .map_err(|e| Error::io(None, e))?;
        let background = Background { shared, waker, thread: Some(thread) };
        Ok(Self { mode: Mode::Background(background), spin: Spin::new(Duration::ZERO) })
    }

    /// Low-latency mode: while a caller waits in [`LoopDriver::run_until`], the sockets are
    /// polled without sleeping for up to `spin` first (yielding the core between polls),
    /// trading CPU time for the scheduler's wake-up latency. When spinning does not pay
    /// (the answer keeps coming after the spin, as on a loaded machine) the spin shrinks
    /// to nothing and is probed again now and then. `Duration::ZERO` (the default) sleeps
    /// at once.
    pub fn set_busy_poll(&mut self, spin: Duration) {
        self.spin = Spin::new(spin);
    }

    /// Runs `f` with the loop and the handler (in background mode taking them over from the
    /// thread for its duration).
    ///
    /// # Errors
    /// [`Error::LoopStopped`] when the background thread has failed.
    pub fn call<R>(&mut self, f: impl FnOnce(&mut EventLoop, &mut H) -> R) -> Result<R> {
        match &mut self.mode {
            Mode::Inline(core) => Ok(f(&mut core.event_loop, &mut core.handler)),
            Mode::Background(bg) => {
                let mut held = bg.take()?;
                let core = &mut *held.core;
                Ok(f(&mut core.event_loop, &mut core.handler))
            }
        }
    }

    /// Runs `f` with shared access to the loop and the handler (taking them over from the
    /// thread for its duration, like [`LoopDriver::call`]).
    ///
    /// # Errors
    /// [`Error::LoopStopped`] when the background thread has failed.
    pub fn inspect<R>(&self, f: impl FnOnce(&EventLoop, &H) -> R) -> Result<R> {
        match &self.mode {
            Mode::Inline(core) => Ok(f(&core.event_loop, &core.handler)),
            Mode::Background(bg) => {
                let held = bg.take()?;
                Ok(f(&held.core.event_loop, &held.core.handler))
            }
        }
    }

    /// Runs the loop on this thread until `check` returns `Some` or `deadline` passes
    /// (`None`: no deadline). `check` runs first, then after every poll.
    ///
    /// # Errors
    /// [`Error::LoopStopped`]; the loop's poll error.
    pub fn run_until<R>(
        &mut self,
        deadline: Option<Instant>,
        mut check: impl FnMut(&mut EventLoop, &mut H) -> Option<R>,
    ) -> Result<Option<R>> {
        let mut held;
        let core: &mut Core<H> = match &mut self.mode {
            Mode::Inline(core) => core,
            Mode::Background(bg) => {
                held = bg.take()?;
                &mut held.core
            }
        };
        let spin = &mut self.spin;
        loop {
            if let Some(r) = check(&mut core.event_loop, &mut core.handler) {
                return Ok(Some(r));
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Ok(None);
            }
            let budget = spin.budget();
            if !budget.is_zero() {
                let spin_until = now.checked_add(budget).unwrap_or(now);
                let spin_until = deadline.map_or(spin_until, |d| d.min(spin_until));
                let mut last = now;
                loop {
                    if core.turn(Some(Duration::ZERO))? > 0
                        && let Some(r) = check(&mut core.event_loop, &mut core.handler)
                    {
                        spin.paid_off();
                        return Ok(Some(r));
                    }
                    std::thread::yield_now();
                    let now = Instant::now();
                    // A gap between two polls means the thread lost its core: the machine is
                    // busy, and spinning only takes time from the peer. Sleep instead.
                    if now >= spin_until || now.saturating_duration_since(last) > PREEMPTED {
                        break;
                    }
                    last = now;
                }
                spin.missed();
            }
            let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            core.turn(timeout)?;
        }
    }
}

impl<H: Handler> Drop for LoopDriver<H> {
    fn drop(&mut self) {
        if let Mode::Background(bg) = &mut self.mode {
            bg.shared.stop.store(true, Ordering::SeqCst);
            let _ = bg.waker.wake();
            {
                let _gate = lock(&bg.shared.gate);
                bg.shared.stopping.notify_all();
            }
            if let Some(thread) = bg.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

/// The background thread: turns the loop whenever no caller has held it for [`LINGER`].
fn run_background<H: Handler>(shared: &Shared<H>) {
    while !shared.stop.load(Ordering::SeqCst) {
        // A caller holds the loop (and polls it), or just handed it back and is likely to come
        // back at once: look again later.
        let idle_for = if shared.wanted.load(Ordering::SeqCst) {
            Duration::ZERO
        } else {
            lock(&shared.released_at).elapsed()
        };
        if idle_for < LINGER {
            let gate = lock(&shared.gate);
            let _unused = shared
                .stopping
                .wait_timeout_while(gate, LINGER.saturating_sub(idle_for), |()| {
                    !shared.stop.load(Ordering::SeqCst)
                })
                .unwrap_or_else(PoisonError::into_inner);
            continue;
        }
        let mut core = lock(&shared.core);
        shared.polling.store(true, Ordering::SeqCst);
        if shared.wanted.load(Ordering::SeqCst) {
            shared.polling.store(false, Ordering::SeqCst);
            continue;
        }
        let result = core.turn(None);
        shared.polling.store(false, Ordering::SeqCst);
        if let Err(e) = result {
            log::error!("event loop failed: {e}");
            shared.stop.store(true, Ordering::SeqCst);
            return;
        }
    }
}
