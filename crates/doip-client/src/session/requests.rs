//! The table of requests: each one's stage, timers, and which received frame is its answer
//! (UDS.md §2).

use std::net::SocketAddr;
use std::time::Instant;

use doip_proto::{
    AliveCheckRequest, DiagnosticMessage, DiagnosticNackCode, Frame, LogicalAddress, Message,
    RoutingActivationRequest,
};

use super::matching::{self, Verdict};
use super::{
    Deadline, Error, Event, Kind, Outcome, RequestId, Result, Session, SessionConfig, Transmit,
    TransportKind,
};

/// ECUs whose answers one functional request collects; more are unsolicited.
const MAX_FUNCTIONAL_ANSWERS: usize = 256;

#[derive(Debug)]
enum Stage {
    /// Not handed out yet: waiting for the link, or for its turn.
    Waiting,
    /// Handed out; waiting for the diagnostic ACK. An answer that came first is kept.
    Ack { deadline: Deadline, early: Option<Vec<u8>> },
    /// Acknowledged; waiting for the final answer.
    Answer { deadline: Deadline },
    /// A functional request collecting answers (ACK first, then the window).
    Collect { acked: bool, deadline: Deadline, answers: Vec<(LogicalAddress, Vec<u8>)> },
    /// Waiting for a control answer (activation, alive check, UDP).
    Control { deadline: Deadline },
}

/// One unfinished request.
#[derive(Debug)]
#[allow(clippy::struct_excessive_bools)] // independent facts about one request
pub(super) struct Entry {
    pub(super) id: RequestId,
    pub(super) kind: Kind,
    stage: Stage,
    retry: bool,
    overall: Deadline,
    /// Given up by the caller: finished silently, its answer unsolicited.
    pub(super) abandoned: bool,
    /// An [`Event::ResponsePending`] for it is queued and not yet taken.
    pub(super) pending_reported: bool,
    /// When the first "response pending" came.
    pending_since: Option<Instant>,
    /// Its message was provably not written to a connection that is ending: it waits for
    /// the next connection, not for this one.
    held: bool,
}

/// What a lost connection means for a request.
pub(super) enum LinkLost {
    /// Keep it for the next connection.
    Keep,
    /// Forget it silently (abandoned).
    Drop,
    /// Fail it; `true`: it may have reached the entity.
    Fail(bool),
    /// Finish it with what it has.
    Finish(Outcome),
}

impl Entry {
    pub(super) const fn new(id: RequestId, kind: Kind, retry: bool, overall: Deadline) -> Self {
        Self {
            id,
            kind,
            stage: Stage::Waiting,
            retry,
            overall,
            abandoned: false,
            pending_reported: false,
            pending_since: None,
            held: false,
        }
    }

    pub(super) const fn is_waiting(&self) -> bool {
        matches!(self.stage, Stage::Waiting)
    }

    /// Whether it may be handed out now (waiting, and not held for the next connection).
    pub(super) const fn may_start(&self) -> bool {
        self.is_waiting() && !self.held
    }

    /// Whether it travels on the TCP connection.
    pub(super) const fn needs_link(&self) -> bool {
        !matches!(self.kind, Kind::Udp { .. } | Kind::Raw { transport: TransportKind::Udp, .. })
    }

    /// The addressed ECU (or functional address) of a diagnostic request.
    pub(super) const fn target(&self) -> Option<LogicalAddress> {
        match &self.kind {
            Kind::Uds { target, .. }
            | Kind::Diagnostic { target, .. }
            | Kind::Functional { target, .. } => Some(*target),
            _ => None,
        }
    }

    fn payload(&self) -> &[u8] {
        match &self.kind {
            Kind::Uds { payload, .. }
            | Kind::Diagnostic { payload, .. }
            | Kind::Functional { payload, .. } => payload,
            _ => &[],
        }
    }

    pub(super) const fn is_done_when_sent(&self) -> bool {
        matches!(self.kind, Kind::Raw { .. })
    }

    pub(super) const fn awaits_activation(&self) -> bool {
        matches!((&self.kind, &self.stage), (Kind::Activation { .. }, Stage::Control { .. }))
    }

    pub(super) const fn awaits_alive_check(&self) -> bool {
        matches!((&self.kind, &self.stage), (Kind::AliveCheck, Stage::Control { .. }))
    }

