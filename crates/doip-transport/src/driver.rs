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

/// Busy-polling that is used only while it pays. Whether spinning beats sleeping depends on
/// the machine: idle, it saves the wake-up latency (on virtual machines tens of
/// microseconds); busy, the spinning thread takes the core the peer (or the entity
/// simulated beside it) needs, and sleeping is faster. So both are measured: the mean wait of
/// each mode is kept (exponentially weighted over some 32 waits: the long waits a
/// preemption causes are part of a mode's cost), the faster one is used, and the other is
/// tried now and then to notice when the machine changes; and where the OS says more
/// threads are runnable than there are cores, it does not spin at all. The other mode is
/// tried every [`Spin::EXPLORE_EVERY`]
/// waits, times how much slower it was (a slow mode is costly to try), up to
/// [`Spin::EXPLORE_AT_MOST_EVERY`].
#[derive(Debug, Clone, Copy)]
struct Spin {
    max: Duration,
    /// Mean wait (ns) while spinning, and while sleeping, once measured.
    spinning: Option<f64>,
    sleeping: Option<f64>,
    waits: u32,
    /// When the last wait ended: back-to-back calls are measured from there, since the cost
    /// of spinning also shows outside the wait (the spinner, having used its share of the
    /// core, is preempted later, anywhere).
    last_done: Option<Instant>,
    /// Whether more threads are runnable than the machine has cores, as last read, and when.
    busy: Option<(Instant, bool)>,
    cores: usize,
}

impl Spin {
    const EXPLORE_EVERY: u32 = 64;
    const EXPLORE_AT_MOST_EVERY: u32 = 4096;
    /// Weight of a new measurement in the mean.
    const WEIGHT: f64 = 1.0 / 32.0;
    /// Calls closer together than this are measured from the end of the previous wait.
    const CYCLE: Duration = Duration::from_millis(10);

    const fn new(max: Duration) -> Self {
        Self {
            max,
            spinning: None,
            sleeping: None,
            waits: 0,
            last_done: None,
            busy: None,
            cores: 0,
        }
    }

    /// How often the machine's load is read.
    const LOAD_EVERY: Duration = Duration::from_millis(20);

    /// Whether more threads want to run than there are cores, not counting the spinner
    /// itself (Linux: `procs_running` in `/proc/stat`, read at most every
    /// [`Spin::LOAD_EVERY`]): then a spinning thread only takes a core from one that has
    /// work, and the wait sleeps whatever was measured.
    fn machine_busy(&mut self) -> bool {
        let now = Instant::now();
        if let Some((at, busy)) = self.busy
            && now.saturating_duration_since(at) < Self::LOAD_EVERY
        {
            return busy;
        }
        if self.cores == 0 {
            self.cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        }
        let running = std::fs::read_to_string("/proc/stat").ok().and_then(|stat| {
            stat.lines()
                .find_map(|l| l.strip_prefix("procs_running "))
                .and_then(|n| n.trim().parse::<usize>().ok())
        });
        let busy = running.is_some_and(|n| n > self.cores + 1);
        self.busy = Some((now, busy));
        busy
    }

    /// Whether the next wait spins.
    fn spin_next(&mut self) -> bool {
        if self.max.is_zero() || self.machine_busy() {
            return false;
        }
        let (Some(spin), Some(sleep)) = (self.spinning, self.sleeping) else {
            return self.spinning.is_none();
        };
        self.waits = self.waits.saturating_add(1);
        let ratio = spin.max(sleep) / spin.min(sleep).max(1.0);
        let every =
            (f64::from(Self::EXPLORE_EVERY) * ratio).min(f64::from(Self::EXPLORE_AT_MOST_EVERY));
        let explore = f64::from(self.waits) >= every;
        if explore {
            self.waits = 0;
        }
        (spin <= sleep) != explore
    }

