//! UDP discovery: vehicle identification, entity status and power mode requests over
//! UDP_DISCOVERY, and the random wait before announcements and identification answers.

use std::net::SocketAddr;
use std::time::Duration;

use doip_proto::{DiagnosticPowerModeResponse, Message};

use super::Simulator;
use super::timers::Timer;
use crate::SimEvent;

impl Simulator {
    /// `A_DoIP_Announce_Wait`: a random delay before announcing or answering identification,
    /// so that entities on one network do not all answer at once.
    pub(super) fn random_wait(&self) -> Duration {
        let max = u64::try_from(self.cfg.announce_wait_max.as_millis()).unwrap_or(u64::MAX);
        if max == 0 { Duration::ZERO } else { Duration::from_millis(fastrand::u64(0..=max)) }
    }

    /// A UDP_DISCOVERY request: vehicle identification (by EID or VIN only when they match),
    /// entity status or power mode; anything else goes unanswered.
    pub(super) fn datagram(&mut self, from: SocketAddr, message: &Message<'_>) {
        let answer: Option<Message<'static>> = match message {
            Message::VehicleIdentificationRequest(_) => Some(self.cfg.announcement().into()),
            Message::VehicleIdentificationRequestWithEid(r) => {
                (r.eid == self.cfg.eid).then(|| self.cfg.announcement().into())
            }
            Message::VehicleIdentificationRequestWithVin(r) => {
                (r.vin == self.cfg.vin).then(|| self.cfg.announcement().into())
            }
            Message::EntityStatusRequest(_) => Some(self.entity_status()),
            Message::DiagnosticPowerModeRequest(_) => {
                Some(DiagnosticPowerModeResponse::new(self.cfg.power_mode).into())
            }
            _ => None,
        };
        self.emit(SimEvent::Datagram {
            peer: from,
            request: message.to_string(),
            answered: answer.is_some(),
        });
        if let Some(answer) = answer {
            let wait = if matches!(answer, Message::VehicleAnnouncement(_)) {
                self.random_wait()
            } else {
                Duration::ZERO
            };
            if wait.is_zero() {
                self.udp_send(from, &answer);
            } else {
                self.after(wait, Timer::UdpAnswer(from, answer));
            }
        }
    }

    pub(super) fn udp_send(&mut self, to: SocketAddr, message: &Message<'_>) {
        if let Err(e) = self.lp.send_to(self.udp, to, message) {
            log::warn!("UDP send to {to} failed: {e}");
        }
    }
}
