//! `SecurityAccess` (0x27): seed and key, the count of wrong keys and the delay after too many.
//!
//! The key algorithm is public on purpose, so any tool can unlock the simulator:
//! **key = seed XOR `security_key`**, both 4 bytes big-endian (`security_key` defaults to
//! `0x5A5A_A5A5`: seed `12 34 56 78` needs key `48 6E F3 DD`). Odd sub-functions request the
//! seed of level (sub + 1) / 2, the next even one sends its key.
//!
//! The delay is kept as the instant it started and compared with the elapsed time, so no
//! `Instant + Duration` can overflow.

use std::time::{Duration, Instant};

use super::{Responder, UdsReply, negative, nrc};

const INVALID_KEY: u8 = 0x35;
const EXCEEDED_ATTEMPTS: u8 = 0x36;
const DELAY_NOT_EXPIRED: u8 = 0x37;

/// Security state: the unlocked level, the seed handed out, wrong keys and the delay.
#[derive(Debug)]
pub(super) struct Security {
    pub(super) key: u32,
    /// Wrong keys that start the delay (0: no limit).
    pub(super) max_attempts: u32,
    pub(super) delay: Duration,
    pub(super) unlocked: Option<u8>,
    /// The level and seed of the last seed request, until a key is sent.
    seed: Option<(u8, u32)>,
    failed: u32,
    delay_since: Option<Instant>,
}

impl Default for Security {
    fn default() -> Self {
        Self {
            key: 0x5A5A_A5A5,
            max_attempts: 3,
            delay: Duration::from_secs(1),
            unlocked: None,
            seed: None,
            failed: 0,
            delay_since: None,
        }
    }
}

impl Security {
    /// Locked again (session change, reset, S3). The wrong-key count and the delay stay:
    /// a reset must not be a way around them.
    pub(super) const fn lock(&mut self) {
        self.unlocked = None;
        self.seed = None;
    }

    /// Whether the delay after too many wrong keys still runs at `now`; once over, the count
    /// starts again.
    fn delayed(&mut self, now: Instant) -> bool {
        match self.delay_since {
            Some(since) if now.saturating_duration_since(since) < self.delay => true,
            Some(_) => {
                self.delay_since = None;
                self.failed = 0;
                false
            }
            None => false,
        }
    }
}

impl Responder {
    /// `27 odd [data]` → `67 odd seed(4)` (all zero when that level is unlocked already);
    /// `27 even key(4)` → `67 even`. Only outside the default session.
    pub(super) fn security_access(&mut self, body: &[u8], now: Instant) -> UdsReply {
        if self.in_default_session() {
            return negative(0x27, nrc::SERVICE_NOT_SUPPORTED_IN_SESSION);
        }
        let Some((&sub, data)) = body.split_first() else {
            return negative(0x27, nrc::INCORRECT_LENGTH);
        };
        if !(0x01..=0x7E).contains(&sub) {
            return negative(0x27, nrc::SUBFUNCTION_NOT_SUPPORTED);
        }
        let s = &mut self.security;
        if s.delayed(now) {
            return negative(0x27, DELAY_NOT_EXPIRED);
        }
        let level = sub.div_ceil(2);
        if sub % 2 == 1 {
            let seed = if s.unlocked == Some(level) {
                s.seed = None;
                0
            } else {
                let seed = fastrand::u32(1..);
                s.seed = Some((level, seed));
                seed
            };
            let mut answer = vec![0x67, sub];
            answer.extend_from_slice(&seed.to_be_bytes());
            return UdsReply::Respond(answer);
        }
        let Ok(key) = <[u8; 4]>::try_from(data) else {
            return negative(0x27, nrc::INCORRECT_LENGTH);
        };
        let Some((seed_level, seed)) = s.seed.take() else {
            return negative(0x27, nrc::REQUEST_SEQUENCE_ERROR);
        };
        if seed_level != level {
            return negative(0x27, nrc::REQUEST_SEQUENCE_ERROR);
        }
        if u32::from_be_bytes(key) == seed ^ s.key {
            s.unlocked = Some(level);
            s.failed = 0;
            return UdsReply::Respond(vec![0x67, sub]);
        }
        s.failed = s.failed.saturating_add(1);
        if s.max_attempts > 0 && s.failed >= s.max_attempts {
            s.delay_since = Some(now);
            return negative(0x27, EXCEEDED_ATTEMPTS);
        }
        negative(0x27, INVALID_KEY)
    }
}