    /// A wait in mode `spun` that started at `started` has just ended.
    fn record(&mut self, spun: bool, started: Instant) {
        if self.max.is_zero() {
            return;
        }
        let now = Instant::now();
        let back_to_back =
            self.last_done.filter(|done| started.saturating_duration_since(*done) < Self::CYCLE);
        self.last_done = Some(now);
        let ns = now.saturating_duration_since(back_to_back.unwrap_or(started)).as_secs_f64() * 1e9;
        let mean = if spun { &mut self.spinning } else { &mut self.sleeping };
        // One very long wait (a preemption) moves the mean by at most a few steps.
        *mean = Some(mean.map_or(ns, |m| m + (ns.min(4.0 * m) - m) * Self::WEIGHT));
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
    /// polled without sleeping for up to `spin` first, trading CPU time for the scheduler's
    /// wake-up latency — but only while waits are measured to be faster spinning than
    /// sleeping on this machine now (on a loaded machine spinning takes the core the peer
    /// needs, and sleeping wins; the slower mode is retried every 64th wait).
    /// `Duration::ZERO` (the default) sleeps at once.
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
        let started = Instant::now();
        let spun = self.spin.spin_next();
        let spin_until = if spun { started.checked_add(self.spin.max) } else { None };
        let result = Self::wait(core, deadline, spin_until, &mut check);
        if matches!(result, Ok(Some(_))) {
            self.spin.record(spun, started);
        }
        result
    }

    /// Turns the loop until `check` says done or `deadline` passes, without sleeping until
    /// `spin_until`.
    fn wait<R>(
        core: &mut Core<H>,
        deadline: Option<Instant>,
        spin_until: Option<Instant>,
        check: &mut impl FnMut(&mut EventLoop, &mut H) -> Option<R>,
    ) -> Result<Option<R>> {
        loop {
            if let Some(r) = check(&mut core.event_loop, &mut core.handler) {
                return Ok(Some(r));
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Ok(None);
            }
            if spin_until.is_some_and(|until| now < until) {
                core.turn(Some(Duration::ZERO))?;
                std::hint::spin_loop();
            } else {
                core.turn(deadline.map(|d| d.saturating_duration_since(now)))?;
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A spin whose load reading says "not busy" for the next while.
    fn quiet(max: Duration) -> Spin {
        let mut spin = Spin::new(max);
        spin.busy = Some((Instant::now(), false));
        spin
    }

    #[test]
    fn the_faster_mode_is_used_and_the_slower_one_tried_rarely() {
        let mut spin = quiet(Duration::from_millis(1));
        assert!(spin.spin_next(), "spinning is measured first");
        spin.spinning = Some(30_000.0);
        assert!(!spin.spin_next(), "then sleeping");
        spin.sleeping = Some(90_000.0);
        let spins = (0..1000).filter(|_| spin.spin_next()).count();
        // Sleeping is 3x slower: tried once every 192 waits.
        assert!((990..1000).contains(&spins), "{spins}");
        // On a loaded machine the sleeper wins.
        spin.spinning = Some(900_000.0);
        spin.sleeping = Some(15_000.0);
        let spins = (0..4096).filter(|_| spin.spin_next()).count();
        assert!(spins <= 2, "{spins}");
    }

    #[test]
    fn a_busy_machine_never_spins_and_zero_never_spins() {
        let mut spin = Spin::new(Duration::from_millis(1));
        spin.busy = Some((Instant::now(), true));
        spin.spinning = Some(1.0);
        spin.sleeping = Some(1e9);
        assert!(!spin.spin_next());
        assert!(!quiet(Duration::ZERO).spin_next());
    }

    #[test]
    fn one_long_wait_moves_the_mean_a_little() {
        let mut spin = quiet(Duration::from_millis(1));
        let start = Instant::now();
        spin.record(true, start);
        let first = spin.spinning.unwrap_or_default();
        spin.spinning = Some(10_000.0);
        spin.last_done = None;
        spin.record(true, start.checked_sub(Duration::from_secs(1)).unwrap_or(start));
        let after = spin.spinning.unwrap_or_default();
        assert!(first >= 0.0 && after < 11_000.0, "{after}");
    }
}