    /// Whether `frame` from `from` is the UDP answer this request waits for.
    pub(super) fn awaits_datagram(
        &self,
        frame: &Frame<'_>,
        from: SocketAddr,
        udp_peer: SocketAddr,
    ) -> bool {
        matches!(
            (&self.kind, &self.stage),
            (Kind::Udp { to, expect, .. }, Stage::Control { .. })
                if *expect == frame.header.payload_type && to.unwrap_or(udp_peer).ip() == from.ip()
        )
    }

    /// The next moment something happens to it.
    pub(super) fn deadline(&self) -> Deadline {
        let stage = match &self.stage {
            Stage::Waiting => Deadline::NEVER,
            Stage::Ack { deadline, .. }
            | Stage::Answer { deadline }
            | Stage::Collect { deadline, .. }
            | Stage::Control { deadline } => *deadline,
        };
        stage.min(self.overall)
    }

    /// Moves a control request's deadline (after activation answer 0x11).
    pub(super) fn extend(&mut self, to: Deadline) {
        if let Stage::Control { deadline } = &mut self.stage {
            *deadline = to;
        }
    }

    /// Hands it out: what to transmit, and its first stage.
    pub(super) fn start(&mut self, now: Instant, cfg: &SessionConfig) -> Result<Option<Transmit>> {
        let tcp = |message: Message<'_>, id| -> Result<Transmit> {
            let bytes = message.to_bytes(cfg.version).map_err(doip_transport::Error::Encode)?;
            Ok(Transmit::Tcp { bytes, request: Some(id) })
        };
        let id = self.id;
        let ack = Deadline::after(now, cfg.ack_timeout);
        let (transmit, stage) = match &mut self.kind {
            Kind::Connect | Kind::Reconnect { .. } => return Ok(None),
            Kind::Uds { target, payload } | Kind::Diagnostic { target, payload } => {
                let message = DiagnosticMessage::new(cfg.tester, *target, &payload[..]);
                (tcp(message.into(), id)?, Stage::Ack { deadline: ack, early: None })
            }
            Kind::Functional { target, payload, .. } => {
                let message = DiagnosticMessage::new(cfg.tester, *target, &payload[..]);
                let stage = Stage::Collect { acked: false, deadline: ack, answers: Vec::new() };
                (tcp(message.into(), id)?, stage)
            }
            Kind::Activation { activation_type, oem } => {
                let mut request = RoutingActivationRequest::new(cfg.tester)
                    .with_activation_type(*activation_type);
                request.oem_specific = oem.or(cfg.oem_specific);
                let deadline = Deadline::after(now, cfg.activation_timeout);
                (tcp(request.into(), id)?, Stage::Control { deadline })
            }
            Kind::AliveCheck => {
                let deadline = Deadline::after(now, cfg.alive_check_timeout);
                (tcp(AliveCheckRequest.into(), id)?, Stage::Control { deadline })
            }
            Kind::Udp { to, bytes, .. } => {
                let to = to.unwrap_or(cfg.udp_peer);
                let transmit =
                    Transmit::Udp { to, bytes: std::mem::take(bytes), request: Some(id) };
                (transmit, Stage::Control { deadline: Deadline::after(now, cfg.udp_timeout) })
            }
            Kind::Raw { transport, bytes } => {
                let bytes = std::mem::take(bytes);
                let transmit = match transport {
                    TransportKind::Tcp => Transmit::Tcp { bytes, request: Some(id) },
                    TransportKind::Udp => {
                        Transmit::Udp { to: cfg.udp_peer, bytes, request: Some(id) }
                    }
                };
                (transmit, Stage::Control { deadline: Deadline::NEVER })
            }
        };
        self.stage = stage;
        Ok(Some(transmit))
    }

    /// A new connection is up: a held request may go on it.
    pub(super) fn release(&mut self) {
        self.held = false;
    }

    /// Its message provably did not reach the entity: it waits again.
    pub(super) fn unsent(&mut self) {
        if self.needs_link() && !matches!(self.kind, Kind::Raw { .. }) {
            self.stage = Stage::Waiting;
            self.held = true;
        }
    }

    /// The connection ended under it.
    pub(super) fn on_link_lost(&mut self, reconnect: bool) -> LinkLost {
        if self.abandoned {
            return LinkLost::Drop;
        }
        self.held = false;
        match &mut self.stage {
            Stage::Waiting if reconnect && self.retry => LinkLost::Keep,
            Stage::Waiting => LinkLost::Fail(false),
            Stage::Ack { .. } | Stage::Answer { .. } => LinkLost::Fail(true),
            // The entity may close after answering a functional request: what came counts.
            Stage::Collect { answers, .. } if !answers.is_empty() => {
                LinkLost::Finish(Outcome::Answers(std::mem::take(answers)))
            }
            Stage::Collect { .. } => LinkLost::Fail(true),
            Stage::Control { .. } => LinkLost::Fail(false),
        }
    }

    /// What a timeout in its current stage waited for.
    fn awaited(&self) -> &'static str {
        match (&self.kind, &self.stage) {
            (Kind::Connect | Kind::Reconnect { .. }, _) => "routing activation",
            (_, Stage::Waiting) => "its turn to be sent",
            (_, Stage::Ack { .. } | Stage::Collect { acked: false, .. }) => "diagnostic ACK",
            (Kind::Activation { .. }, _) => "routing activation response",
            (Kind::AliveCheck, _) => "alive check response",
            (Kind::Udp { what, .. }, _) => what,
            _ => "UDS response",
        }
    }

    /// Its outcome if it timed out at `now`.
    pub(super) fn on_timeout(
        &mut self,
        now: Instant,
        cfg: &SessionConfig,
    ) -> Option<Result<Outcome>> {
        let peer = match self.kind {
            Kind::Udp { to, .. } => to.unwrap_or(cfg.udp_peer),
            _ => cfg.peer,
        };
        let timeout = |what| Some(Err(Error::Timeout { peer, what }));
        if self.overall.passed(now) {
            return timeout(self.awaited());
        }
        let what = self.awaited();
        let cap = self.pending_cap(cfg);
        let service = self.payload().first().copied().unwrap_or_default();
        let target = self.target();
        let pending_since = self.pending_since;
        match &mut self.stage {
            Stage::Ack { deadline, early } if deadline.passed(now) => match early.take() {
                Some(answer) => {
                    log::warn!("{peer}: no diagnostic ACK, but the answer came; taking it");
                    Some(Ok(Outcome::Answer(answer)))
                }
                None => timeout(what),
            },
            Stage::Answer { deadline } if deadline.passed(now) => {
                match (cap.passed(now), pending_since, target) {
                    (true, Some(since), Some(target)) => Some(Err(Error::PendingLimit {
                        target,
                        service,
                        waited: now.saturating_duration_since(since),
                    })),
                    _ => timeout(what),
                }
            }
            Stage::Collect { acked, deadline, answers } if deadline.passed(now) => {
                if *acked || !answers.is_empty() {
                    Some(Ok(Outcome::Answers(std::mem::take(answers))))
                } else {
                    timeout(what)
                }
            }
            Stage::Control { deadline } if deadline.passed(now) => timeout(what),
            _ => None,
        }
    }

    /// The moment "response pending" stops extending the wait.
    fn pending_cap(&self, cfg: &SessionConfig) -> Deadline {
        self.pending_since.map_or(Deadline::NEVER, |since| Deadline::after(since, cfg.max_pending))
    }

    /// The ACK arrived: done, or on to the next stage.
    fn acknowledged(&mut self, now: Instant, cfg: &SessionConfig) -> Option<Outcome> {
        let suppressed = matching::suppresses_positive_response(self.payload());
        let cap = self.pending_cap(cfg);
        let pending = self.pending_since.is_some();
        match (&self.kind, &mut self.stage) {
            (Kind::Uds { .. }, Stage::Ack { early, .. }) => {
                if let Some(answer) = early.take() {
                    return Some(Outcome::Answer(answer));
                }
                if suppressed {
                    return Some(Outcome::Acknowledged);
                }
                let wait = if pending { cfg.p2_star } else { cfg.p2 };
                self.stage = Stage::Answer { deadline: Deadline::after(now, wait).min(cap) };
                None
            }
            (Kind::Functional { window, .. }, Stage::Collect { acked, deadline, .. }) => {
                *acked = true;
                *deadline = Deadline::after(now, *window);
                None
            }
            _ => Some(Outcome::Acknowledged),
        }
    }

    /// Whether a diagnostic ACK/NACK from `source` with this copy of the message is ours.
    fn awaits_ack(&self, source: LogicalAddress, previous: &[u8]) -> bool {
        matches!(self.stage, Stage::Ack { .. } | Stage::Collect { acked: false, .. })
            && self.target() == Some(source)
            && matching::acknowledges(previous, self.payload())
    }

    /// How `data` from `source` bears on this request.
    fn verdict(&self, source: LogicalAddress, data: &[u8]) -> Verdict {
        let open = match (&self.kind, &self.stage) {
            (Kind::Uds { target, .. }, Stage::Ack { .. } | Stage::Answer { .. }) => {
                *target == source
            }
            (Kind::Functional { .. }, Stage::Collect { answers, .. }) => {
                answers.len() < MAX_FUNCTIONAL_ANSWERS && !answers.iter().any(|(e, _)| *e == source)
            }
            _ => false,
        };
        if open { matching::judge(self.payload(), data) } else { Verdict::Foreign }
    }
}

