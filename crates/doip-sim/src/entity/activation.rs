//! Routing activation (PROTOCOL.md §6), in the spec's order: known tester, activation type,
//! TLS, the socket handler (alive checks of the sockets in the way, decided when they answer
//! or time is up), authentication, confirmation, then registration and the response.

use std::time::Instant;

use doip_proto::{
    AliveCheckRequest, LogicalAddress, RoutingActivationRequest, RoutingActivationResponse,
    RoutingActivationResponseCode as Code,
};
use doip_transport::Handle;

use super::Simulator;
use super::timers::Timer;
use crate::SimEvent;
use crate::config::ms;

/// A routing activation waiting for alive check answers.
pub(super) struct PendingActivation {
    requester: Handle,
    request: RoutingActivationRequest,
    /// Sockets checked, and whether each answered.
    checks: Vec<(Handle, bool)>,
    /// `true`: the requester's address is active elsewhere (0x03 if that socket answers);
    /// `false`: all sockets are taken (0x01 if all answer).
    same_address: bool,
}

impl Simulator {
    fn respond(&mut self, h: Handle, tester: LogicalAddress, code: Code) {
        let me = self.cfg.address;
        self.send(h, RoutingActivationResponse::new(tester, me, code));
        if let Some(peer) = self.sockets.get(&h).map(|s| s.peer) {
            self.emit(SimEvent::Activation { peer, tester, code });
        }
        if code.closes_socket() {
            self.close(h, "routing activation denied");
        }
    }

    /// Routing activation handling, in the order of PROTOCOL.md §6.
    pub(super) fn activation(&mut self, h: Handle, request: RoutingActivationRequest) {
        let sa = request.source_address;
        let Some(s) = self.sockets.get(&h) else { return };
        if !self.cfg.is_known_tester(sa) {
            return self.respond(h, sa, Code::UnknownSourceAddress);
        }
        let kind = request.activation_type.value();
        if !self.cfg.activation_types.contains(&kind) {
            return self.respond(h, sa, Code::UnsupportedActivationType);
        }
        if self.cfg.tls_required_types.contains(&kind) && !s.tls {
            return self.respond(h, sa, Code::TlsRequired);
        }
        match s.source {
            Some(registered) if registered != sa => {
                return self.respond(h, sa, Code::SourceAddressMismatch);
            }
            Some(_) if s.active => return self.respond(h, sa, Code::Success),
            _ => {}
        }
        let elsewhere: Vec<Handle> = self
            .sockets
            .iter()
            .filter(|(other, o)| **other != h && o.source == Some(sa))
            .map(|(o, _)| *o)
            .collect();
        let registered: Vec<Handle> = self
            .sockets
            .iter()
            .filter(|(other, o)| **other != h && o.source.is_some())
            .map(|(o, _)| *o)
            .collect();
        if !elsewhere.is_empty() {
            self.check_alive(h, request, elsewhere, true);
        } else if registered.len() >= usize::from(self.cfg.max_sockets) {
            self.check_alive(h, request, registered, false);
        } else {
            self.register(h, request);
        }
    }

    fn check_alive(
        &mut self,
        requester: Handle,
        request: RoutingActivationRequest,
        sockets: Vec<Handle>,
        same_address: bool,
    ) {
        for &s in &sockets {
            self.send(s, AliveCheckRequest);
        }
        let id = self.next_timer;
        self.pending.insert(
            id,
            PendingActivation {
                requester,
                request,
                checks: sockets.into_iter().map(|s| (s, false)).collect(),
                same_address,
            },
        );
        self.after(self.cfg.alive_check, Timer::Decide(id));
    }

    pub(super) fn alive(&mut self, h: Handle) {
        let mut done = Vec::new();
        for (id, p) in &mut self.pending {
            for check in &mut p.checks {
                if check.0 == h {
                    check.1 = true;
                }
            }
            if p.checks.iter().all(|c| c.1) {
                done.push(*id);
            }
        }
        for id in done {
            self.decide(id);
        }
    }

    /// Settles an activation that waited for alive checks (all answered, or time is up).
    pub(super) fn decide(&mut self, id: u64) {
        let Some(p) = self.pending.remove(&id) else { return };
        let sa = p.request.source_address;
        let silent: Vec<Handle> = p.checks.iter().filter(|c| !c.1).map(|c| c.0).collect();
        if silent.is_empty() {
            let code = if p.same_address {
                Code::SourceAddressAlreadyActive
            } else {
                Code::AllSocketsRegistered
            };
            return self.respond(p.requester, sa, code);
        }
        for s in silent {
            self.close(s, "no answer to the alive check");
        }
        self.register(p.requester, p.request);
    }

    /// Registers the tester on the socket: authentication, confirmation, then activation.
    fn register(&mut self, h: Handle, request: RoutingActivationRequest) {
        let sa = request.source_address;
        let key = self.cfg.authentication_key;
        let confirmation = self.cfg.confirmation;
        let Some(s) = self.sockets.get_mut(&h) else { return };
        s.source = Some(sa);
        if key.is_some() && request.oem_specific != key {
            s.active = false;
            return self.respond(h, sa, Code::MissingAuthentication);
        }
        if let Some((delay, accept)) = confirmation {
            let since = *s.confirmation_since.get_or_insert_with(Instant::now);
            if since.elapsed() < delay {
                return self.respond(h, sa, Code::ConfirmationRequired);
            }
            if !accept {
                return self.respond(h, sa, Code::RejectedConfirmation);
            }
        }
        s.active = true;
        let faults = self.cfg.faults_by_tester.get(&sa.0).cloned();
        let interval = faults.as_ref().unwrap_or(&s.faults).alive_check_interval_ms;
        if let Some(f) = faults {
            self.set_socket_faults(h, f);
        }
        self.respond(h, sa, Code::Success);
        if self.sockets.get(&h).is_some_and(|s| s.faults.stop_reading) {
            let _ = self.lp.pause_reading(h, true);
        }
        self.after(self.cfg.general_inactivity, Timer::GeneralInactivity(h));
        if let Some(every) = interval {
            self.after(ms(every), Timer::AliveCheck(h));
        }
    }
}
