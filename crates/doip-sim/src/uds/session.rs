//! The diagnostic session and what hangs on it: DiagnosticSessionControl (0x10) with its
//! timing parameters, TesterPresent (0x3E), the S3 timeout back to the default session,
//! ECUReset (0x11), and `CommunicationControl` (0x28), which only a non-default session allows.
//!
//! S3 is computed lazily: each request first checks how long the ECU has been idle
//! (`expire_session`), so no timer is needed and a test can move the clock.

use std::time::{Duration, Instant};

use super::{Responder, UdsReply, negative, nrc};

/// The default session: entered at start-up, after a reset and when S3 expires.
pub(super) const DEFAULT: u8 = 0x01;

/// `CommunicationControl`'s state outside a non-default session: enable rx and tx, normal and
/// network management messages.
const COMMUNICATION_ENABLED: (u8, u8) = (0x00, 0x03);

/// Session state and its timing.
#[derive(Debug)]
pub(super) struct Session {
    pub(super) current: u8,
    /// When the last request arrived (S3 runs from it).
    pub(super) last_request: Option<Instant>,
    pub(super) p2: Duration,
    pub(super) p2_star: Duration,
    pub(super) s3: Duration,
    /// (controlType, communicationType) of the last `CommunicationControl`.
    pub(super) communication: (u8, u8),
}

impl Default for Session {
    fn default() -> Self {
        Self {
            current: DEFAULT,
            last_request: None,
            p2: Duration::from_millis(50),
            p2_star: Duration::from_secs(5),
            s3: Duration::from_secs(5),
            communication: COMMUNICATION_ENABLED,
        }
    }
}

impl Session {
    /// The session as of `now`: a non-default one idle for S3 has ended.
    pub(super) fn at(&self, now: Instant) -> u8 {
        match self.last_request {
            Some(last)
                if self.current != DEFAULT && now.saturating_duration_since(last) >= self.s3 =>
            {
                DEFAULT
            }
            _ => self.current,
        }
    }

    /// `50 type P2 P2*`: P2 in ms, P2* in 10 ms units, each two bytes, saturating.
    fn positive(&self, session: u8) -> Vec<u8> {
        let p2 = u16::try_from(self.p2.as_millis()).unwrap_or(u16::MAX).to_be_bytes();
        let p2_star =
            u16::try_from(self.p2_star.as_millis() / 10).unwrap_or(u16::MAX).to_be_bytes();
        vec![0x50, session, p2[0], p2[1], p2_star[0], p2_star[1]]
    }
}

impl Responder {
    /// Falls back to the default session when S3 has expired since the last request.
    pub(super) fn expire_session(&mut self, now: Instant) {
        if self.session.at(now) != self.session.current {
            log::debug!("S3 expired: back to the default session");
            self.enter_default_session();
        }
    }

    /// The default session: security locked, communication and DTC setting back to
    /// normal, a transfer in progress abandoned.
    pub(super) fn enter_default_session(&mut self) {
        self.session.current = DEFAULT;
        self.security.lock();
        self.session.communication = COMMUNICATION_ENABLED;
        self.dtcs.setting_on = true;
        self.transfer = None;
    }

    pub(super) fn tester_present(body: &[u8]) -> UdsReply {
        match body {
            [0x00] => UdsReply::Respond(vec![0x7E, 0x00]),
            [_] => negative(0x3E, nrc::SUBFUNCTION_NOT_SUPPORTED),
            _ => negative(0x3E, nrc::INCORRECT_LENGTH),
        }
    }

    /// Any accepted session change locks security again (ISO 14229-1); entering the
    /// default session from another one also resets what that session allowed.
    pub(super) fn session_control(&mut self, body: &[u8]) -> UdsReply {
        match body {
            [session @ 0x01..=0x04] => {
                self.security.lock();
                if *session == DEFAULT {
                    if self.session.current != DEFAULT {
                        self.enter_default_session();
                    }
                } else {
                    self.session.current = *session;
                }
                UdsReply::Respond(self.session.positive(*session))
            }
            [_] => negative(0x10, nrc::SUBFUNCTION_NOT_SUPPORTED),
            _ => negative(0x10, nrc::INCORRECT_LENGTH),
        }
    }

    /// 01 hard, 02 keyOffOn, 03 soft: the ECU restarts in the default session, locked; its
    /// memory, written DIDs and DTCs survive (flash and NVM on a real ECU); routines started
    /// are forgotten.
    pub(super) fn ecu_reset(&mut self, body: &[u8]) -> UdsReply {
        match body {
            [kind @ 0x01..=0x03] => {
                self.enter_default_session();
                self.routine_results.clear();
                UdsReply::Reset { response: vec![0x51, *kind], unavailable: self.reset_time }
            }
            [_] => negative(0x11, nrc::SUBFUNCTION_NOT_SUPPORTED),
            _ => negative(0x11, nrc::INCORRECT_LENGTH),
        }
    }

    /// `28 control comType`: controls 00..03 (enable/disable rx and tx); comType 01 normal,
    /// 02 network management, 03 both (subnet 0: all). Only outside the default session.
    pub(super) fn communication_control(&mut self, body: &[u8]) -> UdsReply {
        if self.in_default_session() {
            return negative(0x28, nrc::SERVICE_NOT_SUPPORTED_IN_SESSION);
        }
        match body {
            [] => negative(0x28, nrc::INCORRECT_LENGTH),
            [0x04..=0xFF, ..] => negative(0x28, nrc::SUBFUNCTION_NOT_SUPPORTED),
            [control, kind @ 0x01..=0x03] => {
                self.session.communication = (*control, *kind);
                UdsReply::Respond(vec![0x68, *control])
            }
            [_, _] => negative(0x28, nrc::REQUEST_OUT_OF_RANGE),
            _ => negative(0x28, nrc::INCORRECT_LENGTH),
        }
    }
}