/// What an answer did to its request.
enum Applied {
    /// The request is done.
    Done(Result<Outcome>),
    /// Taken; the request goes on.
    Taken,
    /// Not taken after all (a second answer before the ACK).
    Refused,
}

impl Session {
    /// A diagnostic ACK (`nack: None`) or NACK from `source` to this tester; whether it was a
    /// request's.
    pub(super) fn on_ack(
        &mut self,
        now: Instant,
        source: LogicalAddress,
        previous: &[u8],
        nack: Option<DiagnosticNackCode>,
    ) -> bool {
        let Some(i) = self.entries.iter().position(|e| e.awaits_ack(source, previous)) else {
            return false;
        };
        let peer = self.config.peer;
        let result = match nack {
            Some(code) => Some(Err(Error::DiagnosticNack { peer, target: source, code })),
            None => self.entries[i].acknowledged(now, &self.config).map(Ok),
        };
        if let Some(result) = result {
            let e = self.entries.remove(i);
            self.finish(&e, result);
        }
        true
    }

    /// A diagnostic message to this tester; gives it back when it answers no request.
    pub(super) fn on_answer(
        &mut self,
        now: Instant,
        frame: Frame<'static>,
    ) -> Option<Frame<'static>> {
        let Message::DiagnosticMessage(d) = &frame.message else { return Some(frame) };
        let source = d.source_address;
        // A physical request to that ECU first, then a functional one.
        let found = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (i, e.verdict(source, &d.user_data)))
            .filter(|(_, v)| *v != Verdict::Foreign)
            .min_by_key(|(i, _)| (!matches!(self.entries[*i].kind, Kind::Uds { .. }), *i));
        let Some((i, verdict)) = found else { return Some(frame) };
        let applied = self.apply(now, i, verdict, source, &d.user_data);
        let abandoned = self.entries[i].abandoned;
        match applied {
            Applied::Refused => Some(frame),
            Applied::Taken => None,
            Applied::Done(result) => {
                let e = self.entries.remove(i);
                // An abandoned request's answer goes to whoever reads unsolicited frames.
                let give_back = abandoned && matches!(result, Ok(Outcome::Answer(_)));
                self.finish(&e, result);
                give_back.then_some(frame)
            }
        }
    }

    fn apply(
        &mut self,
        now: Instant,
        i: usize,
        verdict: Verdict,
        source: LogicalAddress,
        data: &[u8],
    ) -> Applied {
        let cfg = &self.config;
        let e = &mut self.entries[i];
        let service = e.payload().first().copied().unwrap_or_default();
        match verdict {
            Verdict::Pending => {
                let since = *e.pending_since.get_or_insert(now);
                let cap = Deadline::after(since, cfg.max_pending);
                if cap.passed(now) {
                    let waited = now.saturating_duration_since(since);
                    return Applied::Done(Err(Error::PendingLimit {
                        target: source,
                        service,
                        waited,
                    }));
                }
                let extended = Deadline::after(now, cfg.p2_star);
                match &mut e.stage {
                    Stage::Answer { deadline } => *deadline = extended.min(cap),
                    Stage::Collect { acked: true, deadline, .. } => {
                        *deadline = deadline.max(extended).min(cap.max(*deadline));
                    }
                    _ => {}
                }
                if !e.pending_reported && !e.abandoned {
                    e.pending_reported = true;
                    self.events.push_back(Event::ResponsePending { id: e.id, from: source });
                }
                Applied::Taken
            }
            Verdict::Final => match &mut e.stage {
                Stage::Ack { early, .. } => {
                    if early.is_some() {
                        return Applied::Refused;
                    }
                    log::debug!("{}: answer from {source} before the ACK; kept", cfg.peer);
                    *early = Some(data.to_vec());
                    Applied::Taken
                }
                Stage::Answer { .. } => Applied::Done(Ok(Outcome::Answer(data.to_vec()))),
                Stage::Collect { answers, .. } => {
                    answers.push((source, data.to_vec()));
                    Applied::Taken
                }
                _ => Applied::Refused,
            },
            Verdict::Foreign => Applied::Refused,
        }
    }
}
