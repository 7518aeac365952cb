//! Deadlines from a passed-in `now`, with checked arithmetic: any `Duration` — `Duration::MAX`
//! included, the natural port of doipclient's `timeout=None` — means "that long or forever".

use std::time::{Duration, Instant};

/// A point in time, or never.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Deadline(Option<Instant>);

impl Deadline {
    /// The deadline that never passes.
    pub(crate) const NEVER: Self = Self(None);

    /// `now + wait`, or never when that is beyond what `Instant` can hold.
    pub(crate) fn after(now: Instant, wait: Duration) -> Self {
        Self(now.checked_add(wait))
    }

    /// Exactly `at`.
    pub(crate) const fn at(at: Instant) -> Self {
        Self(Some(at))
    }

    /// Whether it has passed at `now`.
    pub(crate) fn passed(self, now: Instant) -> bool {
        self.0.is_some_and(|at| now >= at)
    }

    /// The instant, unless never.
    pub(crate) const fn instant(self) -> Option<Instant> {
        self.0
    }

    /// `wait` later (never stays never; beyond the clock is never).
    #[must_use]
    pub(crate) fn plus(self, wait: Duration) -> Self {
        Self(self.0.and_then(|at| at.checked_add(wait)))
    }

    /// The earlier of two.
    #[must_use]
    pub(crate) fn min(self, other: Self) -> Self {
        match (self.0, other.0) {
            (Some(a), Some(b)) => Self(Some(a.min(b))),
            (Some(a), None) | (None, Some(a)) => Self(Some(a)),
            (None, None) => Self::NEVER,
        }
    }

    /// The later of two.
    #[must_use]
    pub(crate) fn max(self, other: Self) -> Self {
        match (self.0, other.0) {
            (Some(a), Some(b)) => Self(Some(a.max(b))),
            _ => Self::NEVER,
        }
    }

    /// Time left at `now` (zero once passed; `None` for never).
    pub(crate) fn remaining(self, now: Instant) -> Option<Duration> {
        self.0.map(|at| at.saturating_duration_since(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_waits_mean_forever() {
        let now = Instant::now();
        let never = Deadline::after(now, Duration::MAX);
        assert_eq!(never, Deadline::NEVER);
        assert!(!never.passed(now + Duration::from_secs(1_000_000)));
        assert_eq!(never.remaining(now), None);
        let soon = Deadline::after(now, Duration::from_millis(5));
        assert_eq!(soon.min(never), soon);
        assert_eq!(soon.max(never), never);
        assert!(soon.passed(now + Duration::from_millis(5)));
        assert_eq!(soon.remaining(now + Duration::from_secs(1)), Some(Duration::ZERO));
        assert_eq!(soon.plus(Duration::MAX), never);
        assert_eq!(never.plus(Duration::from_secs(1)), never);
    }
}
