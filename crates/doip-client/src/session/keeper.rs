//! The TesterPresent keeper: `3E 80` (suppress positive response) to an ECU, or to a
//! functional address, whenever nothing else was sent to it for its interval, so that a
//! non-default UDS session does not fall back to the default one when S3 (5 s) passes.
//! A request the caller sends keeps the session alive as well, and postpones the keeper.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use doip_proto::LogicalAddress;

use super::Deadline;

/// The TesterPresent request the keeper sends: no positive answer is awaited.
pub(super) const TESTER_PRESENT: [u8; 2] = [0x3E, 0x80];

/// One schedule per address.
#[derive(Debug, Default)]
pub(super) struct Keepers {
    by_target: BTreeMap<LogicalAddress, Keeper>,
}

#[derive(Debug)]
struct Keeper {
    every: Duration,
    due: Deadline,
}

impl Keepers {
    /// Starts (`Some`) or stops (`None`) keeping `target`'s session; the first `3E 80` is
    /// due one interval from `now`.
    pub(super) fn set(&mut self, now: Instant, target: LogicalAddress, every: Option<Duration>) {
        match every {
            Some(every) => {
                self.by_target.insert(target, Keeper { every, due: Deadline::after(now, every) });
            }
            None => {
                self.by_target.remove(&target);
            }
        }
    }

    /// The interval kept for `target`.
    pub(super) fn interval(&self, target: LogicalAddress) -> Option<Duration> {
        self.by_target.get(&target).map(|k| k.every)
    }

    /// Something was sent to `target`: the next `3E 80` is due one interval later.
    pub(super) fn sent(&mut self, now: Instant, target: LogicalAddress) {
        if let Some(k) = self.by_target.get_mut(&target) {
            k.due = Deadline::after(now, k.every);
        }
    }

    /// The earliest keeper due.
    pub(super) fn deadline(&self) -> Deadline {
        self.by_target.values().map(|k| k.due).fold(Deadline::NEVER, Deadline::min)
    }

    /// The targets due at `now`, each rescheduled one interval on (so a target that cannot
    /// be served now, e.g. while the connection is down, is tried again then).
    pub(super) fn due(&mut self, now: Instant) -> Vec<LogicalAddress> {
        let mut due = Vec::new();
        for (target, k) in &mut self.by_target {
            if k.due.passed(now) {
                k.due = Deadline::after(now, k.every);
                due.push(*target);
            }
        }
        due
    }
}
