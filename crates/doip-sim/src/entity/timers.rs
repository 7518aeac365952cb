//! The timer table: one event-loop timer per entry, keyed by a never-reused id, for
//! announcements, inactivity, alive-check decisions, delayed sends, response-pending
//! sequences and the end of an ECU reset.

use std::net::SocketAddr;
use std::time::Duration;

use doip_proto::{AliveCheckRequest, LogicalAddress, Message};
use doip_transport::Handle;

use super::Simulator;
use crate::SimEvent;
use crate::config::ms;

/// What a timer of the table does when it fires; the id the event loop reports is its key.
pub(super) enum Timer {
    Announce(u32),
    InitialInactivity(Handle),
    GeneralInactivity(Handle),
    Decide(u64),
    Send(Handle, Vec<u8>),
    UdpAnswer(SocketAddr, Message<'static>),
    AliveCheck(Handle),
    Pending {
        handle: Handle,
        ecu: LogicalAddress,
        tester: LogicalAddress,
        left: u32,
        interval: Duration,
        response: Vec<u8>,
    },
    ResetOver,
}

impl Simulator {
    /// Puts `timer` in the table, to fire after `delay`.
    pub(super) fn after(&mut self, delay: Duration, timer: Timer) {
        let id = self.next_timer;
        self.next_timer += 1;
        self.timers.insert(id, timer);
        self.lp.set_timer_after(None, delay, id);
    }

    pub(super) fn timer(&mut self, timer: Timer) {
        match timer {
            Timer::Announce(n) => {
                if let Some(to) = self.announce_to {
                    let a: Message<'_> = self.cfg.announcement().into();
                    self.udp_send(to, &a);
                }
                if n + 1 < self.announce_count {
                    self.after(self.announce_interval, Timer::Announce(n + 1));
                }
            }
            Timer::InitialInactivity(h) => {
                if self.sockets.get(&h).is_some_and(|s| !s.active) {
                    self.close(h, "no routing activation (initial inactivity timer)");
                }
            }
            Timer::GeneralInactivity(h) => {
                if let Some(idle) = self.sockets.get(&h).map(|s| s.last_activity.elapsed()) {
                    if idle >= self.cfg.general_inactivity {
                        self.close(h, "idle (general inactivity timer)");
                    } else {
                        self.after(
                            self.cfg.general_inactivity.saturating_sub(idle),
                            Timer::GeneralInactivity(h),
                        );
                    }
                }
            }
            Timer::Decide(id) => self.decide(id),
            Timer::Send(h, bytes) => {
                if self.sockets.contains_key(&h) {
                    let _ = self.lp.send_raw(h, bytes);
                }
            }
            Timer::UdpAnswer(to, message) => self.udp_send(to, &message),
            Timer::AliveCheck(h) => {
                if let Some(every) =
                    self.sockets.get(&h).and_then(|s| s.faults.alive_check_interval_ms)
                {
                    self.send(h, AliveCheckRequest);
                    self.after(ms(every), Timer::AliveCheck(h));
                }
            }
            Timer::Pending { handle, ecu, tester, left, interval, response } => {
                self.pending_step(handle, ecu, tester, left, interval, response);
            }
            Timer::ResetOver => {
                let options = self.cfg.listen_options();
                match self.lp.listen(self.tcp_addr, options) {
                    Ok(l) => {
                        self.tcp = Some(l);
                        self.emit(SimEvent::Available);
                    }
                    Err(e) => {
                        log::warn!("re-listening after reset failed ({e}); retrying");
                        self.after(Duration::from_millis(100), Timer::ResetOver);
                    }
                }
            }
        }
    }
}
