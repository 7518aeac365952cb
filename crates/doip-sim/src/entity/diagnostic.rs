//! Diagnostic messages: the checks before routing (NACK or ACK), delivery to the addressed
//! ECUs, their replies (delayed, dropped or broken by faults), response-pending sequences and
//! the ECU reset an answer can ask for.

use std::time::Duration;

use doip_proto::{
    DiagnosticAckCode, DiagnosticMessage, DiagnosticMessageNegativeAck,
    DiagnosticMessagePositiveAck, DiagnosticNackCode, LogicalAddress, Message,
};
use doip_transport::Handle;

use super::Simulator;
use super::timers::Timer;
use crate::SimEvent;
use crate::config::{Faults, ms};
use crate::uds::{Addressing, UdsReply};

impl Simulator {
    /// Diagnostic message handling, in the spec's order: source, target, size, ACK, then each
    /// addressed ECU's answer.
    pub(super) fn diagnostic(&mut self, h: Handle, m: &DiagnosticMessage<'_>) {
        let Some(s) = self.sockets.get(&h) else { return };
        let (active, registered, faults, peer) = (s.active, s.source, s.faults.clone(), s.peer);
        let nack = |code| Message::from(DiagnosticMessageNegativeAck::new(m, code));
        if !active || registered != Some(m.source_address) {
            self.send(h, nack(DiagnosticNackCode::InvalidSourceAddress));
            return self.close(h, "diagnostic message from an unregistered source address");
        }
        let ta = m.target_address;
        let addressing = if ta == self.cfg.functional_address {
            Addressing::Functional
        } else {
            Addressing::Physical
        };
        let targets: Vec<u16> = if addressing == Addressing::Functional {
            self.ecus.keys().copied().collect()
        } else if self.ecus.contains_key(&ta.0) {
            vec![ta.0]
        } else {
            return self.send(h, nack(DiagnosticNackCode::UnknownTargetAddress));
        };
        if m.user_data.len() > self.cfg.max_data_size as usize {
            return self.send(h, nack(DiagnosticNackCode::DiagnosticMessageTooLarge));
        }
        self.emit(SimEvent::Request {
            peer,
            source: m.source_address,
            target: ta,
            data: m.user_data.to_vec(),
        });
        if !faults.drop_ack {
            let ack = Message::from(DiagnosticMessagePositiveAck::new(
                m,
                DiagnosticAckCode::Acknowledged,
            ));
            self.deliver(h, ack, faults.ack_delay_ms);
        }
        for target in targets {
            let Some((_, ecu)) = self.ecus.get_mut(&target) else { continue };
            let reply = ecu.handle_addressed(&m.user_data, addressing);
            self.reply(h, LogicalAddress(target), m.source_address, reply, &faults);
        }
    }

    /// Sends now, or after `delay_ms` (fault injection).
    fn deliver(&mut self, h: Handle, message: Message<'_>, delay_ms: u64) {
        if delay_ms == 0 {
            self.send(h, message);
        } else if let Ok(bytes) = message.to_bytes(self.cfg.version) {
            self.after(ms(delay_ms), Timer::Send(h, bytes));
        }
    }

    fn reply(
        &mut self,
        h: Handle,
        ecu: LogicalAddress,
        tester: LogicalAddress,
        reply: UdsReply,
        faults: &Faults,
    ) {
        let response = match reply {
            UdsReply::Respond(r) => r,
            UdsReply::Pending { count, interval, response } => {
                return self.pending_step(h, ecu, tester, count, interval, response);
            }
            UdsReply::Reset { response, unavailable } => {
                self.send(h, DiagnosticMessage::new(ecu, tester, response));
                return self.reset(unavailable);
            }
            UdsReply::SilentReset { unavailable } => return self.reset(unavailable),
            _ => return,
        };
        if faults.drop_response {
            return;
        }
        if faults.malformed_header || faults.hostile_length {
            let bytes = if faults.hostile_length {
                vec![
                    self.cfg.version.value(),
                    self.cfg.version.inverse(),
                    0x80,
                    0x01,
                    0xFF,
                    0xFF,
                    0xFF,
                    0xFF,
                ]
            } else {
                vec![
                    self.cfg.version.value(),
                    self.cfg.version.value(),
                    0x80,
                    0x01,
                    0,
                    0,
                    0,
                    4,
                    0,
                    0,
                    0,
                    0,
                ]
            };
            let _ = self.lp.send_raw(h, bytes);
            return;
        }
        if let Some(peer) = self.sockets.get(&h).map(|s| s.peer) {
            self.emit(SimEvent::Response { peer, source: ecu, data: response.clone() });
        }
        self.deliver(
            h,
            DiagnosticMessage::new(ecu, tester, response).into(),
            faults.response_delay_ms,
        );
    }

    /// One step of a slow answer: with `left` "response pending" messages (7F sid 78) still to
    /// send, sends one and comes back after `interval`; with none left, sends `response`.
    pub(super) fn pending_step(
        &mut self,
        h: Handle,
        ecu: LogicalAddress,
        tester: LogicalAddress,
        left: u32,
        interval: Duration,
        response: Vec<u8>,
    ) {
        let Some(faults) = self.sockets.get(&h).map(|s| s.faults.clone()) else { return };
        if left == 0 {
            return self.reply(h, ecu, tester, UdsReply::Respond(response), &faults);
        }
        let sid = response.first().map_or(0, |s| s.wrapping_sub(0x40));
        self.send(h, DiagnosticMessage::new(ecu, tester, vec![0x7F, sid, 0x78]));
        self.after(
            interval,
            Timer::Pending { handle: h, ecu, tester, left: left - 1, interval, response },
        );
    }

    /// ECUReset: flush the answer, drop every TCP connection, refuse new ones for a while.
    pub(super) fn reset(&mut self, unavailable: Duration) {
        self.emit(SimEvent::Reset { unavailable });
        // The listener first: a tester that sees its connection closed must find new ones
        // refused (closing it last left a window in which a reconnect still got through).
        if let Some(l) = self.tcp.take() {
            self.lp.close(l);
        }
        let handles: Vec<Handle> = self.sockets.keys().copied().collect();
        for h in handles {
            self.close(h, "ECU reset");
        }
        self.after(unavailable, Timer::ResetOver);
    }
}
