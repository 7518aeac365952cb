//! Fault injection: faults set at run time, per tester or for all, on each socket, and the
//! reset a fault can trigger. The faults that change what is sent act where it is sent.

use std::time::Duration;

use doip_proto::LogicalAddress;
use doip_transport::Handle;

use super::Simulator;
use crate::config::Faults;
use crate::uds::UdsReply;

impl Simulator {
    /// Faults from [`super::SimHandle::set_faults`]: kept for the tester's (or every) next
    /// connection and set on the open ones at once.
    pub(super) fn apply_faults(&mut self, tester: Option<LogicalAddress>, faults: &Faults) {
        match tester {
            Some(t) => {
                self.cfg.faults_by_tester.insert(t.0, faults.clone());
            }
            None => self.cfg.faults = faults.clone(),
        }
        let handles: Vec<Handle> = self
            .sockets
            .iter()
            .filter(|(_, s)| tester.is_none() || s.source == tester)
            .map(|(h, _)| *h)
            .collect();
        for h in handles {
            self.set_socket_faults(h, faults.clone());
        }
    }

    /// Sets one socket's faults; one-byte segments need the event loop's write chunking.
    pub(super) fn set_socket_faults(&mut self, h: Handle, faults: Faults) {
        let chunk = faults.one_byte_segments.then_some(1);
        let _ = self.lp.set_write_chunk(h, chunk);
        if let Some(s) = self.sockets.get_mut(&h) {
            s.faults = faults;
        }
    }

    /// The reset fault: every ECU handles 11 01 (losing its session and download), then the
    /// entity resets for the longest time any of them asks.
    pub(super) fn fault_reset(&mut self) {
        let mut unavailable = Duration::ZERO;
        for (_, ecu) in self.ecus.values_mut() {
            if let UdsReply::Reset { unavailable: u, .. } = ecu.handle(&[0x11, 0x01]) {
                unavailable = unavailable.max(u);
            }
        }
        self.reset(unavailable);
    }
}
